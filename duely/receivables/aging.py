"""Aging buckets of receivables, named as the API names them (DESIGN section 5)."""

from __future__ import annotations

from datetime import date, timedelta

# (name, fewest days overdue, most days overdue); None means unbounded.
BUCKETS: tuple[tuple[str, int | None, int | None], ...] = (
    ("current", None, 0),
    ("1-30", 1, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("90+", 91, None),
)
BUCKET_NAMES = tuple(name for name, _, _ in BUCKETS)


def days_overdue(due_date: date, today: date) -> int:
    return max((today - due_date).days, 0)


def bucket_of(due_date: date, today: date) -> str:
    overdue = (today - due_date).days
    for name, fewest, most in BUCKETS:
        if (fewest is None or overdue >= fewest) and (most is None or overdue <= most):
            return name
    raise AssertionError("buckets cover every day")


def due_date_range(bucket: str, today: date) -> tuple[date | None, date | None]:
    """The due dates (inclusive, None = open-ended) that fall in `bucket` on `today`."""
    for name, fewest, most in BUCKETS:
        if name == bucket:
            earliest = today - timedelta(days=most) if most is not None else None
            latest = today - timedelta(days=fewest) if fewest is not None else None
            return earliest, latest
    raise ValueError(f"unknown bucket {bucket!r}; use one of {', '.join(BUCKET_NAMES)}")
