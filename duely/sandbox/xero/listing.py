"""What every Accounting API list shares: If-Modified-Since, `where`, `order` and paging."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from duely.sandbox.xero.where import Field, WhereError, compile_where

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


class ListQuery:
    """The parsed list parameters; raises WhereError (answered as a 400) for bad ones."""

    def __init__(self, params: Mapping[str, str], modified_since: datetime | None) -> None:
        # Xero (ASP.NET) reads query parameter names without regard to case.
        self.params = {name.lower(): value for name, value in params.items()}
        self.modified_since = modified_since
        self.page = _positive_int(self.params, "page")
        size = _positive_int(self.params, "pagesize")
        # Xero takes 1..1000 and quietly uses the largest page it allows for more.
        self.page_size = min(size, MAX_PAGE_SIZE) if size else DEFAULT_PAGE_SIZE

    def get(self, name: str) -> str:
        return self.params.get(name.lower(), "")

    def flag(self, name: str) -> bool:
        return self.get(name).lower() == "true"

    def csv(self, name: str) -> list[str]:
        """A comma list parameter (Xero also takes the name repeated; both arrive here)."""
        raw = self.get(name)
        return [part.strip().strip('"') for part in raw.split(",") if part.strip()]


def _positive_int(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError as error:
        raise WhereError(f"'{name}' must be a whole number") from error
    if value < 1:
        raise WhereError(f"'{name}' must be 1 or more")
    return value


def select(
    records: Iterable[Any],
    query: ListQuery,
    fields: Mapping[str, Field],
    type_name: str,
    updated: Callable[[Any], datetime],
    extra: Callable[[Any], bool] | None = None,
) -> list[Any]:
    """Records changed since If-Modified-Since that pass `where` and `extra`, in `order`."""
    predicate = compile_where(query.get("where"), fields, type_name)
    since = query.modified_since
    chosen = [
        record
        for record in records
        if (since is None or updated(record) > since)
        and (extra is None or extra(record))
        and predicate(record)
    ]
    return order(chosen, query.get("order"), fields, type_name)


def order(records: list[Any], text: str, fields: Mapping[str, Field], type_name: str) -> list:
    """Sort by Xero's `order` parameter: `Field [ASC|DESC]`, comma separated."""
    if not text.strip():
        return records
    by_name = {name.lower(): field for name, field in fields.items()}
    keys = []
    for part in text.split(","):
        words = part.split()
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if not words or len(words) > 2 or direction not in ("ASC", "DESC"):
            raise WhereError(f"Invalid order clause '{part.strip()}'")
        field = by_name.get(words[0].lower())
        if field is None:
            raise WhereError(f"No property or field '{words[0]}' exists in type '{type_name}'")
        keys.append((field, direction == "DESC"))
    for field, descending in reversed(keys):
        records.sort(key=lambda r, f=field: _sortable(f.get(r)), reverse=descending)
    return records


def _sortable(value: Any) -> tuple:
    return (value is not None, value if value is not None else 0)


def paginate(records: list[Any], query: ListQuery) -> tuple[list[Any], dict | None]:
    """The requested page and Xero's `pagination` element; without `page`, everything and
    no element (Xero answers unpaged requests in full)."""
    if query.page is None:
        return records, None
    size = query.page_size
    start = (query.page - 1) * size
    count = len(records)
    pagination = {
        "page": query.page,
        "pageSize": size,
        "pageCount": (count + size - 1) // size,
        "itemCount": count,
    }
    return records[start : start + size], pagination
