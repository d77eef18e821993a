"""Database engines and sessions for SQLite (embedded) and PostgreSQL (production).

One URL configures both the async engine the app uses and the sync engine migrations use:
SQLite goes through aiosqlite / pysqlite, PostgreSQL through psycopg 3 (which speaks both).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import create_engine
from sqlmodel.ext.asyncio.session import AsyncSession

MAX_ID = 2**31 - 1
"""The largest id a row can have: ids are INTEGER columns, 32-bit on PostgreSQL."""
MAX_BIGINT = 2**63 - 1
"""The largest amount, offset or other whole number the databases hold (64-bit)."""

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


def _with_driver(url: str, drivers: dict[str, str]) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in drivers:
        raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")
    return parsed.set(drivername=drivers[backend])


def async_url(url: str) -> URL:
    return _with_driver(url, _ASYNC_DRIVERS)


def sync_url(url: str) -> URL:
    return _with_driver(url, _SYNC_DRIVERS)


def _tune_sqlite(engine: Engine) -> None:
    # Web and worker are separate processes on one file: WAL lets readers run beside the
    # writer and busy_timeout makes a writer wait instead of failing with "database is locked".
    # synchronous=NORMAL: in WAL mode a commit no longer waits for fsync of the log; the file
    # stays consistent, and a commit survives a crash of the application (the OS still holds
    # the write); only a power loss or OS crash can take back the last commits. Every commit
    # of a sync page or a chase's note paid an fsync before.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def _ensure_sqlite_dir(url: URL) -> None:
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def make_sync_engine(url: str) -> Engine:
    target = sync_url(url)
    _ensure_sqlite_dir(target)
    engine = create_engine(target)
    if target.get_backend_name() == "sqlite":
        _tune_sqlite(engine)
    return engine


class Database:
    """The app's async engine and a factory of sessions bound to it."""

    def __init__(self, url: str) -> None:
        target = async_url(url)
        _ensure_sqlite_dir(target)
        self.engine: AsyncEngine = create_async_engine(target, pool_pre_ping=True)
        sqlite = target.get_backend_name() == "sqlite"
        if sqlite:
            _tune_sqlite(self.engine.sync_engine)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )
        # SQLite takes one writer at a time: writers on several pooled connections find the
        # file locked and sleep in its busy handler (up to 100 ms a turn), so a burst of them
        # answers in seconds. Queued here instead, they follow each other without sleeping.
        # PostgreSQL locks rows, not the database: no queue.
        self._one_writer: asyncio.Lock | contextlib.nullcontext[None] = (
            asyncio.Lock() if sqlite else contextlib.nullcontext()
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session for a short burst-prone write (a webhook keeping its event, a payment's
        row): on SQLite, one such session at a time in this process."""
        async with self._one_writer, self._sessions() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
