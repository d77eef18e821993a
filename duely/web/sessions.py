"""Server-side browser sessions, kept in the database (`web_sessions`).

The cookie carries only a random id; the row, found by the id's SHA-256, says who is signed in
and holds the session's other values (a ledger connection's OAuth state, say). A session ends
when it is revoked (signing out, a password change), when it has been idle for `idle_seconds`,
or `max_age` seconds after sign-in, whichever comes first; after that its cookie opens nothing.
Every web process reads the same table, so a session survives restarts and works on all of them.

Handlers keep using `request.session`; they sign in and out with `sign_in` and `sign_out`. Only
a signed-in session is stored: values set before signing in are not kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware.session.base import BaseBackendConfig, BaseSessionBackend
from litestar.types import Empty, Message, Scopes, ScopeSession
from sqlalchemy import ColumnElement, delete, update
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.core.security import new_session_id, session_id_digest
from duely.models import User, WebSession, utcnow

SESSION_USER_KEY = "user_id"
# A working day's gap keeps the session; a weekend away ends it.
SESSION_IDLE_SECONDS = 24 * 3600
# last_seen_at is written at most this often: the idle expiry needs no finer grain, and a
# write on every page view would cost more than the read.
LAST_SEEN_GRAIN = timedelta(minutes=1)
_SCOPE_KEY = "duely.web_session"


@dataclass
class _Current:
    """What this request's cookie led to, kept in the scope between loading and answering."""

    cookie_sent: bool
    row_id: int | None = None
    user_id: int | None = None
    data: bytes = b"{}"
    last_seen_at: datetime | None = None
    renew: bool = False
    """Set by sign_in: the answer carries a new id, so an id planted before can't be used."""


def sign_in(connection: ASGIConnection, user_id: int) -> None:
    """Start a fresh session for the user; any session this browser had ends."""
    connection.set_session({SESSION_USER_KEY: user_id})
    connection.scope[_SCOPE_KEY].renew = True


def sign_out(connection: ASGIConnection) -> None:
    connection.clear_session()


def current_session_row(connection: ASGIConnection) -> int | None:
    """The `web_sessions` id of the request's session, if it is signed in."""
    current: _Current | None = connection.scope.get(_SCOPE_KEY)
    return current.row_id if current else None


def live(
    now: datetime, idle_seconds: int
) -> tuple[ColumnElement[bool], ColumnElement[bool], ColumnElement[bool]]:
    """The condition for a session that has not ended."""
    return (
        col(WebSession.revoked_at).is_(None),
        col(WebSession.expires_at) > now,
        col(WebSession.last_seen_at) > now - timedelta(seconds=idle_seconds),
    )


async def end_sessions(db: AsyncSession, user_id: int, keep: int | None = None) -> int:
    """Revoke the user's live sessions (except `keep`, the one asking); commits; returns how
    many there were. For a password change, and for whatever removes a user or their role."""
    now = utcnow()
    statement = (
        update(WebSession)
        .where(col(WebSession.user_id) == user_id, col(WebSession.revoked_at).is_(None))
        .where(col(WebSession.expires_at) > now)
        .values(revoked_at=now)
    )
    if keep is not None:
        statement = statement.where(col(WebSession.id) != keep)
    result = await db.exec(statement)
    await db.commit()
    return result.rowcount


class DatabaseSessionBackend(BaseSessionBackend["DatabaseSessionConfig"]):
    def get_session_id(self, connection: ASGIConnection) -> None:
        """The id is a credential: nothing but the cookie ever needs to see it."""
        return None

    async def load_from_connection(self, connection: ASGIConnection) -> dict[str, Any]:
        session_id = connection.cookies.get(self.config.key)
        current = _Current(cookie_sent=bool(session_id))
        connection.scope[_SCOPE_KEY] = current
        if not session_id:
            return {}
        async with connection.app.state.db.session() as db:
            row = (
                await db.exec(
                    select(WebSession).where(
                        WebSession.id_digest == session_id_digest(session_id),
                        *live(utcnow(), self.config.idle_seconds),
                    )
                )
            ).first()
        if row is None:
            return {}
        current.row_id, current.user_id = row.id, row.user_id
        current.data, current.last_seen_at = row.data.encode(), row.last_seen_at
        return {**self.deserialize_data(current.data), SESSION_USER_KEY: row.user_id}

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection
    ) -> None:
        current: _Current = connection.scope[_SCOPE_KEY]
        signed_in = scope_session is not Empty and bool(scope_session)
        user_id = scope_session.get(SESSION_USER_KEY) if signed_in else None
        if user_id is None and current.row_id is None and not current.cookie_sent:
            return  # a stranger who never had a session: nothing to store or clear
        headers = MutableScopeHeaders.from_message(message)
        async with connection.app.state.db.session() as db:
            if user_id is None:  # signed out, or the cookie's session had ended
                if current.row_id is not None:
                    await self._revoke(db, current.row_id)
                headers.add("Set-Cookie", self._cookie("", max_age=0))
                return
            values = {key: value for key, value in scope_session.items() if key != SESSION_USER_KEY}
            data = self.serialize_data(values, connection.scope)
            if current.row_id is None or current.renew or current.user_id != user_id:
                if current.row_id is not None:
                    await self._revoke(db, current.row_id)
                session_id = await self._start(db, user_id, data)
                max_age = self.config.max_age if session_id else 0  # no id: the user is gone
                headers.add("Set-Cookie", self._cookie(session_id or "", max_age=max_age))
            elif data != current.data or utcnow() - current.last_seen_at >= LAST_SEEN_GRAIN:
                await db.exec(
                    update(WebSession)
                    .where(col(WebSession.id) == current.row_id)
                    .values(data=data.decode(), last_seen_at=utcnow())
                )
                await db.commit()

    async def _start(self, db: AsyncSession, user_id: int, data: bytes) -> str | None:
        user = await db.get(User, user_id)
        if user is None:
            return None
        now = utcnow()
        # Each sign-in clears away the user's ended sessions, so the table holds live ones.
        await db.exec(
            delete(WebSession).where(
                col(WebSession.user_id) == user_id,
                or_(
                    col(WebSession.revoked_at).is_not(None),
                    col(WebSession.expires_at) <= now,
                    col(WebSession.last_seen_at)
                    <= now - timedelta(seconds=self.config.idle_seconds),
                ),
            )
        )
        session_id, digest = new_session_id()
        db.add(
            WebSession(
                organisation_id=user.organisation_id,
                user_id=user_id,
                id_digest=digest,
                data=data.decode(),
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(seconds=self.config.max_age),
            )
        )
        await db.commit()
        return session_id

    @staticmethod
    async def _revoke(db: AsyncSession, row_id: int) -> None:
        await db.exec(
            update(WebSession)
            .where(col(WebSession.id) == row_id, col(WebSession.revoked_at).is_(None))
            .values(revoked_at=utcnow())
        )
        await db.commit()

    def _cookie(self, value: str, max_age: int) -> str:
        config = self.config
        return Cookie(
            key=config.key,
            value=value,
            max_age=max_age,
            path=config.path,
            domain=config.domain,
            secure=config.secure,
            httponly=config.httponly,
            samesite=config.samesite,
        ).to_header(header="")


@dataclass
class DatabaseSessionConfig(BaseBackendConfig[DatabaseSessionBackend]):
    """Litestar session middleware settings for `DatabaseSessionBackend`."""

    _backend_class = DatabaseSessionBackend

    key: str = "duely_session"
    max_age: int = 14 * 24 * 3600
    """Seconds from sign-in to the session's end, however busy it is."""
    idle_seconds: int = SESSION_IDLE_SECONDS
    """Seconds without a request after which the session ends."""
    path: str = "/"
    domain: str | None = None
    secure: bool = False
    httponly: bool = True
    samesite: Literal["lax", "strict", "none"] = "lax"
    exclude: str | list[str] | None = None
    exclude_opt_key: str = "skip_session"
    scopes: Scopes = field(default_factory=lambda: {ScopeType.HTTP})
