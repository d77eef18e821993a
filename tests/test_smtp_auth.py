"""Issue 12, finding 7: duely sent its SMTP password in clear when the server offered no
STARTTLS. Now it refuses, unless the URL says the network is trusted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from duely.integrations.mail import Mailer, MailError, OutgoingEmail
from tests.conftest import MailCatcher
from tests.serving import free_port


class Doorman:
    """Notes every AUTH attempt (what an eavesdropper on a plain connection would read)."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, str]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.attempts.append((login, password))
        return AuthResult(success=(login, password) == ("duely", "s3cret-smtp-pass"))


@pytest.fixture
def plain_server() -> Iterator[tuple[MailCatcher, Doorman, int]]:
    """A mail server without TLS that takes AUTH in clear (aiosmtpd, told to allow it)."""
    catcher, doorman, port = MailCatcher(), Doorman(), free_port()
    controller = Controller(
        catcher,
        hostname="127.0.0.1",
        port=port,
        authenticator=doorman,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield catcher, doorman, port
    finally:
        controller.stop()


EMAIL = OutgoingEmail("Priya", "priya@alpha.test", ("sam@acme.test",), "Hello", "Body", "k-1")


async def nothing() -> None:
    return None


async def test_a_password_is_never_sent_to_a_server_without_tls(plain_server):
    catcher, doorman, port = plain_server
    mailer = Mailer(f"smtp://duely:s3cret-smtp-pass@127.0.0.1:{port}")
    with pytest.raises(MailError, match="offers no TLS") as refused:
        await mailer.send(EMAIL, nothing)
    assert refused.value.permanent
    assert doorman.attempts == [] and catcher.received == []


async def test_a_trusted_network_may_allow_it_explicitly(plain_server):
    catcher, doorman, port = plain_server
    mailer = Mailer(f"smtp://duely:s3cret-smtp-pass@127.0.0.1:{port}?allow_plaintext_auth=1")
    await mailer.send(EMAIL, nothing)
    assert doorman.attempts == [("duely", "s3cret-smtp-pass")]
    assert [r.recipients for r in catcher.received] == [["sam@acme.test"]]


async def test_without_credentials_nothing_changes(plain_server):
    catcher, doorman, port = plain_server
    await Mailer(f"smtp://127.0.0.1:{port}").send(EMAIL, nothing)
    assert doorman.attempts == [] and len(catcher.received) == 1
