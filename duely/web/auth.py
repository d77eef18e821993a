"""Who is asking: session login for pages, bearer tokens for the API, roles as guards.

Pages authenticate from the server-side session (duely.web.sessions; they are CSRF-protected);
`/api/` authenticates only from the `Authorization: Bearer` header, never from cookies, so the
API needs no CSRF token. A token works until it expires or is revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import Guard
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.core.db import Database
from duely.core.security import api_token_digest
from duely.models import ApiToken, Role, User, utcnow
from duely.web.sessions import SESSION_USER_KEY

API_PREFIX = "/api/"
# A token's last use is written at most this often, not on every request it makes.
TOKEN_LAST_USED_GRAIN = timedelta(minutes=1)

_ROLE_RANK = {Role.VIEWER: 0, Role.COLLECTOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class CurrentUser:
    """The authenticated user, detached from any database session."""

    id: int
    email: str
    name: str
    role: Role
    organisation_id: int

    @classmethod
    def of(cls, user: User) -> CurrentUser:
        return cls(user.id, user.email, user.name, Role(user.role), user.organisation_id)

    def has_role(self, minimum: Role) -> bool:
        return _ROLE_RANK[self.role] >= _ROLE_RANK[minimum]


class AuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        db: Database = connection.app.state.db
        async with db.session() as session:
            if connection.url.path.startswith(API_PREFIX):
                user = await _user_from_bearer(session, connection.headers.get("authorization"))
            else:
                user_id = connection.scope.get("session", {}).get(SESSION_USER_KEY)
                user = await session.get(User, user_id) if user_id else None
        if user is None:
            raise NotAuthorizedException("Sign in to continue.")
        return AuthenticationResult(user=CurrentUser.of(user), auth=None)


async def _user_from_bearer(session: AsyncSession, header: str | None) -> User | None:
    """The token's user; a token that has ended is refused saying why, so a script's owner
    knows whether to mint a new one or ask who revoked it."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    row = (
        await session.exec(select(ApiToken).where(ApiToken.token_hash == api_token_digest(token)))
    ).first()
    if row is None:
        return None
    now = utcnow()
    if row.revoked_at is not None:
        raise NotAuthorizedException(f"This API token was revoked at {_minute(row.revoked_at)}.")
    if row.expires_at <= now:
        raise NotAuthorizedException(f"This API token expired at {_minute(row.expires_at)}.")
    if row.last_used_at is None or now - row.last_used_at >= TOKEN_LAST_USED_GRAIN:
        row.last_used_at = now
        session.add(row)
        await session.commit()
    return await session.get(User, row.user_id)


def _minute(instant: datetime) -> str:
    return f"{instant:%Y-%m-%d %H:%M} UTC"


def requires(minimum: Role) -> Guard:
    """A guard that lets through users whose role is at least `minimum`."""

    def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        # A request the middleware let through unauthenticated (an OPTIONS, a public path)
        # has no user at all: refuse it instead of failing on `connection.user` (a 500).
        user: CurrentUser | None = connection.scope.get("user")
        if user is None:
            raise NotAuthorizedException("Sign in to continue.")
        if not user.has_role(minimum):
            raise PermissionDeniedException(f"This needs the {minimum.value} role.")

    guard.__name__ = f"requires_{minimum.value}"
    return guard


requires_admin = requires(Role.ADMIN)
requires_collector = requires(Role.COLLECTOR)
