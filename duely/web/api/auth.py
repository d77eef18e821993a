"""`POST /api/v1/auth/token`: trade an email and password for a bearer token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from litestar import Request, post
from litestar.exceptions import NotAuthorizedException
from litestar.params import JSONBody
from sqlmodel import select

from duely.models import ApiToken, User, utcnow
from duely.security import new_api_token, verify_password
from duely.web.deps import DbSession


@dataclass
class TokenRequest:
    email: str
    password: str


@dataclass
class TokenResponse:
    token: str
    expires_at: datetime
    role: str
    organisation_id: int


@post("/auth/token", opt={"exclude_from_auth": True}, tags=["auth"])
async def issue_token(
    request: Request, db_session: DbSession, data: JSONBody[TokenRequest]
) -> TokenResponse:
    """Issue a bearer token carrying the user's role and organisation (shown only once)."""
    user = (
        await db_session.exec(select(User).where(User.email == data.email.strip().lower()))
    ).first()
    if not verify_password(user.password_hash if user else None, data.password):
        raise NotAuthorizedException("Wrong email or password.")
    token, digest = new_api_token()
    ttl = timedelta(seconds=request.app.state.settings.api_token_ttl_seconds)
    row = ApiToken(
        organisation_id=user.organisation_id,
        user_id=user.id,
        token_hash=digest,
        expires_at=utcnow() + ttl,
    )
    db_session.add(row)
    await db_session.commit()
    return TokenResponse(token, row.expires_at, user.role, user.organisation_id)
