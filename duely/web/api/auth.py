"""`/api/v1/auth`: trade an email and password for a bearer token; list and revoke tokens.

A user sees and revokes their own tokens; an admin sees and revokes every token of their
organisation. A token's secret is in the answer that mints it and nowhere else, ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, NotFoundException, ValidationException
from litestar.params import FromPath, JSONBody
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from duely.core.security import new_api_token, verify_password
from duely.models import ApiToken, Role, User, utcnow
from duely.settings import Settings
from duely.web.api.paging import Page, PageRequest, fetch_page
from duely.web.auth import CurrentUser
from duely.web.deps import DbSession

MAX_TOKEN_DAYS = 365
TOKENS_DEFAULT_NAME = "API token"


@dataclass
class TokenRequest:
    email: str
    password: str
    name: str = ""
    """What the token is for, to recognise it in the list later."""
    expires_in_days: int | None = None
    """1 to 365; left out, the server's default (DUELY_API_TOKEN_TTL_SECONDS)."""


@dataclass
class TokenResponse:
    token: str
    id: int
    name: str
    expires_at: datetime
    role: str
    organisation_id: int


@dataclass
class TokenOut:
    """A token as listed: everything but its secret."""

    id: int
    name: str
    user_id: int
    user_email: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    status: str
    """active, expired or revoked."""


def token_status(token: ApiToken, now: datetime | None = None) -> str:
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if token.expires_at <= (now or utcnow()) else "active"


def token_lifetime(settings: Settings, days: int | None) -> timedelta:
    """The lifetime asked for, or the server's default; refused beyond MAX_TOKEN_DAYS."""
    if days is None:
        return timedelta(seconds=settings.api_token_ttl_seconds)
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise ValueError(f"a token lives from 1 to {MAX_TOKEN_DAYS} days")
    return timedelta(days=days)


async def mint_token(
    db: AsyncSession, user: User, name: str, lifetime: timedelta
) -> tuple[str, ApiToken]:
    """A new token for `user`: the secret (to show once) and its row (which keeps a digest)."""
    token, digest = new_api_token()
    row = ApiToken(
        organisation_id=user.organisation_id,
        user_id=user.id,
        name=name.strip()[:100] or TOKENS_DEFAULT_NAME,
        token_hash=digest,
        expires_at=utcnow() + lifetime,
    )
    db.add(row)
    await db.commit()
    return token, row


def visible_tokens(user: CurrentUser) -> Select:
    """The tokens `user` may see and revoke, newest first, each with its owner."""
    statement = (
        select(ApiToken, User.email)
        .join(User, col(User.id) == col(ApiToken.user_id))
        .where(ApiToken.organisation_id == user.organisation_id)
        .order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc())
    )
    if not user.has_role(Role.ADMIN):
        statement = statement.where(ApiToken.user_id == user.id)
    return statement


def token_out(token: ApiToken, email: str, now: datetime | None = None) -> TokenOut:
    return TokenOut(
        id=token.id,
        name=token.name,
        user_id=token.user_id,
        user_email=email,
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
        status=token_status(token, now),
    )


async def revoke_token(db: AsyncSession, user: CurrentUser, token_id: int) -> ApiToken:
    """Revoke a token `user` may see (a token already revoked keeps its time); any other is
    a plain 404, so ids of other people's tokens reveal nothing."""
    found = (await db.exec(visible_tokens(user).where(col(ApiToken.id) == token_id))).first()
    if found is None:
        raise NotFoundException(f"No API token {token_id}.")
    token = found[0]
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.add(token)
        await db.commit()
    return token


class AuthTokenController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post("/token", opt={"exclude_from_auth": True})
    async def issue_token(
        self, request: Request, db_session: DbSession, data: JSONBody[TokenRequest]
    ) -> TokenResponse:
        """Issue a bearer token carrying the user's role and organisation (shown only once)."""
        user = (
            await db_session.exec(select(User).where(User.email == data.email.strip().lower()))
        ).first()
        if not verify_password(user.password_hash if user else None, data.password):
            raise NotAuthorizedException("Wrong email or password.")
        try:
            lifetime = token_lifetime(request.app.state.settings, data.expires_in_days)
        except ValueError as error:
            raise ValidationException(f"expires_in_days: {error}.") from None
        token, row = await mint_token(db_session, user, data.name, lifetime)
        return TokenResponse(
            token, row.id, row.name, row.expires_at, user.role, user.organisation_id
        )

    @get("/tokens")
    async def list_tokens(
        self, request: Request, db_session: DbSession, paging: NamedDependency[PageRequest]
    ) -> Page[TokenOut]:
        """Your tokens (an admin: the organisation's), newest first, without their secrets."""
        rows, total = await fetch_page(db_session, visible_tokens(request.user), paging)
        now = utcnow()
        items = [token_out(token, email, now) for token, email in rows]
        return Page(items, total, paging.page, paging.page_size)

    @delete("/tokens/{token_id:int}")
    async def revoke(
        self, request: Request, db_session: DbSession, token_id: FromPath[int]
    ) -> None:
        """Revoke a token at once: your own, or (an admin) any of the organisation's."""
        await revoke_token(db_session, request.user, token_id)
