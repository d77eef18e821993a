"""A small, safe parser for the subset of Xero's `where` filter that clients use.

Supported: `Field=="text"` and `!=` (also a single `=`), `>` `>=` `<` `<=` on numbers and
dates, literals `"text"`, numbers, `true`/`false`, `null`, `DateTime(2026,01,31)` (optionally
with hour, minute, second) and `Guid("...")`, string methods `.Contains("x")`,
`.StartsWith("x")`, `.EndsWith("x")`, `AND`/`OR`/`NOT` (and `&&`/`||`), parentheses and
dotted fields such as `Contact.ContactID`. Anything else is a WhereError, which the API turns
into Xero's 400 QueryParseException. Nothing is ever evaluated as code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

Predicate = Callable[[Any], bool]

TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op>==|!=|>=|<=|&&|\|\||[=<>!(),.])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
COMPARISONS = {"==", "!=", ">", ">=", "<", "<="}
STRING_METHODS = {
    "contains": lambda value, arg: arg in value,
    "startswith": lambda value, arg: value.startswith(arg),
    "endswith": lambda value, arg: value.endswith(arg),
}


class WhereError(ValueError):
    """The filter is outside the supported subset or names an unknown field."""


@dataclass(frozen=True, slots=True)
class Field:
    """A filterable field: its kind (string, guid, number, date, datetime, bool) and how to
    read it from a record."""

    kind: str
    get: Callable[[Any], Any]


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if not match or match.end() == position:
            raise WhereError(f"Syntax error at position {position} in where clause")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, fields: Mapping[str, Field], type_name: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0
        self.fields = {name.lower(): field for name, field in fields.items()}
        self.type_name = type_name

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise WhereError("Unexpected end of where clause")
        self.position += 1
        return token

    def expect(self, value: str) -> None:
        kind, text = self.take()
        if text != value:
            raise WhereError(f"'{value}' expected, found '{text}'")

    def at_keyword(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token[1].upper() in words

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        if self.peek() is not None:
            raise WhereError(f"Syntax error near '{self.peek()[1]}'")
        return predicate

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.at_keyword("OR", "||"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def conjunction(self) -> Predicate:
        parts = [self.negation()]
        while self.at_keyword("AND", "&&"):
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def negation(self) -> Predicate:
        if self.at_keyword("NOT", "!"):
            self.take()
            inner = self.negation()
            return lambda r: not inner(r)
        if self.peek() == ("op", "("):
            self.take()
            inner = self.disjunction()
            self.expect(")")
            return inner
        return self.comparison()

    def field(self) -> tuple[str, Field]:
        kind, name = self.take()
        if kind != "word":
            raise WhereError(f"Field name expected, found '{name}'")
        while self.peek() == ("op", ".") and self._next_is_member():
            self.take()
            name = f"{name}.{self.take()[1]}"
        field = self.fields.get(name.lower())
        if field is None:
            raise WhereError(f"No property or field '{name}' exists in type '{self.type_name}'")
        return name, field

    def _next_is_member(self) -> bool:
        following = self.tokens[self.position + 1 : self.position + 3]
        if not following or following[0][0] != "word":
            return False
        is_call = len(following) > 1 and following[1] == ("op", "(")
        return not is_call

    def comparison(self) -> Predicate:
        name, field = self.field()
        if self.peek() == ("op", "."):
            return self.method(name, field)
        if field.kind == "bool" and (
            self.peek() in (None, ("op", ")")) or self.at_keyword("AND", "OR", "&&", "||")
        ):
            return lambda r: bool(field.get(r))
        kind, op = self.take()
        if op == "=":
            op = "=="
        if op not in COMPARISONS:
            raise WhereError(f"Comparison operator expected after '{name}', found '{op}'")
        literal = self.literal()
        return _compare(name, field, op, literal)

    def method(self, name: str, field: Field) -> Predicate:
        self.expect(".")
        method = self.take()[1]
        test = STRING_METHODS.get(method.lower())
        if test is None or field.kind != "string":
            raise WhereError(f"No applicable method '{method}' exists on '{name}'")
        self.expect("(")
        kind, text = self.take()
        if kind != "string":
            raise WhereError(f"'{method}' takes a string")
        self.expect(")")
        argument = _unquote(text)
        return lambda r: test(field.get(r) or "", argument)

    def literal(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            return _unquote(text)
        if kind == "number":
            return Decimal(text)
        word = text.lower()
        if word in ("true", "false"):
            return word == "true"
        if word == "null":
            return None
        if word == "datetime":
            return self.datetime_literal()
        if word == "guid":
            self.expect("(")
            kind, value = self.take()
            self.expect(")")
            if kind != "string":
                raise WhereError("Guid takes a quoted value")
            return _Guid(_unquote(value).lower())
        raise WhereError(f"Literal expected, found '{text}'")

    def datetime_literal(self) -> datetime:
        self.expect("(")
        parts = []
        while True:
            kind, text = self.take()
            if kind != "number":
                raise WhereError("DateTime takes numbers")
            parts.append(int(text))
            kind, text = self.take()
            if text == ")":
                break
            if text != ",":
                raise WhereError("',' or ')' expected in DateTime")
        if len(parts) not in (3, 6):
            raise WhereError("DateTime takes year, month, day and optionally hour, minute, second")
        try:
            return datetime(*parts, tzinfo=UTC)
        except ValueError as error:
            raise WhereError(f"Invalid DateTime: {error}") from error


class _Guid(str):
    """A Guid("...") literal: compares with guid fields (and, leniently, with strings)."""


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _coerce(name: str, field: Field, literal: Any) -> Any:
    if literal is None:
        return None
    kind = field.kind
    if kind in ("string", "guid") and isinstance(literal, str):
        return literal.lower() if kind == "guid" else literal
    if kind == "number" and isinstance(literal, Decimal):
        return literal
    if kind == "bool" and isinstance(literal, bool):
        return literal
    if kind == "date" and isinstance(literal, datetime):
        return literal.date()
    if kind == "datetime" and isinstance(literal, datetime):
        return literal
    raise WhereError(f"Operator incompatible with operand types of '{name}' and {literal!r}")


def _compare(name: str, field: Field, op: str, literal: Any) -> Predicate:
    value = _coerce(name, field, literal)
    if op not in ("==", "!=") and (value is None or field.kind in ("string", "guid", "bool")):
        raise WhereError(f"Operator '{op}' is not defined for '{name}'")
    get = field.get
    if field.kind == "guid":
        original = get

        def get(record: Any) -> Any:
            found = original(record)
            return found.lower() if isinstance(found, str) else found

    if op == "==":
        return lambda r: get(r) == value
    if op == "!=":
        return lambda r: get(r) != value

    def ordered(record: Any) -> bool:
        found = get(record)
        if found is None:
            return False
        if op == ">":
            return found > value
        if op == ">=":
            return found >= value
        if op == "<":
            return found < value
        return found <= value

    return ordered


def compile_where(text: str, fields: Mapping[str, Field], type_name: str) -> Predicate:
    """A predicate over records for `text`; WhereError when it is not supported."""
    if not text.strip():
        return lambda record: True
    return _Parser(text, fields, type_name).parse()
