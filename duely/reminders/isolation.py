"""Work that must not hold up the app, run in a process of its own: filling in a person's
template (duely.reminders.rendering).

Why processes: a thread cannot be stopped, and one step of a template can run long or take
gigabytes before any check has a say (`'x'|center(10**9)`, `'{:>999999999}'.format(1)`, `~`
doubling a text kept in a namespace). A process can be killed on time and given a memory
ceiling. Each worker is a fresh interpreter running `_serve` (multiprocessing's would import
the main program, the whole web app, again in every worker), kept for the next piece of work
unless one overstays or dies. It gets no secrets (only the environment Python itself needs),
and what it answers is unpickled only into the few types an answer holds: work that escaped
the template sandbox would hold a process with nothing to take and no way back into the app.
"""

from __future__ import annotations

import atexit
import builtins
import io
import os
import pickle
import resource
import select
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any, BinaryIO, TypeVar

from jinja2 import exceptions as jinja_errors

MEMORY_MB = 256
"""Memory a worker may take beyond its own at start; 100 kB of text needs under 1 MB."""
AT_ONCE = 4
"""Workers at a time: many heavy previews at once wait their turn rather than take every CPU
and AT_ONCE * MEMORY_MB of memory at most."""
START_SECONDS = 60
"""How long a new worker may take to start (a busy machine), before its clock starts."""
ANSWER_TYPES = {
    "duely.reminders.rendering": frozenset(
        {"RenderedMessage", "TemplateProblem", "TemplateTooLarge", "UnknownPlaceholder"}
    )
}
"""The app's own types a worker may answer with (besides Python's and Jinja's errors)."""


class Overstayed(Exception):
    """The work took longer than it was given; its worker was stopped."""


class Died(Exception):
    """The worker stopped (out of memory, or killed) or answered what cannot be read."""


_COMMAND = [sys.executable, "-c", f"from {__name__} import _serve; _serve()"]
_READY = "ready"
_idle: list[_Worker] = []
_idle_lock = threading.Lock()
_slots = threading.BoundedSemaphore(AT_ONCE)
_T = TypeVar("_T")


def run_isolated(seconds: float, work: Callable[..., _T], *args: Any) -> _T:
    """`work(*args)` in a worker process, stopped after `seconds` (Overstayed); its errors are
    raised here as it raised them. It blocks: call it off the event loop."""
    with _slots:
        with _idle_lock:
            worker = _idle.pop() if _idle else None
        if worker is None or not worker.alive:
            worker = _Worker()
        try:
            done, outcome = worker.ask(work, args, seconds)
        except _Silent:
            worker.stop()
            raise Overstayed from None
        except (EOFError, OSError, pickle.UnpicklingError):
            worker.stop()
            raise Died from None
        with _idle_lock:
            _idle.append(worker)
    if done:
        return outcome
    raise outcome


class _Silent(Exception):
    pass


class _Answer(pickle.Unpickler):
    """Unpickles what a worker answers: results, problems and errors, nothing else."""

    ERRORS_FROM = {"builtins": builtins, jinja_errors.__name__: jinja_errors}

    def find_class(self, module: str, name: str) -> Any:
        found = getattr(self.ERRORS_FROM.get(module), name, None)
        is_error = isinstance(found, type) and issubclass(found, Exception)
        if not (is_error or name in ANSWER_TYPES.get(module, ())):
            raise pickle.UnpicklingError(f"a worker may not answer with {module}.{name}")
        return super().find_class(module, name)


def _environment() -> dict[str, str]:
    """The app's environment without its secrets (DUELY_SECRET_KEY, database URLs...)."""
    return {
        name: value
        for name, value in os.environ.items()
        if name.startswith("PYTHON") or name in {"PATH", "LANG", "LC_ALL", "TZ", "VIRTUAL_ENV"}
    }


class _Worker:
    """One worker process: send it `(work, args)`, it answers `(done, result or error)`."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            _COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_environment()
        )
        try:
            started = self._answer(START_SECONDS) == _READY
        except (_Silent, EOFError, pickle.UnpicklingError):
            started = False
        if not started:
            self.stop()
            raise RuntimeError("the isolated worker did not start")

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def ask(self, work: Callable[..., Any], args: tuple[Any, ...], seconds: float) -> Any:
        pickle.dump((work, args), self._process.stdin)
        self._process.stdin.flush()
        return self._answer(seconds)

    def _answer(self, seconds: float) -> Any:
        ready, _, _ = select.select([self._process.stdout], [], [], seconds)
        if not ready:
            raise _Silent
        return _Answer(self._process.stdout).load()  # EOFError if it died

    def stop(self) -> None:
        self._process.kill()
        self._process.wait()
        self._process.stdin.close()
        self._process.stdout.close()


@atexit.register
def _stop_workers() -> None:
    with _idle_lock:
        while _idle:
            _idle.pop().stop()


# --- in the worker process --------------------------------------------------------------------


def _serve() -> None:
    """A worker process: does each `(work, args)` read from stdin, answering on stdout."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever is printed goes to the logs, not into the answers
    _limit_memory()
    _send(answers, _READY)
    while True:
        try:
            work, args = pickle.load(sys.stdin.buffer)  # noqa: S301 - from the app itself
        except EOFError:  # the app has gone
            return
        try:
            outcome = (True, work(*args))
        except Exception as error:  # noqa: BLE001 - every error goes back to be raised there
            outcome = (False, error)
        _send(answers, outcome)


def _send(answers: BinaryIO, outcome: Any) -> None:
    try:
        data = pickle.dumps(outcome)
        _Answer(io.BytesIO(data)).load()  # what the app could not read back...
    except Exception:  # noqa: BLE001 - ...goes back as the error's words
        error = outcome[1]
        data = pickle.dumps((False, RuntimeError(f"{type(error).__name__}: {error}")))
    answers.write(data)
    answers.flush()


def _limit_memory() -> None:
    """Past MEMORY_MB more than it uses now, Python raises MemoryError in the worker rather
    than the machine running short. (Without /proc, as on macOS, only time is limited.)"""
    try:
        with open("/proc/self/statm") as statm:
            in_use = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    ceiling = in_use + MEMORY_MB * 2**20
    if hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))
