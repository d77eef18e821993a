"""The activity of StripeSweepWorkflow: re-read each organisation's recent Stripe events and
take in any that never arrived as a webhook (duely was down, a delivery was lost), exactly as
the webhook would have. Events already kept are skipped by their id."""

from __future__ import annotations

import time

from sqlmodel import or_, select
from temporalio import activity

from duely.core.db import Database
from duely.integrations.payments.stripe import StripeError, StripeGateway
from duely.models import Organisation
from duely.payments import inbox
from duely.payments.stripe_accounts import stripe_account_of
from duely.payments.stripe_events import WANTED_EVENTS
from duely.settings import Settings

LOOKBACK_SECONDS = 3 * 24 * 3600
"""Stripe retries a webhook for three days: anything older was answered or is long lost."""


class StripeSweepActivities:
    def __init__(self, settings: Settings, db: Database) -> None:
        self._settings = settings
        self._db = db

    @activity.defn
    async def sweep_stripe_events(self) -> int:
        """Returns how many missed events were taken in."""
        async with self._db.session() as session:
            organisations = list(
                await session.exec(
                    select(Organisation).where(
                        or_(
                            Organisation.stripe_secret_key_encrypted != "",
                            Organisation.stripe_account_id != "",
                        )
                    )
                )
            )
        taken = 0
        for organisation in organisations:
            account = stripe_account_of(self._settings, organisation)
            if account is None:
                continue
            try:
                async with StripeGateway(account) as stripe:
                    events = await stripe.events(int(time.time()) - LOOKBACK_SECONDS, WANTED_EVENTS)
            except StripeError as error:
                # One organisation's revoked key must not stop the others' sweep.
                activity.logger.warning(
                    "Stripe sweep of organisation %s: %s", organisation.id, error
                )
                continue
            for event in events:
                row, new = await inbox.keep(self._db, event, organisation.id)
                if new or row.processed_at is None:
                    await inbox.dispatch(
                        self._db, activity.client(), self._settings.temporal_task_queue, row
                    )
                    taken += new
            activity.heartbeat(organisation.id)
        return taken
