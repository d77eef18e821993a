"""Reminder emails from the organisation's own templates: rendered in Jinja's sandbox, checked
on save against a sample customer so that a mistake never reaches a customer at send time.
"""

from __future__ import annotations

import difflib
import re
import traceback
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError, TemplateAssertionError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from duely.aging import days_overdue
from duely.money import format_money


@dataclass(frozen=True)
class Placeholder:
    name: str
    description: str
    example: str


# The one list of what a template may use; the editor shows it as "available placeholders".
# The examples are what the sample customer (`sample_context(multi=True)`) renders.
# `invoices` is the list behind the combined email for several invoices of one customer.
PLACEHOLDERS: tuple[Placeholder, ...] = (
    Placeholder("contact.first_name", "First name of the person the email goes to", "Sam"),
    Placeholder("contact.last_name", "Last name of the person the email goes to", "Okafor"),
    Placeholder("contact.full_name", "First and last name together", "Sam Okafor"),
    Placeholder("customer.name", "The customer's company name", "Northwind Joinery Ltd"),
    Placeholder("invoice.number", "Invoice number (the oldest, if several)", "INV-1042"),
    Placeholder("invoice.amount_due", "What is left to pay, with currency", "GBP 1,234.50"),
    Placeholder("invoice.total", "The invoice total before any part payment", "GBP 1,500.00"),
    Placeholder("invoice.due_date", "The date payment was due", "3 November 2026"),
    Placeholder("invoice.days_overdue", "Days since the due date (0 until due)", "14"),
    Placeholder("invoice.reference", "The customer's own reference, e.g. PO number", "PO-7781"),
    Placeholder(
        "invoices",
        "Every invoice the email covers, oldest first; each has the fields of invoice",
        "INV-1042, INV-1057 and INV-1063",
    ),
    Placeholder("total_due", "Total still to pay, per currency", "GBP 1,714.50 and EUR 300.00"),
    Placeholder("payment_link", "Where the customer pays online", "https://pay.example.com/r/8f3a2c"),
    Placeholder("sender.name", "Your name, for the signature", "Priya Shah"),
    Placeholder("sender.business", "Your organisation's name", "Harbour Lane Supplies Ltd"),
)  # fmt: skip
_NAMES = tuple(p.name for p in PLACEHOLDERS)
_TOP_LEVEL = frozenset(name.partition(".")[0] for name in _NAMES)
_DOTTED = [name.split(".") for name in _NAMES if "." in name]
_FIELDS = {head: {field for h, field in _DOTTED if h == head} for head, _ in _DOTTED}
"""The fields of each object placeholder: {"invoice": {"number", ...}, "contact": {...}, ...}"""
_ANY_NAME = tuple(sorted(_TOP_LEVEL.union(_NAMES)))


@dataclass(frozen=True)
class ContactPerson:
    first_name: str
    last_name: str = ""


@dataclass(frozen=True)
class Sender:
    name: str
    business: str


@dataclass(frozen=True)
class InvoiceLine:
    """One invoice as the ledger holds it: amounts in minor units of `currency`."""

    number: str
    due_date: date
    currency: str
    total: int
    amount_due: int
    reference: str = ""


@dataclass(frozen=True)
class ReminderContext:
    """Everything one reminder is about, raw; formatting for people happens in rendering."""

    contact: ContactPerson
    customer_name: str
    invoices: tuple[InvoiceLine, ...]
    payment_link: str
    sender: Sender
    today: date
    """The sending day in the customer's time zone; days overdue count to it."""


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body: str


@dataclass(frozen=True)
class TemplateProblem:
    part: str
    """"subject" or "body"."""
    message: str
    line: int | None = None
    placeholder: str | None = None
    suggestion: str | None = None


class UnknownPlaceholder(UndefinedError):
    def __init__(self, placeholder: str) -> None:
        super().__init__(f"unknown placeholder {placeholder!r}")
        self.placeholder = placeholder


class _Fields(SimpleNamespace):
    """One placeholder object (`invoice`, `contact`, ...) that knows its own name."""

    def __init__(self, owner: str, **fields: Any) -> None:
        super().__init__(**fields)
        self._owner = owner  # underscore names are out of a sandboxed template's reach


class _StrictPlaceholders(StrictUndefined):
    """A misspelt placeholder is an error naming it in full ("invoice.numbr"), never a gap."""

    __slots__ = ()

    def __init__(self, hint=None, obj=missing, name=None, exc=UndefinedError) -> None:
        # A hint means Jinja or the sandbox already explains the failure (SecurityError).
        super().__init__(hint, obj, name, exc if hint else UnknownPlaceholder)

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        owner = getattr(self._undefined_obj, "_owner", None)
        return f"{owner}.{self._undefined_name}" if owner else str(self._undefined_name)


class _ReminderSandbox(ImmutableSandboxedEnvironment):
    # One template must not be able to stall every organisation's sending with 9**9**9.
    intercepted_binops = frozenset({"**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        raise SecurityError("raising to a power is not allowed in a template")


_MARKS_HINT = "Check that each {{ is closed by }} and each {% by %}, on this line or above."

# Plain text: no HTML escaping; block tags on their own line leave no blank line behind.
_ENV = _ReminderSandbox(
    undefined=_StrictPlaceholders, autoescape=False, trim_blocks=True, lstrip_blocks=True
)


def context_for(
    organisation: Any,
    customer: Any,
    contact: Any | None,
    invoices: Iterable[Any],
    payment_link: str,
    today: date,
) -> ReminderContext:
    """A reminder's context from duely's records (organisation, customer, its first normal
    contact, invoices); the outbox and the editor's "preview with real data" both use it."""
    return ReminderContext(
        contact=ContactPerson(contact.first_name, contact.last_name)
        if contact
        else ContactPerson(customer.name),
        customer_name=customer.name,
        invoices=tuple(
            InvoiceLine(i.number, i.due_date, i.currency, i.total, i.amount_due, i.reference)
            for i in invoices
        ),
        payment_link=payment_link,
        sender=Sender(organisation.sender_name or organisation.name, organisation.name),
        today=today,
    )


def format_date(day: date) -> str:
    """A date as people write it: `3 November 2026`."""
    return f"{day.day} {day:%B %Y}"


def render(subject: str, body: str, context: ReminderContext) -> RenderedMessage:
    """Fill a template in for one customer. Raises Jinja's errors; `check_template` on save
    is what keeps them from happening here.
    """
    variables = _variables(context)
    return RenderedMessage(
        subject=" ".join(_compiled(subject).render(variables).split()),
        body=re.sub(r"\n{3,}", "\n\n", _compiled(body).render(variables)).strip(),
    )


def check_template(subject: str, body: str) -> list[TemplateProblem]:
    """Every problem a person must fix before saving, in words they can act on."""
    return _check_part("subject", subject) + _check_part("body", body)


def sample_context(multi: bool) -> ReminderContext:
    """A realistic customer for previews and checks: one invoice, or three in two currencies."""
    invoices = (InvoiceLine("INV-1042", date(2026, 11, 3), "GBP", 150000, 123450, "PO-7781"),)
    if multi:
        invoices += (
            InvoiceLine("INV-1057", date(2026, 11, 10), "GBP", 48000, 48000),
            InvoiceLine("INV-1063", date(2026, 11, 20), "EUR", 30000, 30000, "PO-7790"),
        )
    return ReminderContext(
        contact=ContactPerson("Sam", "Okafor"),
        customer_name="Northwind Joinery Ltd",
        invoices=invoices,
        payment_link="https://pay.example.com/r/8f3a2c",
        sender=Sender("Priya Shah", "Harbour Lane Supplies Ltd"),
        today=date(2026, 11, 17),
    )


@lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    return _ENV.from_string(source)


def _variables(context: ReminderContext) -> dict[str, Any]:
    if not context.invoices:
        raise ValueError("a reminder covers at least one invoice")
    lines = sorted(context.invoices, key=lambda line: (line.due_date, line.number))
    invoices = [_invoice_fields(line, context.today) for line in lines]
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.currency] = totals.get(line.currency, 0) + line.amount_due
    full_name = " ".join(filter(None, (context.contact.first_name, context.contact.last_name)))
    return {
        "contact": _Fields("contact", **asdict(context.contact), full_name=full_name),
        "customer": _Fields("customer", name=context.customer_name),
        "invoice": invoices[0],
        "invoices": invoices,
        # Amounts in different currencies are never added together.
        "total_due": _and_list([format_money(amount, cur) for cur, amount in totals.items()]),
        "payment_link": context.payment_link,
        "sender": _Fields("sender", **asdict(context.sender)),
    }


def _invoice_fields(line: InvoiceLine, today: date) -> _Fields:
    return _Fields(
        "invoice",
        number=line.number,
        amount_due=format_money(line.amount_due, line.currency),
        total=format_money(line.total, line.currency),
        due_date=format_date(line.due_date),
        days_overdue=days_overdue(line.due_date, today),
        reference=line.reference,
    )


def _and_list(items: list[str]) -> str:
    return " and ".join(filter(None, (", ".join(items[:-1]), items[-1])))


def _check_part(part: str, source: str) -> list[TemplateProblem]:
    if not source.strip():
        return [TemplateProblem(part, f"The {part} is empty.")]
    try:
        _compiled(source)
    except TemplateSyntaxError as exc:
        hint = "" if isinstance(exc, TemplateAssertionError) else f" {_MARKS_HINT}"
        message = f"{_at(exc.lineno)}{exc.message.rstrip('.')}.{hint}"
        return [TemplateProblem(part, message, exc.lineno)]
    problems = _misspelt(part, _ENV.parse(source))
    for multi in (False, True):
        try:
            _compiled(source).render(_variables(sample_context(multi)))
        except UnknownPlaceholder as exc:
            # Rendering stops at the first gap; the reading above already named it in the
            # template's own words (`item.numbr`, not `invoice.numbr`) if it could.
            line = _template_line(exc)
            if line not in {problem.line for problem in problems}:
                owner, _, name = exc.placeholder.rpartition(".")
                problems.append(_unknown(part, line, owner, name, _FIELDS.get(owner, _ANY_NAME)))
        except SecurityError as exc:
            problems.append(_failed(part, exc, "This is not allowed in a template"))
        except Exception as exc:  # any failure on the sample would fail at send time too
            problems.append(_failed(part, exc, "This could not be filled in"))
    return list(dict.fromkeys(problems))


def _misspelt(part: str, tree: nodes.Template) -> list[TemplateProblem]:
    """Unknown placeholders found by reading rather than rendering, so that a typo inside an
    `{% if %}` branch the sample customer does not reach is still caught.
    """
    undeclared = meta.find_undeclared_variables(tree) - _TOP_LEVEL
    found = [
        _unknown(part, node.lineno, "", node.name, _ANY_NAME)
        for node in tree.find_all(nodes.Name)
        if node.name in undeclared
    ]
    owners = {head: head for head in _FIELDS}  # and the loop names of `{% for x in invoices %}`
    for loop in tree.find_all(nodes.For):
        if isinstance(loop.target, nodes.Name) and getattr(loop.iter, "name", "") == "invoices":
            owners[loop.target.name] = "invoice"
    for node in tree.find_all(nodes.Getattr):
        written = node.node.name if isinstance(node.node, nodes.Name) else ""
        fields = _FIELDS.get(owners.get(written, ""), set())
        # Underscore names are left to the sandbox, which refuses them as "not allowed".
        if fields and node.attr not in fields and node.attr[0] != "_":
            found.append(_unknown(part, node.lineno, written, node.attr, fields))
    return sorted(found, key=lambda problem: problem.line or 0)


def _unknown(
    part: str, line: int | None, owner: str, name: str, choices: Iterable[str]
) -> TemplateProblem:
    """`owner.name` (or `name` alone) is no placeholder; suggest the closest of `choices`."""
    placeholder = f"{owner}.{name}" if owner else name
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    suggestion = (f"{owner}.{close[0]}" if owner else close[0]) if close else None
    hint = f'Did you mean "{suggestion}"?' if suggestion else "See the available placeholders."
    message = f'{_at(line)}"{placeholder}" is not a placeholder. {hint}'
    return TemplateProblem(part, message, line, placeholder, suggestion)


def _failed(part: str, exc: Exception, summary: str) -> TemplateProblem:
    line = _template_line(exc)
    return TemplateProblem(part, f"{_at(line)}{summary} ({str(exc).rstrip('.')}).", line)


def _at(line: int | None) -> str:
    return f"Line {line}: " if line else ""


def _template_line(exc: Exception) -> int | None:
    """The template line being rendered when `exc` was raised (Jinja rewrites the traceback)."""
    frames = traceback.extract_tb(exc.__traceback__)
    lines = [frame.lineno for frame in frames if frame.filename == "<template>"]
    return lines[-1] if lines else None
