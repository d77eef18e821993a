"""Delivering an outbox message: email through SMTP, a text through the SMS provider, in
stages that tell a refusal from a crash.

A message row's status says how far delivery got. QUEUED is safe to send (again). Right
before the provider receives the text it becomes HANDING_OVER; a crash from there on leaves
its fate unknown, so a retry that finds HANDING_OVER marks it UNCERTAIN for a person to look
at and never sends it again: a reminder twice is worse than a visible "maybe". A provider
that is down is retried by Temporal (the row keeps the attempts and the last error); one that
refuses for good makes it FAILED.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from temporalio.exceptions import ApplicationError

from duely.db import Database
from duely.integrations.mail import Mailer, MailError, OutgoingEmail
from duely.integrations.sms import SmsError, TwilioSms
from duely.links import UNSUBSCRIBE, LinkTarget, link
from duely.models import Channel, Message, MessageStatus, Organisation, utcnow
from duely.settings import Settings

MAX_ATTEMPTS = 40
"""Tries of one message before it is marked failed: with Temporal's backoff capped at ten
minutes (duely.workflows.outbox), about six hours of a provider being down."""


class Delivery:
    def __init__(self, settings: Settings, db: Database, mailer: Mailer, sms: TwilioSms) -> None:
        self._settings = settings
        self._db = db
        self._mailer = mailer
        self._sms = sms

    async def deliver(self, message: Message, organisation: Organisation) -> Message:
        """Take the message as far as it can go; idempotent, so a retry resumes it."""
        if message.status == MessageStatus.HANDING_OVER:
            return await self._set(
                message,
                MessageStatus.UNCERTAIN,
                error="the worker stopped while the mail server was taking this message: it may "
                "have been delivered. Check with the customer before sending it again.",
            )
        if message.status != MessageStatus.QUEUED:
            return message
        if message.channel == Channel.EMAIL:
            return await self._send_email(message, organisation)
        return await self._send_sms(message)

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
        message = await self._set(message, MessageStatus.HANDING_OVER, count_attempt=True)
        try:
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
            return await self._set(message, MessageStatus.HELD)
        secret = self._settings.resolved_secret_key
        target = LinkTarget(organisation.id, message.customer_id)
        email = OutgoingEmail(
            sender_name=organisation.sender_name or organisation.name,
            sender_address=organisation.sender_email or self._settings.mail_from,
            recipients=tuple(r.strip() for r in message.recipients.split(",")),
            subject=message.subject,
            body=message.body,
            message_key=message.unique_key.replace(":", "."),
            unsubscribe_url=link(self._settings.public_url, secret, UNSUBSCRIBE, target),
        )

        async def hand_over() -> None:
            await self._set(message, MessageStatus.HANDING_OVER)

        message = await self._set(message, MessageStatus.QUEUED, count_attempt=True)
        try:
            await self._mailer.send(email, on_hand_over=hand_over)
        except MailError as error:
            if error.permanent:
                return await self._set(message, MessageStatus.FAILED, error=str(error))
            return await self._retry_later(message, error)
        return await self._set(message, MessageStatus.SENT, error="")

    async def _set(
        self, message: Message, status: str, error: str | None = None, count_attempt: bool = False
    ) -> Message:
        values: dict = {"status": status}
        if error is not None:
            values["error"] = error
        if status == MessageStatus.SENT:
            values["sent_at"] = utcnow()
        if count_attempt:
            values["attempts"] = Message.attempts + 1
        async with self._db.session() as session:
            await session.exec(update(Message).where(Message.id == message.id).values(**values))
            await session.commit()
            return await session.get(Message, message.id, populate_existing=True)
