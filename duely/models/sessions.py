"""Signed-in browser sessions, kept server-side so that signing out really ends them."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field

from duely.models.base import OrgScoped, optional_timestamp, timestamp


class WebSession(OrgScoped, table=True):
    """One signed-in browser. The cookie holds a random id; only its SHA-256 is stored here,
    so a copy of this table opens no session. The session has ended once it is revoked,
    expired, or idle too long (duely.web.sessions decides)."""

    __tablename__ = "web_sessions"

    id: int | None = Field(default=None, primary_key=True)
    id_digest: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    data: str = Field(default="{}")
    """The session's other values as JSON (e.g. a ledger connection's OAuth state)."""
    created_at: datetime = timestamp()
    last_seen_at: datetime = timestamp()
    """Updated at most once a minute, for the idle expiry."""
    expires_at: datetime = timestamp()
    revoked_at: datetime | None = optional_timestamp()
