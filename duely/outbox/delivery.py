"""Delivering an outbox message: email through SMTP, a text through the SMS provider, in
stages that tell a refusal from a crash, and claimed so that two attempts never both send.

A message row's status says how far delivery got. QUEUED is safe to send (again). Right
before the provider receives the text it becomes HANDING_OVER; a crash from there on leaves
its fate unknown, so a retry that finds HANDING_OVER marks it UNCERTAIN for a person to look
at and never sends it again: a reminder twice is worse than a visible "maybe". A provider
that is down is retried by Temporal (the row keeps the attempts and the last error); one that
refuses for good makes it FAILED.

Two attempts can hold the same message at once: two chases thanking for one payment that
paid both their invoices, or an activity retried while its first attempt is still talking to
a slow mail server. So an attempt first claims the row with a compare-and-set (status still
QUEUED and no live claim; it writes `claimed_until`, DELIVERY_LEASE ahead, and renews it while
it works). An attempt that loses finds either the final status (and returns it, sending
nothing) or another attempt's live claim, and asks Temporal to retry once that claim would
have lapsed (ApplicationError type "DeliveryInProgress"). Only HANDING_OVER with a lapsed
claim means the attempt that held it died mid-hand-over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from temporalio.exceptions import ApplicationError

from duely.core.db import Database
from duely.core.links import UNSUBSCRIBE, LinkTarget, link
from duely.integrations.mail import Mailer, MailError, OutgoingEmail
from duely.integrations.sms import SmsError, TwilioSms
from duely.models import Channel, Message, MessageStatus, Organisation, utcnow
from duely.settings import Settings

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 40
"""Tries of one message before it is marked failed: with Temporal's backoff capped at ten
minutes (duely.workflows.outbox), about six hours of a provider being down."""

DELIVERY_LEASE = timedelta(seconds=30)
"""How long a claim on a message lasts unless its attempt renews it. A worker that died
mid-send is recognised this long after its last renewal."""
RENEW_EVERY = DELIVERY_LEASE / 3
"""How often a working attempt pushes its claim forward: a slow mail server never lets the
lease lapse while the attempt is alive."""
IN_PROGRESS = "DeliveryInProgress"
"""The ApplicationError type of an attempt that found another attempt sending the message."""

_LIVE = (MessageStatus.QUEUED, MessageStatus.HANDING_OVER)


def _in_progress(message_id: int, delay: timedelta) -> ApplicationError:
    return ApplicationError(
        f"message {message_id} is being delivered by another attempt",
        type=IN_PROGRESS,
        # A little past the other claim's end: by then it has a final status or has lapsed.
        next_retry_delay=max(delay, timedelta(0)) + timedelta(seconds=1),
    )


class _LostClaim(Exception):
    """Another attempt took the message over (our lease lapsed) before the hand-over."""


class _Claim:
    """One attempt's hold on a message: the `claimed_until` it last wrote. Every write of the
    claim checks that value is still there, so an attempt whose lease lapsed and was taken
    over can neither renew it nor hand the message over."""

    def __init__(self, db: Database, message_id: int, until: datetime) -> None:
        self._db = db
        self._message_id = message_id
        self.until = until
        self.lost = False
        self._lock = asyncio.Lock()

    async def _move(self, *, to_status: str | None = None, when: str | None = None) -> bool:
        async with self._lock:
            if self.lost:
                return False
            until = utcnow() + DELIVERY_LEASE
            values: dict = {"claimed_until": until}
            if to_status is not None:
                values["status"] = to_status
            conditions = [Message.id == self._message_id, Message.claimed_until == self.until]
            if when is not None:
                conditions.append(Message.status == when)
            async with self._db.session() as session:
                result = await session.exec(update(Message).where(*conditions).values(**values))
                await session.commit()
            if result.rowcount != 1:
                self.lost = True
                return False
            self.until = until
            return True

    async def renew(self) -> bool:
        return await self._move()

    async def hand_over(self) -> None:
        """QUEUED -> HANDING_OVER, only while this attempt still holds the message."""
        if not await self._move(to_status=MessageStatus.HANDING_OVER, when=MessageStatus.QUEUED):
            raise _LostClaim

    @contextlib.asynccontextmanager
    async def kept(self) -> AsyncIterator[None]:
        """Renew the claim every RENEW_EVERY while the block runs (the provider call)."""
        done = asyncio.Event()

        async def keep() -> None:
            while not done.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), RENEW_EVERY.total_seconds())
                if done.is_set():
                    return
                try:
                    if not await self.renew():
                        log.warning("message %s: another attempt took it over", self._message_id)
                        return
                except Exception:  # the database hiccuped: try again at the next beat
                    log.exception("message %s: could not renew the claim", self._message_id)

        task = asyncio.create_task(keep(), name=f"claim-message-{self._message_id}")
        try:
            yield
        finally:
            # Stopped, not cancelled: a renewal in the middle of its UPDATE finishes first.
            done.set()
            await task


class Delivery:
    def __init__(self, settings: Settings, db: Database, mailer: Mailer, sms: TwilioSms) -> None:
        self._settings = settings
        self._db = db
        self._mailer = mailer
        self._sms = sms

    async def deliver(self, message: Message, organisation: Organisation) -> Message:
        """Take the message as far as it can go; idempotent, so a retry resumes it. Raises
        ApplicationError "DeliveryInProgress" (with the retry delay) while another attempt
        holds the message."""
        if message.status not in _LIVE:
            return message
        if message.channel == Channel.EMAIL:
            return await self._send_email(message, organisation)
        return await self._send_sms(message)

    # --- claiming ----------------------------------------------------------------------------

    async def _claim(
        self, message: Message, to_status: str, count_attempt: bool = True
    ) -> tuple[Message, _Claim | None]:
        """Claim a QUEUED message for this attempt: the row as claimed and the claim. Without
        a claim (None), the row is final (sent, failed, uncertain...): nothing to send."""
        for _ in range(5):
            now = utcnow()
            until = now + DELIVERY_LEASE
            values: dict = {"status": to_status, "claimed_until": until}
            if count_attempt:
                values["attempts"] = Message.attempts + 1
            claimed = await self._update(
                message.id,
                values,
                Message.status == MessageStatus.QUEUED,
                or_(Message.claimed_until.is_(None), Message.claimed_until < now),
            )
            if claimed is not None:
                return claimed, _Claim(self._db, message.id, until)
            current = await self._read(message.id)
            now = utcnow()
            if current.status not in _LIVE:
                return current, None  # another attempt finished it
            if current.claimed_until is not None and current.claimed_until > now:
                raise _in_progress(message.id, current.claimed_until - now)
            if current.status == MessageStatus.HANDING_OVER:
                # The attempt that was handing it over stopped renewing: it died mid-send.
                uncertain = await self._update(
                    message.id,
                    {
                        "status": MessageStatus.UNCERTAIN,
                        "claimed_until": None,
                        "error": "the worker stopped while the mail server was taking this "
                        "message: it may have been delivered. Check with the customer before "
                        "sending it again.",
                    },
                    Message.status == MessageStatus.HANDING_OVER,
                    or_(Message.claimed_until.is_(None), Message.claimed_until < now),
                )
                if uncertain is not None:
                    return uncertain, None
            # The row moved between our update and our read (a claim ended, another began):
            # look again.
        raise _in_progress(message.id, timedelta(seconds=1))

    async def _update(self, message_id: int, values: dict, *conditions) -> Message | None:
        """UPDATE the row if it still meets `conditions`: the updated row, or None."""
        async with self._db.session() as session:
            result = await session.exec(
                update(Message).where(Message.id == message_id, *conditions).values(**values)
            )
            await session.commit()
            if result.rowcount != 1:
                return None
            return await session.get(Message, message_id, populate_existing=True)

    async def _read(self, message_id: int) -> Message:
        async with self._db.session() as session:
            return await session.get(Message, message_id, populate_existing=True)

    # --- sending -----------------------------------------------------------------------------

    async def _retry_later(self, message: Message, error: Exception, **retry) -> Message:
        """A provider that is down: the row shows the error, Temporal retries the activity;
        after MAX_ATTEMPTS the message fails for good, visibly."""
        if message.attempts >= MAX_ATTEMPTS:
            return await self._set(
                message,
                MessageStatus.FAILED,
                error=f"gave up after {message.attempts} attempts: {error}",
            )
        await self._set(message, MessageStatus.QUEUED, error=str(error))
        raise ApplicationError(str(error), type="DeliveryUnavailable", **retry) from error

    async def _send_sms(self, message: Message) -> Message:
        # A text goes to one person: the first contact with a number.
        to = message.recipients.split(",")[0].strip()
        # The provider takes the text in its first request: claim and hand over in one write.
        message, claim = await self._claim(message, MessageStatus.HANDING_OVER)
        if claim is None:
            return message
        try:
            async with claim.kept():
                await self._sms.send(to, message.body)
        except SmsError as error:
            if error.maybe_sent:
                return await self._set(message, MessageStatus.UNCERTAIN, error=str(error))
            if not error.retryable:
                return await self._set(message, MessageStatus.FAILED, error=str(error))
            delay = timedelta(seconds=error.retry_after) if error.retry_after else None
            return await self._retry_later(message, error, next_retry_delay=delay)
        return await self._set(message, MessageStatus.SENT, error="")

    async def _send_email(self, message: Message, organisation: Organisation) -> Message:
        if not self._mailer.configured:
            message, claim = await self._claim(message, MessageStatus.QUEUED, count_attempt=False)
            if claim is None:
                return message
            return await self._set(message, MessageStatus.HELD)
        secret = self._settings.resolved_secret_key
        target = LinkTarget(organisation.id, message.customer_id)
        email = OutgoingEmail(
            sender_name=organisation.sender,
            sender_address=organisation.sender_email or self._settings.mail_from,
            recipients=tuple(r.strip() for r in message.recipients.split(",")),
            subject=message.subject,
            body=message.body,
            message_key=message.unique_key.replace(":", "."),
            unsubscribe_url=link(self._settings.public_url, secret, UNSUBSCRIBE, target),
        )
        # Claimed while still QUEUED: connecting and naming the recipients send nothing yet.
        message, claim = await self._claim(message, MessageStatus.QUEUED)
        if claim is None:
            return message
        try:
            async with claim.kept():
                await self._mailer.send(email, on_hand_over=claim.hand_over)
        except _LostClaim:
            # Our lease lapsed (a stalled worker) and another attempt has the message now;
            # the mail server never got the text from us.
            raise _in_progress(message.id, DELIVERY_LEASE) from None
        except MailError as error:
            if error.permanent:
                return await self._set(message, MessageStatus.FAILED, error=str(error))
            return await self._retry_later(message, error)
        return await self._set(message, MessageStatus.SENT, error="")

    async def _set(self, message: Message, status: str, error: str | None = None) -> Message:
        """Record where delivery got to; this attempt's claim ends with it."""
        values: dict = {"status": status, "claimed_until": None}
        if error is not None:
            values["error"] = error
        if status == MessageStatus.SENT:
            values["sent_at"] = utcnow()
        async with self._db.session() as session:
            await session.exec(update(Message).where(Message.id == message.id).values(**values))
            await session.commit()
            return await session.get(Message, message.id, populate_existing=True)
