"""Email out through SMTP (aiosmtplib), in stages so that a crash can be told apart from a
refusal.

`Mailer.send` connects, authenticates and names sender and recipients; only then does it call
`on_hand_over` (the caller records that the server is about to receive the text) and send
the DATA. So an error raised here always means the server did not take the message, and a
process that died after `on_hand_over` leaves a record saying "maybe": see
duely.activities.outbox.

DUELY_SMTP_URL: `smtp://user:password@host:port` (STARTTLS when the server offers it, and
required before a password is sent) or `smtps://...` (TLS from the first byte, usually port
465). A server on a trusted network that offers no TLS takes a password only when the URL says
so: `smtp://user:password@host:port?allow_plaintext_auth=1`. Empty: no mail server; messages
stay in the in-app outbox.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

TIMEOUT_SECONDS = 60
# CRLF line ends for SMTP; headers fold only past RFC 5322's hard limit (Python's folding of a
# long subject at 78 characters starts it on a continuation line, which some clients show).
WIRE = SMTP_POLICY.clone(max_line_length=998)


class MailError(Exception):
    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent
        """The server refused for good (5xx): retrying the same message cannot help."""


@dataclass(frozen=True)
class OutgoingEmail:
    sender_name: str
    sender_address: str
    recipients: tuple[str, ...]
    subject: str
    body: str
    message_key: str
    """Stable per message, so a resend carries the same Message-ID."""
    unsubscribe_url: str = ""

    def as_message(self) -> EmailMessage:
        message = EmailMessage()
        message["From"] = formataddr((_one_line(self.sender_name), self.sender_address))
        message["To"] = ", ".join(self.recipients)
        message["Subject"] = _one_line(self.subject)
        domain = self.sender_address.rpartition("@")[2] or "duely.local"
        message["Message-ID"] = make_msgid(idstring=self.message_key, domain=domain)
        if self.unsubscribe_url:
            # RFC 2369 and RFC 8058: mail clients offer a one-click "unsubscribe".
            message["List-Unsubscribe"] = f"<{self.unsubscribe_url}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(self.body)
        return message


def _one_line(text: str) -> str:
    """A header value on one line: settings refuse line breaks, but one stored before that (or
    a template's subject) must not break the email."""
    return " ".join(text.split())


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    allow_plaintext_auth: bool = False
    """Only when the URL says so: a password over a connection anyone on the path can read."""

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(
                f"DUELY_SMTP_URL must look like smtp://user:pass@host:port, got {url!r}"
            )
        implicit_tls = parts.scheme == "smtps"
        options = parse_qs(parts.query)
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit_tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit_tls,
            allow_plaintext_auth=options.get("allow_plaintext_auth", [""])[0] in ("1", "true"),
        )


class Mailer:
    def __init__(self, smtp_url: str, tls_context: ssl.SSLContext | None = None) -> None:
        self._server = SmtpServer.from_url(smtp_url) if smtp_url else None
        self._tls_context = tls_context

    @property
    def configured(self) -> bool:
        return self._server is not None

    async def send(self, email: OutgoingEmail, on_hand_over: Callable[[], Awaitable[None]]) -> None:
        server = self._server
        if server is None:
            raise MailError("no mail server is configured (DUELY_SMTP_URL)", permanent=True)
        smtp = aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            use_tls=server.implicit_tls,
            # None: upgrade with STARTTLS when the server offers it.
            start_tls=None if not server.implicit_tls else False,
            tls_context=self._tls_context,
            timeout=TIMEOUT_SECONDS,
        )
        try:
            await smtp.connect()
            if server.username:
                if not (smtp.get_transport_info("sslcontext") or server.allow_plaintext_auth):
                    raise MailError(
                        "the mail server offers no TLS, so duely will not send it the password "
                        "in clear: use smtps://, a server with STARTTLS, or (on a trusted "
                        "network only) add ?allow_plaintext_auth=1 to DUELY_SMTP_URL",
                        permanent=True,
                    )
                await smtp.login(server.username, server.password or "")
            await smtp.mail(email.sender_address)
            for recipient in email.recipients:
                await smtp.rcpt(recipient)
            await on_hand_over()
            await smtp.data(email.as_message().as_bytes(policy=WIRE))
        except aiosmtplib.SMTPResponseException as error:
            raise MailError(
                f"the mail server refused: {error.code} {error.message}",
                permanent=error.code >= 500,
            ) from error
        except (aiosmtplib.SMTPException, OSError) as error:
            raise MailError(
                f"the mail server could not be reached: {error}", permanent=False
            ) from error
        finally:
            if smtp.is_connected:
                try:
                    await smtp.quit()
                except (aiosmtplib.SMTPException, OSError):
                    smtp.close()
