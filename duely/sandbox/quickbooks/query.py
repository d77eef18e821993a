"""QuickBooks' query language, the subset the sandbox answers.

    SELECT * | COUNT(*) | Field, ... FROM Invoice|Customer|Payment|CreditMemo|Account
    [WHERE cond [AND cond ...]] [ORDERBY Field [ASC|DESC], ...]
    [STARTPOSITION n] [MAXRESULTS n]

A condition is `Field op value` with op one of = < > <= >= IN LIKE (no OR, no JOIN, as in
QuickBooks); values are 'quoted' strings (numbers and booleans may go bare), IN takes a
parenthesised list, LIKE takes % wildcards. Fields are the JSON's, dotted for nested ones
(MetaData.LastUpdatedTime); a reference (CustomerRef) compares its value. Keywords are case-
insensitive; `ORDER BY` is read like ORDERBY. STARTPOSITION is 1-based (default 1);
MAXRESULTS defaults to 100 and is capped at 1000.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from duely.sandbox.quickbooks.errors import QBFault, query_error, query_invalid

ENTITIES = ("Invoice", "Customer", "Payment", "CreditMemo", "Account")
DEFAULT_MAX_RESULTS = 100
MAX_RESULTS = 1000
OPERATORS = ("<=", ">=", "=", "<", ">")
TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<op><=|>=|!=|=|<|>)|(?P<punct>[(),*])"
    r"|(?P<word>[A-Za-z_][\w.]*)|(?P<number>-?\d+(?:\.\d+)?))"
)


@dataclass
class Condition:
    path: str
    op: str  # =, <, >, <=, >=, IN, LIKE
    values: list[str]


@dataclass
class Query:
    entity: str
    count: bool = False
    fields: list[str] = field(default_factory=list)  # empty: all (*)
    where: list[Condition] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (path, descending)
    start: int = 1
    max_results: int = DEFAULT_MAX_RESULTS


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.strip().rstrip(";")
    while position < len(text):
        match = TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise query_error(
                f'Encountered "{text[position : position + 10]}" at column {position + 1}'
            )
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
    return tokens


class _Reader:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def next(self) -> tuple[str, str]:
        token = self.peek()
        self.at += 1
        return token

    def keyword(self, *words: str) -> bool:
        kind, value = self.peek()
        if kind == "word" and value.upper() in words:
            self.at += 1
            return True
        return False

    def expect(self, kind: str, value: str | None = None) -> str:
        got_kind, got = self.next()
        if got_kind != kind or (value is not None and got.upper() != value):
            wanted = value or kind
            raise query_error(f'Encountered "{got or "<EOF>"}". Was expecting "{wanted}"')
        return got


def parse(text: str) -> Query:
    reader = _Reader(_tokens(text))
    if not reader.keyword("SELECT"):
        raise query_error(
            f'Encountered "{reader.peek()[1]}" at line 1, column 1. Was expecting "select"'
        )
    count, fields = False, []
    if reader.peek() == ("punct", "*"):
        reader.next()
    elif reader.keyword("COUNT"):
        reader.expect("punct", "(")
        reader.expect("punct", "*")
        reader.expect("punct", ")")
        count = True
    else:
        fields.append(reader.expect("word"))
        while reader.peek() == ("punct", ","):
            reader.next()
            fields.append(reader.expect("word"))
    reader.expect("word", "FROM")
    name = reader.expect("word")
    entity = next((e for e in ENTITIES if e.lower() == name.lower()), None)
    if entity is None:
        raise query_invalid(f"{name} is not a supported entity")
    query = Query(entity, count, fields)
    if reader.keyword("WHERE"):
        query.where.append(_condition(reader))
        while reader.keyword("AND"):
            query.where.append(_condition(reader))
        if reader.peek()[0] == "word" and reader.peek()[1].upper() == "OR":
            raise query_error('Encountered " "OR" "OR "". OR is not supported')
    if reader.keyword("ORDERBY") or (reader.keyword("ORDER") and reader.expect("word", "BY")):
        query.order.append(_order_item(reader))
        while reader.peek() == ("punct", ","):
            reader.next()
            query.order.append(_order_item(reader))
    if reader.keyword("STARTPOSITION"):
        query.start = max(int(_number(reader)), 1)
    if reader.keyword("MAXRESULTS"):
        query.max_results = min(max(int(_number(reader)), 0), MAX_RESULTS)
    if reader.peek()[0] != "end":
        raise query_error(f'Encountered "{reader.peek()[1]}" after the end of the query')
    return query


def _number(reader: _Reader) -> str:
    kind, value = reader.next()
    if kind != "number":
        raise query_error(f'Encountered "{value}". Was expecting a number')
    return value


def _order_item(reader: _Reader) -> tuple[str, bool]:
    path = reader.expect("word")
    descending = reader.keyword("DESC")
    if not descending:
        reader.keyword("ASC")
    return path, descending


def _value(reader: _Reader) -> str:
    kind, value = reader.next()
    if kind == "string":
        return value[1:-1].replace("\\'", "'")
    if kind == "number" or (kind == "word" and value.lower() in ("true", "false")):
        return value
    raise query_error(f'Encountered "{value or "<EOF>"}". Was expecting a value')


def _condition(reader: _Reader) -> Condition:
    path = reader.expect("word")
    kind, op = reader.next()
    if kind == "op" and op in OPERATORS:
        return Condition(path, op, [_value(reader)])
    if kind == "word" and op.upper() == "LIKE":
        return Condition(path, "LIKE", [_value(reader)])
    if kind == "word" and op.upper() == "IN":
        reader.expect("punct", "(")
        values = [_value(reader)]
        while reader.peek() == ("punct", ","):
            reader.next()
            values.append(_value(reader))
        reader.expect("punct", ")")
        return Condition(path, "IN", values)
    raise query_error(f'Encountered "{op}". Was expecting one of: "=", "<", ">", "IN", "LIKE"')


# --- evaluating -------------------------------------------------------------------------


def lookup(body: dict, path: str) -> object:
    """A dotted field of an entity's JSON; a reference gives its value. None when absent."""
    value: object = body
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
    if isinstance(value, dict) and "value" in value:
        return value["value"]
    return value


def _comparable(actual: object, wanted: str) -> tuple[object, object]:
    if isinstance(actual, bool):
        return actual, wanted.lower() == "true"
    if isinstance(actual, int | float):
        try:
            return Decimal(str(actual)), Decimal(wanted)
        except InvalidOperation:
            return str(actual), wanted
    text = str(actual)
    if "T" in text and len(text) > 10:
        try:
            return datetime.fromisoformat(text), _moment(wanted, datetime.fromisoformat(text))
        except ValueError:
            pass
    if text.isdigit() and wanted.isdigit():
        return int(text), int(wanted)
    return text, wanted


def _moment(wanted: str, like: datetime) -> datetime:
    moment = datetime.fromisoformat(wanted)
    return moment if moment.tzinfo else moment.replace(tzinfo=like.tzinfo)


def _like(text: str, pattern: str) -> bool:
    expression = "".join(".*" if ch == "%" else re.escape(ch) for ch in pattern)
    return re.fullmatch(expression, text, re.IGNORECASE | re.DOTALL) is not None


def matches(body: dict, condition: Condition) -> bool:
    actual = lookup(body, condition.path)
    if actual is None:
        return False
    if condition.op == "LIKE":
        return _like(str(actual), condition.values[0])
    if condition.op == "IN":
        return any(_equal(actual, value) for value in condition.values)
    try:
        left, right = _comparable(actual, condition.values[0])
        if condition.op == "=":
            return left == right
        return {
            "<": left < right,  # type: ignore[operator]
            ">": left > right,  # type: ignore[operator]
            "<=": left <= right,  # type: ignore[operator]
            ">=": left >= right,  # type: ignore[operator]
        }[condition.op]
    except (TypeError, ValueError) as error:
        raise query_invalid(
            f"cannot compare {condition.path} with {condition.values[0]}"
        ) from error


def _equal(actual: object, wanted: str) -> bool:
    try:
        left, right = _comparable(actual, wanted)
    except ValueError:
        return False
    return left == right


def sort_key(body: dict, path: str) -> tuple:
    value = lookup(body, path)
    if value is None:
        return (0, "")
    if isinstance(value, bool | int | float):
        return (1, float(value))
    text = str(value)
    return (1, int(text)) if text.isdigit() else (2, text.lower())


def check_fields(query: Query, known: frozenset[str]) -> None:
    """A property the entity does not have is refused, as QuickBooks refuses it."""
    paths = [c.path for c in query.where] + [p for p, _ in query.order] + query.fields
    for path in paths:
        if path.split(".")[0].lower() not in known:
            raise query_invalid(f"property '{path}' is not queryable")


def select(query: Query, rows: list[tuple[dict, object]]) -> tuple[list[object], int]:
    """The page of matching rows' payloads and how many matched in all. A row is (the
    entity's JSON, or as much of it as the query names; what to answer for it)."""
    found = [row for row in rows if all(matches(row[0], c) for c in query.where)]
    for path, descending in reversed(query.order):
        found.sort(key=_by(path), reverse=descending)
    page = found[query.start - 1 : query.start - 1 + query.max_results]
    return [payload for _, payload in page], len(found)


def _by(path: str) -> Callable[[tuple[dict, object]], tuple]:
    return lambda row: sort_key(row[0], path)


def project(query: Query, bodies: list[dict]) -> list[dict]:
    """`SELECT Field, ...`: only those fields (and Id, SyncToken), marked sparse."""
    if not query.fields:
        return bodies
    wanted = {f.split(".")[0].lower() for f in query.fields} | {"id", "synctoken", "domain"}
    return [
        {**{k: v for k, v in body.items() if k.lower() in wanted}, "sparse": True}
        for body in bodies
    ]


def named_fields(query: Query) -> set[str]:
    """The top-level fields the query's conditions and order read."""
    paths = [c.path for c in query.where] + [path for path, _ in query.order]
    return {path.split(".")[0].lower() for path in paths}


__all__ = ["ENTITIES", "QBFault", "Query", "check_fields", "lookup", "parse", "project", "select"]
