"""Naming what an organisation sets up (schedules, templates), and refusing an edit that would
leave the set-up broken."""

from __future__ import annotations

from collections.abc import Iterable

NAME_MAX = 200


class Refused(Exception):
    """An edit that would leave the set-up broken; the message says why, for the person."""


def clean_name(raw: str) -> str:
    return " ".join(raw.split())


def name_problem(name: str, taken: Iterable[str], what: str) -> str | None:
    """Why `name` cannot name a schedule or template (`what`), or None when it can."""
    if not name:
        return f"Give the {what} a name."
    if len(name) > NAME_MAX:
        return f"Keep the name under {NAME_MAX} characters."
    if name.casefold() in {other.casefold() for other in taken}:
        return f"Another {what} is already called “{name}”: choose another name."
    return None
