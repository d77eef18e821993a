"""Signing in and out, and the account page: change your password, mint and revoke API tokens.

Signing in starts a new server-side session (duely.web.sessions) and signing out ends it; a
password change ends every other session of the user. Through htmx each form answers with its
own section only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.core.security import hash_password, password_problem, verify_password
from duely.models import Role, User, utcnow
from duely.web.api.auth import (
    MAX_TOKEN_DAYS,
    mint_token,
    revoke_token,
    token_lifetime,
    token_out,
    visible_tokens,
)
from duely.web.deps import DbSession
from duely.web.sessions import current_session_row, end_sessions, sign_in, sign_out

# The handlers that need a signed-in user (the controller's default lets strangers in).
SIGNED_IN = {"exclude_from_auth": False}
TOKENS_SHOWN = 100
TOKEN_DAY_CHOICES = (7, 30, 90, MAX_TOKEN_DAYS)


@dataclass
class LoginForm:
    email: str
    password: str
    next: str = "/"


@dataclass
class PasswordForm:
    current_password: str = ""
    new_password: str = ""
    new_password_again: str = ""


@dataclass
class TokenForm:
    name: str = ""
    expires_in_days: int = 90


def _safe_next(target: str) -> str:
    """Only same-site paths, so the login form can't bounce a user to another site."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _htmx(request: Request) -> bool:
    return isinstance(request, HTMXRequest) and bool(request.htmx)


def _password_problem(user: User, form: PasswordForm) -> str | None:
    if not verify_password(user.password_hash, form.current_password):
        return "Your current password is not the one you typed."
    problem = password_problem(form.new_password, user.email)
    if problem:
        return problem
    if form.new_password != form.new_password_again:
        return "The two new passwords differ."
    if form.new_password == form.current_password:
        return "The new password is the same as the current one."
    return None


async def _tokens_context(request: Request, db: AsyncSession, **extra: Any) -> dict[str, Any]:
    settings = request.app.state.settings
    rows = (await db.exec(visible_tokens(request.user).limit(TOKENS_SHOWN))).all()
    now = utcnow()
    default_days = settings.api_token_ttl_seconds // 86400
    return {
        "tokens": [token_out(token, email, now) for token, email in rows],
        "tokens_limit": TOKENS_SHOWN,
        "sees_all_tokens": request.user.has_role(Role.ADMIN),
        "day_choices": sorted({*TOKEN_DAY_CHOICES, default_days}),
        "default_days": default_days,
        "new_token": None,
        "token_error": None,
        **extra,
    }


async def _answer(
    request: Request,
    db: AsyncSession,
    partial: str,
    status_code: int = 200,
    password: dict[str, Any] | None = None,
    tokens: dict[str, Any] | None = None,
) -> Template:
    """Through htmx, the one section (`partial`) that changed; without it, the whole page."""
    context = {
        "password_error": None,
        "password_changed": None,
        **(password or {}),
        **await _tokens_context(request, db, **(tokens or {})),
    }
    template = partial if _htmx(request) else "account.html"
    return Template(template, context=context, status_code=status_code)


class AccountController(Controller):
    opt = {"exclude_from_auth": True}

    @get("/login", name="login")
    async def login_page(self, next: FromQuery[str] = "/") -> Template:
        return Template("login.html", context={"next": _safe_next(next), "error": None})

    @post("/login")
    async def login(
        self,
        request: Request,
        db_session: DbSession,
        data: URLEncodedBody[LoginForm],
    ) -> Template | Redirect:
        email = data.email.strip().lower()
        user = (await db_session.exec(select(User).where(User.email == email))).first()
        if not verify_password(user.password_hash if user else None, data.password):
            return Template(
                "login.html",
                context={
                    "next": _safe_next(data.next),
                    "error": "Wrong email or password.",
                    "email": email,
                },
                status_code=400,
            )
        user.last_login_at = utcnow()
        await db_session.commit()
        # A new session id on every sign-in, so a planted session id can never be promoted.
        sign_in(request, user.id)
        return Redirect(_safe_next(data.next))

    @post("/logout", opt=SIGNED_IN)
    async def logout(self, request: Request) -> Redirect:
        sign_out(request)
        return Redirect("/login")

    @get("/account", name="account", opt=SIGNED_IN)
    async def account_page(self, request: Request, db_session: DbSession) -> Template:
        return await _answer(request, db_session, "account.html")

    @post("/account/password", opt=SIGNED_IN)
    async def change_password(
        self, request: Request, db_session: DbSession, data: URLEncodedBody[PasswordForm]
    ) -> Template:
        """Change the password; every other session of the user ends (this one stays)."""
        user = await db_session.get(User, request.user.id)
        problem = _password_problem(user, data)
        if problem:
            return await _answer(
                request,
                db_session,
                "account_password.html",
                status_code=422,
                password={"password_error": problem},
            )
        user.password_hash = hash_password(data.new_password, user.email)
        db_session.add(user)
        await db_session.commit()
        ended = await end_sessions(db_session, user.id, keep=current_session_row(request))
        return await _answer(
            request, db_session, "account_password.html", password={"password_changed": ended}
        )

    @post("/account/tokens", opt=SIGNED_IN)
    async def new_token(
        self, request: Request, db_session: DbSession, data: URLEncodedBody[TokenForm]
    ) -> Template:
        """Mint a token; the answer shows its secret, the only time anyone sees it."""
        try:
            lifetime = token_lifetime(request.app.state.settings, data.expires_in_days)
        except ValueError as error:
            return await _answer(
                request,
                db_session,
                "account_tokens.html",
                status_code=422,
                tokens={"token_error": f"Not minted: {error}."},
            )
        user = await db_session.get(User, request.user.id)
        secret, row = await mint_token(db_session, user, data.name, lifetime)
        new_token = {"secret": secret, "name": row.name}
        return await _answer(
            request, db_session, "account_tokens.html", tokens={"new_token": new_token}
        )

    @post("/account/tokens/{token_id:int}/revoke", opt=SIGNED_IN)
    async def revoke(
        self, request: Request, db_session: DbSession, token_id: FromPath[int]
    ) -> Template:
        """Revoke your token, or (an admin) any of the organisation's; others are a 404."""
        await revoke_token(db_session, request.user, token_id)
        return await _answer(request, db_session, "account_tokens.html")
