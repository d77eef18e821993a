"""Signing in and out."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Controller, Request, get, post
from litestar.params import FromQuery, URLEncodedBody
from litestar.response import Redirect, Template
from sqlmodel import select

from duely.models import User, utcnow
from duely.security import verify_password
from duely.web.auth import SESSION_USER_KEY
from duely.web.deps import DbSession


@dataclass
class LoginForm:
    email: str
    password: str
    next: str = "/"


def _safe_next(target: str) -> str:
    """Only same-site paths, so the login form can't bounce a user to another site."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


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
        # A fresh session on every login, so a planted session id can never be promoted.
        request.clear_session()
        request.set_session({SESSION_USER_KEY: user.id})
        return Redirect(_safe_next(data.next))

    @post("/logout", opt={"exclude_from_auth": False})
    async def logout(self, request: Request) -> Redirect:
        request.clear_session()
        return Redirect("/login")
