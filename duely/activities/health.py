"""Activities behind HealthCheckWorkflow."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import select
from temporalio import activity

from duely.core.db import Database
from duely.models import Organisation


@dataclass
class DatabaseHealth:
    organisations: int


class HealthActivities:
    def __init__(self, db: Database) -> None:
        self._db = db

    @activity.defn
    async def check_database(self) -> DatabaseHealth:
        async with self._db.session() as session:
            count = (await session.exec(select(func.count()).select_from(Organisation))).one()
        return DatabaseHealth(organisations=count)
