"""Configuration from `DUELY_*` environment variables.

Every default serves the embedded stack that `duely up` starts on one machine; production
overrides them (see docker-compose.yml). Secrets never have a baked-in default: the secret key
is generated once into the data directory when it is not given.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from duely.core.temporal.queues import KINDS, base_of


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DUELY_", extra="ignore")

    home: Path = Path(".duely")
    """Data directory of the embedded stack: SQLite file, Temporal's store, generated secret."""

    database_url: str = ""
    """`sqlite:///path` or `postgresql://user@host/db`; empty means SQLite in the home."""

    secret_key: str = ""
    """Signs sessions, CSRF tokens and portal links; encrypts ledger tokens at rest."""

    public_url: str = "http://127.0.0.1:8000"
    """Where people reach the web app: used in links inside emails and OAuth redirects."""

    web_host: str = "127.0.0.1"
    web_port: int = 8000

    temporal_address: str = "127.0.0.1:7233"
    """Temporal frontend. When set explicitly, `duely up` uses it instead of starting one."""

    temporal_dev_port: int = 7233
    """gRPC port of the dev server that `duely up` starts when no address is set."""

    temporal_namespace: str = "default"
    temporal_task_queue: str = "duely"
    temporal_ui_port: int = 8233
    """Port of the dev server's web UI that `duely up` starts (the operators' console)."""

    temporal_ui_url: str = ""
    """Link to the Temporal UI shown to operators; empty means the dev server's UI."""

    smtp_url: str = ""
    """`smtp://user:pass@host:port` or `smtps://...`; empty keeps mail in the in-app outbox only."""

    mail_from: str = "reminders@duely.local"
    """From address of reminders when the organisation has not set its own."""

    outbox_gather_seconds: int = 60
    """Once a customer's first reminder of a send window arrives, how long the outbox waits
    for the customer's other invoices, so that they all go out in one message."""

    ledger_fresh_minutes: int = 0
    """Right before a reminder goes out its invoices are re-read from the ledger: a sync of the
    connection that began at most this many minutes before sending counts, else one is asked
    for (one sync serves every customer sending meanwhile; duely.ledgers.freshness). 0: only a
    sync that began at or after the moment of sending."""

    worker_queues: str = "chase,sync,ledger,delivery"
    """The task queues this worker process polls (duely.core.temporal.queues): all of them for
    one process, or a share of them per process on a bigger installation."""

    worker_workflow_cache: int = 1000
    """Workflows a worker keeps in memory between their tasks (Temporal's sticky cache). A chase
    woken after it was evicted replays its history instead: correct, but slower. Sizing: the
    chases and outboxes one worker wakes within a few minutes (its share of the 09:00 burst), at
    about 0.3 MiB each over the worker's 140 MiB (bench: worker_memory)."""

    worker_workflow_tasks: int = 50
    """Workflow tasks a worker runs at once (chase decisions are short, CPU-bound Python)."""

    worker_chase_activities: int = 100
    """Activities at once on the chase queue: planning, notes, hand-overs (database work)."""

    worker_sync_activities: int = 4
    """Ledger pages read at once (each connection is also paced by the ledger's own limits)."""

    worker_ledger_activities: int = 10
    """Ledger writes at once: payments, promises, notes."""

    worker_delivery_activities: int = 20
    """Reminders, thank-yous and statements being sent at once (the mail server's pace)."""

    worker_drain_seconds: int = 90
    """On SIGTERM or Ctrl-C the worker takes no new work and gives what it has in flight
    (an email the mail server is taking, a payment being written to the ledger) this long to
    finish before cancelling it: longer than the slowest send (the mail client gives a server
    60 s), so a deploy does not turn sends into "uncertain". `duely up` and docker-compose's
    `stop_grace_period` wait a little longer than this before killing the worker."""

    cookie_secure: bool = False
    """Set in production behind HTTPS so session and CSRF cookies never travel in clear."""

    session_max_age_seconds: int = 14 * 24 * 3600
    api_token_ttl_seconds: int = 30 * 24 * 3600

    sandbox_port: int = 8100
    """Where `duely up` serves the ledger sandboxes (emulated Xero, QuickBooks, AccountsIQ)."""

    xero_client_id: str = "duely-demo"
    xero_client_secret: str = Field(default="duely-demo-secret", repr=False)
    """The defaults are the sandbox's demo app; production sets the Xero app's credentials."""
    xero_webhook_key: str = Field(default="duely-demo-webhook-key", repr=False)
    xero_login_url: str = ""
    xero_identity_url: str = ""
    xero_api_url: str = ""
    """Empty means the sandbox. Real Xero: https://login.xero.com, https://identity.xero.com,
    https://api.xero.com."""
    xero_calls_per_minute: int = 55
    xero_concurrent_calls: int = 4
    """Kept under Xero's 60/min and 5 in flight, leaving room for the connect flow."""

    quickbooks_client_id: str = "duely-demo-quickbooks"
    quickbooks_client_secret: str = Field(default="duely-demo-quickbooks-secret", repr=False)
    """The defaults are the sandbox's demo app; production sets the Intuit app's keys."""
    quickbooks_verifier_token: str = Field(default="duely-demo-verifier-token", repr=False)
    """Verifies the `intuit-signature` of QuickBooks' webhooks."""
    quickbooks_auth_url: str = ""
    quickbooks_token_url: str = ""
    quickbooks_revoke_url: str = ""
    quickbooks_api_url: str = ""
    """Empty means the sandbox. Intuit: https://appcenter.intuit.com/connect/oauth2,
    https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer,
    https://developer.api.intuit.com/v2/oauth2/tokens/revoke, and the API at
    https://quickbooks.api.intuit.com (https://sandbox-quickbooks.api.intuit.com for Intuit's
    own sandbox companies)."""
    quickbooks_calls_per_minute: int = 450
    quickbooks_concurrent_calls: int = 8
    """Kept under QuickBooks' 500 a minute and 10 in flight per company."""
    quickbooks_throttle_seconds: float = 60.0
    """How long a company's calls wait after QuickBooks answers 429: its answer names no
    wait and Intuit's documentation says a minute. Tests shorten it."""

    accountsiq_partner_key: str = Field(default="duely-demo-accountsiq-partner-key", repr=False)
    """duely's integrator partner key, from AccountsIQ (integration@accountsiq.com); the
    default is the sandbox's demo key."""
    accountsiq_url: str = ""
    """Where each location's web service lives, `{region}` standing for us1, eu1, eu2 or uk1.
    Empty means the sandbox; AccountsIQ: https://{region}.accountsiq.com."""
    accountsiq_calls_per_minute: int = 120
    accountsiq_concurrent_calls: int = 4
    """AccountsIQ documents no limits: duely keeps to a pace a shared service can bear."""

    twilio_account_sid: str = "ACd0e1d0e1d0e1d0e1d0e1d0e1d0e1d0e1"
    twilio_auth_token: str = Field(default="duely-demo-twilio-auth-token", repr=False)
    """The defaults are the sandbox's demo account; production sets the Twilio account's SID
    and auth token (the token also verifies the signatures of inbound texts)."""
    twilio_from_number: str = "+15005550006"
    """The number duely texts from, in E.164 form; replies (and STOP) come back to it."""
    twilio_messaging_service_sid: str = ""
    """`MG...`: when set, texts go out through this Messaging Service instead of the number."""
    twilio_api_url: str = ""
    """Empty means the sandbox. Real Twilio: https://api.twilio.com."""

    stripe_port: int = 8420
    """Where `duely up` runs localstripe, the local fake of Stripe."""
    stripe_api_base: str = ""
    """Empty means localstripe on `stripe_port`. Real Stripe: https://api.stripe.com."""
    stripe_js_url: str = ""
    """Stripe.js for the payment page. Empty means localstripe's fake; real Stripe:
    https://js.stripe.com/v3/."""
    stripe_secret_key: str = Field(default="", repr=False)
    """The platform's key, for organisations paid through Connect (`Stripe-Account`).
    Organisations with their own key keep it in their settings instead."""
    stripe_publishable_key: str = ""
    stripe_connect_client_id: str = ""
    """`ca_...`: the platform's Connect application. With it (and the platform's key) an
    admin links the business's Stripe account through Stripe's own sign-in, the only way an
    organisation gets a Connect account."""
    stripe_connect_url: str = ""
    """Empty means the sandbox's emulator. Real Stripe: https://connect.stripe.com."""
    stripe_webhook_secret: str = Field(default="", repr=False)
    """`whsec_...` of the platform's Connect webhook endpoint."""
    stripe_sweep_minutes: int = 60
    """How often each organisation's recent Stripe events are re-read for missed webhooks."""

    ledger_notes_minutes: int = 5
    """How often the chase's timeline is written into the ledgers as invoice history notes."""
    aging_check_hours: int = 24
    """How often what duely says customers owe is checked against each ledger's own aged
    receivables report (differences become alerts on the integration-health page)."""

    sync_interval_minutes: int = 15
    full_reconcile_hours: int = 24
    """An incremental sync misses some edits (Xero: DueDate-only changes); a periodic full
    pass catches them."""

    demo_email: str = "demo@duely.local"
    demo_quickbooks_email: str = "demo-quickbooks@duely.local"
    demo_accountsiq_email: str = "demo-accountsiq@duely.local"
    demo_spreadsheet_email: str = "demo-spreadsheet@duely.local"
    """The admin of the second demo organisation, whose books are in QuickBooks."""
    demo_password: str = Field(default="duely-demo", repr=False)

    @model_validator(mode="after")
    def _task_queue_is_a_base(self) -> Settings:
        if base_of(self.temporal_task_queue) != self.temporal_task_queue:
            raise ValueError(
                f"DUELY_TEMPORAL_TASK_QUEUE={self.temporal_task_queue!r} ends as duely's own "
                f"companion queues do ({', '.join('-' + kind for kind in KINDS[1:])}): "
                "name the base queue, say 'duely'"
            )
        return self

    @model_validator(mode="after")
    def _xero_defaults_to_the_sandbox(self) -> Settings:
        sandbox = f"http://127.0.0.1:{self.sandbox_port}/xero"
        self.xero_login_url = self.xero_login_url or sandbox
        self.xero_identity_url = self.xero_identity_url or f"{sandbox}/identity"
        self.xero_api_url = self.xero_api_url or sandbox
        return self

    @model_validator(mode="after")
    def _quickbooks_defaults_to_the_sandbox(self) -> Settings:
        sandbox = f"http://127.0.0.1:{self.sandbox_port}/quickbooks"
        self.quickbooks_auth_url = self.quickbooks_auth_url or f"{sandbox}/connect/oauth2"
        self.quickbooks_token_url = (
            self.quickbooks_token_url or f"{sandbox}/oauth2/v1/tokens/bearer"
        )
        self.quickbooks_revoke_url = (
            self.quickbooks_revoke_url or f"{sandbox}/v2/oauth2/tokens/revoke"
        )
        self.quickbooks_api_url = self.quickbooks_api_url or sandbox
        return self

    @model_validator(mode="after")
    def _accountsiq_defaults_to_the_sandbox(self) -> Settings:
        sandbox = f"http://127.0.0.1:{self.sandbox_port}/accountsiq/{{region}}"
        self.accountsiq_url = self.accountsiq_url or sandbox
        return self

    @model_validator(mode="after")
    def _stripe_defaults_to_localstripe(self) -> Settings:
        self.stripe_api_base = self.stripe_api_base or f"http://127.0.0.1:{self.stripe_port}"
        self.stripe_js_url = self.stripe_js_url or f"{self.stripe_api_base}/js.stripe.com/v3/"
        return self

    @model_validator(mode="after")
    def _twilio_and_stripe_connect_default_to_the_sandbox(self) -> Settings:
        sandbox = f"http://127.0.0.1:{self.sandbox_port}"
        self.twilio_api_url = self.twilio_api_url or f"{sandbox}/twilio"
        self.stripe_connect_url = self.stripe_connect_url or f"{sandbox}/stripe-connect"
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'duely.db').resolve()}"

    @cached_property
    def resolved_secret_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        return _secret_from_file(self.home / "secret_key")

    @property
    def resolved_temporal_ui_url(self) -> str:
        return self.temporal_ui_url or f"http://127.0.0.1:{self.temporal_ui_port}"

    def explicitly_set(self, field: str) -> bool:
        """True when the value came from the environment rather than a default."""
        return field in self.model_fields_set

    @property
    def serves_only_this_machine(self) -> bool:
        """Whether the public URL is loopback: the one-command demo, a developer's machine."""
        host = urlsplit(self.public_url).hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def demo_secrets_in_use(self) -> list[str]:
        """The variables whose secret is still the demo's, published in this repository."""
        fields = type(self).model_fields
        return [
            f"DUELY_{name.upper()}"
            for name in DEMO_SECRETS
            if getattr(self, name) == fields[name].default
        ]

    def refuse_demo_secrets(self) -> None:
        """Anyone can read the demo's secrets here: with them, anyone could sign a Xero
        webhook or a Twilio STOP/START. A process others can reach does not start on them."""
        names = self.demo_secrets_in_use()
        if names and not self.serves_only_this_machine:
            raise DemoSecretsRefused(
                f"duely will not start at {self.public_url} while {', '.join(names)} "
                f"{'holds' if len(names) == 1 else 'hold'} the demo's published value: set "
                "each to the real service's secret (any long random value for a service "
                "you do not use)."
            )


DEMO_SECRETS = (
    "xero_client_secret",
    "xero_webhook_key",
    "quickbooks_client_secret",
    "quickbooks_verifier_token",
    "accountsiq_partner_key",
    "twilio_auth_token",
)
"""Settings whose default is a demo credential (the sandboxes' own), not a secret."""


class DemoSecretsRefused(SystemExit):
    """Raised at start-up (SystemExit: a clear message and no traceback)."""


MIN_SECRET_LENGTH = 32


def _secret_from_file(path: Path) -> str:
    """Read the generated secret, creating it once (owner-only) if it does not exist."""
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = _create_secret(path)
    if len(key) < MIN_SECRET_LENGTH:
        raise RuntimeError(
            f"{path} holds no usable secret key: set DUELY_SECRET_KEY, or delete the file to "
            "generate a new one (sessions end and stored ledger tokens can no longer be read)"
        )
    return key


def _create_secret(path: Path) -> str:
    # Written whole to a private file, then linked into place: a reader never sees a partial
    # key, and when two processes race, the first link wins and both use that key.
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(draft, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(descriptor, "w") as draft_file:
        draft_file.write(secrets.token_urlsafe(48))
        draft_file.flush()
        os.fsync(draft_file.fileno())
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(draft)
    return path.read_text().strip()
