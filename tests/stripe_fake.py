"""localstripe, the fake Stripe the tests charge cards on, as a real process on a free port.

localstripe is GPL and only ever runs as its own process (its console script beside our
interpreter); nothing here imports it. Notes on how 1.15.10 behaves, learned from its source:

- It always listens on every interface (`::`, its CLI has no address option) and keeps its
  data in /tmp/localstripe.pickle; `--from-scratch` keeps it from loading another run's data.
- `DELETE /_config/data` wipes the data but not the registered webhooks: `wipe()` silences
  the webhooks it registered (re-registered with an empty event list).
- Declines: 4000000000000002 declines only when attached to a customer; a PaymentIntent
  confirmed with it SUCCEEDS. 4000000000000341 is the card whose charge is declined (on real
  Stripe too: it attaches, and charging it fails).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.serving import free_port

LOCALSTRIPE = Path(sys.executable).parent / "localstripe"
SECRET_KEY = "sk_test_duely_tests"
PUBLISHABLE_KEY = "pk_test_duely_tests"
START_SECONDS = 20

SUCCEEDS = "4242424242424242"
DECLINED = "4000000000000341"
"""Declined when charged, by localstripe and by real Stripe."""
NEEDS_3DS = "4000002500003155"


class LocalStripe:
    """A running localstripe: its addresses and a few of its `/_config` and API calls."""

    def __init__(self, port: int, process: subprocess.Popen, log: Path) -> None:
        self.port = port
        self.process = process
        self.log = log
        self.api_base = f"http://127.0.0.1:{port}"
        self.js_url = f"{self.api_base}/js.stripe.com/v3/"
        self.secret_key = SECRET_KEY
        self.publishable_key = PUBLISHABLE_KEY
        self._webhooks: set[str] = set()
        self._http = httpx.Client(base_url=self.api_base, timeout=10, auth=(SECRET_KEY, ""))

    @classmethod
    @contextmanager
    def started(cls, directory: Path) -> Iterator[LocalStripe]:
        if not LOCALSTRIPE.exists():
            raise RuntimeError(
                f"localstripe is not installed at {LOCALSTRIPE}: pip install -e '.[dev]'"
            )
        port = free_port()
        log = directory / f"localstripe-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(LOCALSTRIPE), "--port", str(port), "--from-scratch"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        server = cls(port, process, log)
        try:
            server.wait_until_ready()
            yield server
        finally:
            server.stop()

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"localstripe exited:\n{self.log.read_text()[-2000:]}")
            try:
                if self._http.get("/js.stripe.com/v3/", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"localstripe did not answer within {START_SECONDS}s")
            time.sleep(0.1)

    def stop(self) -> None:
        self._http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    # --- /_config ------------------------------------------------------------------------

    def wipe(self) -> None:
        """Forget every object and silence every webhook this object registered."""
        for webhook_id in self._webhooks:
            # JSON, because a form cannot say "no events"; unreachable on purpose.
            self._http.post(
                f"/_config/webhooks/{webhook_id}",
                json={"url": "http://127.0.0.1:9/", "secret": "silenced", "events": []},
            ).raise_for_status()
        self._http.delete("/_config/data").raise_for_status()

    def register_webhook(
        self, url: str, secret: str, events: Iterable[str] | None = None, webhook_id: str = "duely"
    ) -> None:
        """localstripe posts each matching event once, about a second after it happens, signed
        like Stripe with `secret`; `events` None means all of them."""
        data: dict = {"url": url, "secret": secret}
        if events is not None:
            data["events[]"] = list(events)
        self._http.post(f"/_config/webhooks/{webhook_id}", data=data).raise_for_status()
        self._webhooks.add(webhook_id)

    # --- the API, as a browser's Stripe.js would use it ----------------------------------

    def card(self, number: str = SUCCEEDS) -> str:
        """A payment method id for this card number: the `card_...` of a token (what the fake
        Stripe.js's createToken gives the page)."""
        token = self._http.post(
            "/v1/tokens",
            data={
                "card[number]": number,
                "card[exp_month]": "12",
                "card[exp_year]": "2034",
                "card[cvc]": "123",
            },
        )
        token.raise_for_status()
        return token.json()["card"]["id"]

    def get(self, path: str, **params) -> dict:
        """A GET on localstripe's API, e.g. `get("/v1/payment_intents")`."""
        response = self._http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def payment_intents(self) -> list[dict]:
        return self.get("/v1/payment_intents", limit=100)["data"]
