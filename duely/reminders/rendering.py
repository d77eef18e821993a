"""Reminder emails from the organisation's own templates: rendered in Jinja's sandbox, checked
on save against a sample customer so that a mistake never reaches a customer at send time.

Any signed-in person can preview a template, so filling one in is bounded: each rendering runs
in a process of its own (duely.reminders.isolation) that is stopped after RENDER_SECONDS and has
a memory ceiling, and inside it the sandbox caps loops, range(), text made with `*` or `+`,
and the length of what comes out. Breaking a limit is a TemplateTooLarge saying which, in words for
the person editing the template.
"""

from __future__ import annotations

import difflib
import re
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from datetime import date
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, TypeVar

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateAssertionError, TemplateRuntimeError
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from duely.core.money import format_money
from duely.receivables.aging import days_overdue
from duely.reminders.isolation import MEMORY_MB, Died, Overstayed, run_isolated

# --- limits --------------------------------------------------------------------------------------
# A real reminder is a few hundred words about at most a few hundred invoices and fills in within
# milliseconds. Each limit is far beyond that, and low enough that no template can hold up the
# web server or a worker (security issue 12).

RENDER_SECONDS = 2.0
"""How long filling in one template may take; a real one takes a few milliseconds. (Its
memory is bounded too: duely.reminders.isolation.MEMORY_MB.)"""
MAX_LOOP_STEPS = 10_000
"""Steps of all loops of one template together (a loop in a loop multiplies): listing every
open invoice of a customer with two thousand of them, a few fields each, stays under it."""
MAX_RANGE = 1_000
"""Numbers one range() may count: a reminder has little use for counting at all."""
MAX_TEXT = 100_000
"""Characters (or list items) that `*` or `+` may make: no more than a whole body may hold."""
MAX_SUBJECT = 500
"""Characters of a filled-in subject: the outbox keeps 500, and mail clients show about 80."""
MAX_BODY = 100_000
"""Characters of a filled-in body, about 15,000 words: a combined email listing a thousand
invoices is a fifth of it."""


class TemplateTooLarge(Exception):
    """Filling the template in broke one of the limits above; the words say which."""

    def __init__(self, why: str) -> None:
        super().__init__(why)  # only `why`, so that it crosses from the renderer process intact
        self.why = why

    def __str__(self) -> str:
        return f"The template is too large to send: {self.why}."


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
    Placeholder("invoice.online_url", "The invoice online in your accounts (may be empty)", "https://invoices.example.com/INV-1042"),
    Placeholder(
        "invoices",
        "Every invoice the email covers, oldest first; each has the fields of invoice",
        "INV-1042, INV-1057 and INV-1063",
    ),
    Placeholder("total_due", "Total still to pay, per currency", "GBP 1,714.50 and EUR 300.00"),
    Placeholder("customer.credit", "Credit not set against an invoice yet", "GBP 120.00"),
    Placeholder("net_due", "Total still to pay less that credit", "GBP 1,594.50 and EUR 300.00"),
    Placeholder("payment_link", "Where the customer pays online", "https://pay.example.com/r/8f3a2c"),
    Placeholder("sender.name", "Your name, for the signature", "Priya Shah"),
    Placeholder("sender.business", "Your organisation's name", "Harbour Lane Supplies Ltd"),
)  # fmt: skip
_NAMES = tuple(p.name for p in PLACEHOLDERS)
ONLINE_URL = "online_url"
"""The field that makes the outbox ask the ledger for each invoice's online page."""
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
    online_url: str = ""


@dataclass(frozen=True)
class ReminderContext:
    """Everything one reminder is about, raw; formatting for people happens in rendering."""

    contact: ContactPerson
    customer_name: str
    invoices: tuple[InvoiceLine, ...]
    payment_link: str
    sender: Sender
    today: date
    credit: tuple[tuple[str, int], ...] = ()
    """(currency, minor units) the customer has as credit, not yet set against an invoice."""
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

    def __reduce__(self) -> tuple[type, tuple[str]]:
        # Rebuilt from the placeholder alone when it comes back from the renderer process.
        return (type(self), (self.placeholder,))


class _Fields(SimpleNamespace):
    """One placeholder object (`invoice`, `contact`, ...) that knows its own name."""

    def __init__(self, owner: str, **fields: Any) -> None:
        super().__init__(**fields)
        self._owner = owner  # underscore names are out of a sandboxed template's reach


class _StrictPlaceholders(StrictUndefined):
    """A misspelt placeholder is an error naming it in full ("invoice.numbr"), never a gap."""

    __slots__ = ()

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = missing,
        name: str | None = None,
        exc: type[TemplateRuntimeError] = UndefinedError,
    ) -> None:
        # A hint means Jinja or the sandbox already explains the failure (SecurityError).
        super().__init__(hint, obj, name, exc if hint else UnknownPlaceholder)

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        owner = getattr(self._undefined_obj, "_owner", None)
        return f"{owner}.{self._undefined_name}" if owner else str(self._undefined_name)


@dataclass
class _Budget:
    loop_steps: int = 0


_BUDGET: ContextVar[_Budget] = ContextVar("template_budget")
"""What the rendering under way has spent; `_fill` starts each rendering with a fresh one."""
_CHARGED = "_charged_loop"
"""The filter every `{% for %}` is compiled through (see `_LoopsCharged`)."""


class _Charged:
    """The items of one loop, each step charged to the rendering's budget."""

    def __init__(self, items: Any) -> None:
        self._items = items

    def __len__(self) -> int:  # so that `loop.length` does not read the items twice
        return len(self._items)

    def __iter__(self) -> Iterator[Any]:
        budget = _BUDGET.get()
        for item in self._items:
            budget.loop_steps += 1
            if budget.loop_steps > MAX_LOOP_STEPS:
                raise TemplateTooLarge(
                    f"loops may repeat at most {MAX_LOOP_STEPS:,} times in all"
                    " (a loop inside a loop multiplies)"
                )
            yield item


class _LoopsCharged(CodeGenerator):
    """Compiles `{% for x in items %}` as `{% for x in items|_charged_loop %}`: the sandbox has
    no hook for loops, and one loop of a small list inside another soon runs for ever."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, _CHARGED, [], [], None, None, lineno=loop.lineno)
        super().visit_Template(node, frame)


def _range(*args: int) -> range:
    numbers = range(*args)
    try:
        too_many = len(numbers) > MAX_RANGE
    except OverflowError:  # more numbers than Python can count
        too_many = True
    if too_many:
        raise TemplateTooLarge(f"range() may count at most {MAX_RANGE:,} numbers")
    return numbers


def _length_made(operator: str, left: Any, right: Any) -> int:
    """How long `left <operator> right` would be for text and lists (0 for numbers)."""
    sequences = (str, list, tuple)
    if operator == "+" and isinstance(left, sequences) and isinstance(right, sequences):
        return len(left) + len(right)
    if operator == "*":
        for sequence, times in ((left, right), (right, left)):
            if isinstance(sequence, sequences) and isinstance(times, int):
                return len(sequence) * times
    return 0


class _ReminderSandbox(ImmutableSandboxedEnvironment):
    code_generator_class = _LoopsCharged
    # `*` and `+` are measured before they run: 'x' * 10**9 is one step, not a loop.
    intercepted_binops = frozenset({"**", "*", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _range  # instead of the sandbox's own, which allows 100,000
        self.filters[_CHARGED] = _Charged

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            # One template must not be able to stall every organisation's sending with 9**9**9.
            raise SecurityError("raising to a power is not allowed in a template")
        if _length_made(operator, left, right) > MAX_TEXT:
            raise TemplateTooLarge(
                f"text or a list made with {operator} may hold at most {MAX_TEXT:,}"
                " characters or items"
            )
        return super().call_binop(context, operator, left, right)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        if isinstance(obj, LoopContext) and args:  # `loop(children)` in a recursive loop
            args = (_Charged(args[0]), *args[1:])
        return super().call(context, obj, *args, **kwargs)


_T = TypeVar("_T")
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
    credit: Mapping[str, int] | None = None,
) -> ReminderContext:
    """A reminder's context from duely's records (organisation, customer, its first normal
    contact, invoices, credit by currency); the outbox and the editor's "preview with real
    data" both use it."""
    return ReminderContext(
        contact=ContactPerson(contact.first_name, contact.last_name)
        if contact
        else ContactPerson(customer.name),
        customer_name=customer.name,
        invoices=tuple(
            InvoiceLine(
                i.number, i.due_date, i.currency, i.total, i.amount_due, i.reference, i.online_url
            )
            for i in invoices
        ),
        payment_link=payment_link,
        sender=Sender(organisation.sender, organisation.name),
        today=today,
        credit=tuple(sorted((credit or {}).items())),
    )


def format_date(day: date) -> str:
    """A date as people write it: `3 November 2026`."""
    return f"{day.day} {day:%B %Y}"


def render(subject: str, body: str, context: ReminderContext) -> RenderedMessage:
    """Fill a template in for one customer. Raises TemplateTooLarge when it breaks a limit and
    Jinja's errors otherwise; `check_template` on save is what keeps them from happening here.

    It waits for a renderer process (up to RENDER_SECONDS): call it off the event loop.
    """
    return _isolated(_render_here, subject, body, context)


def _isolated(work: Callable[..., _T], *args: Any) -> _T:
    """`work(*args)` in a process of its own (duely.reminders.isolation), stopped after
    RENDER_SECONDS."""
    try:
        return run_isolated(RENDER_SECONDS, work, *args)
    except Overstayed:
        raise TemplateTooLarge(
            f"it takes longer than {RENDER_SECONDS:g} seconds to fill in"
        ) from None
    except Died:
        raise TemplateTooLarge("filling it in stopped the renderer") from None


def check_template(subject: str, body: str) -> list[TemplateProblem]:
    """Every problem a person must fix before saving, in words they can act on.

    Like `render`, it waits for renderer processes: call it off the event loop.
    """
    return _checked("subject", subject) + _checked("body", body)


def sample_context(multi: bool) -> ReminderContext:
    """A realistic customer for previews and checks: one invoice, or three in two currencies."""
    invoices = (
        InvoiceLine(
            "INV-1042",
            date(2026, 11, 3),
            "GBP",
            150000,
            123450,
            "PO-7781",
            "https://invoices.example.com/INV-1042",
        ),
    )
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
        credit=(("GBP", 12000),),
    )


# --- in the renderer process ---------------------------------------------------------------------

_MOST = {"subject": MAX_SUBJECT, "body": MAX_BODY}


def _render_here(subject: str, body: str, context: ReminderContext) -> RenderedMessage:
    variables = _variables(context)
    return RenderedMessage(
        subject=" ".join(_fill("subject", subject, variables).split()),
        body=re.sub(r"\n{3,}", "\n\n", _fill("body", body, variables)).strip(),
    )


def _fill(part: str, source: str, variables: dict[str, Any]) -> str:
    """The part filled in with a fresh loop budget, refused once it grows past its limit."""
    most, length, chunks = _MOST[part], 0, []
    budget = _BUDGET.set(_Budget())
    try:
        for chunk in _compiled(source).generate(variables):
            length += len(chunk)
            if length > most:
                raise TemplateTooLarge(f"the {part} may be at most {most:,} characters long")
            chunks.append(chunk)
    except MemoryError:
        raise TemplateTooLarge(f"it needs more than {MEMORY_MB} MB of memory to fill in") from None
    finally:
        _BUDGET.reset(budget)
    return "".join(chunks)


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
    credit = dict(context.credit)
    net = {currency: max(0, due - credit.get(currency, 0)) for currency, due in totals.items()}
    return {
        "contact": _Fields("contact", **asdict(context.contact), full_name=full_name),
        "customer": _Fields(
            "customer",
            name=context.customer_name,
            credit=_and_list([format_money(amount, cur) for cur, amount in context.credit]),
        ),
        "invoice": invoices[0],
        "invoices": invoices,
        # Amounts in different currencies are never added together.
        "total_due": _and_list([format_money(amount, cur) for cur, amount in totals.items()]),
        "net_due": _and_list([format_money(amount, cur) for cur, amount in net.items()]),
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
        online_url=line.online_url,
    )


def _and_list(items: list[str]) -> str:
    if not items:
        return ""
    return " and ".join(filter(None, (", ".join(items[:-1]), items[-1])))


def _checked(part: str, source: str) -> list[TemplateProblem]:
    try:
        return _isolated(_check_part, part, source)
    except TemplateTooLarge as exc:  # the renderer was stopped: too slow, or it died
        return [TemplateProblem(part, str(exc))]


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
            _fill(part, source, _variables(sample_context(multi)))
        except UnknownPlaceholder as exc:
            # Rendering stops at the first gap; the reading above already named it in the
            # template's own words (`item.numbr`, not `invoice.numbr`) if it could.
            line = _template_line(exc)
            if line not in {problem.line for problem in problems}:
                owner, _, name = exc.placeholder.rpartition(".")
                problems.append(_unknown(part, line, owner, name, _FIELDS.get(owner, _ANY_NAME)))
        except SecurityError as exc:
            problems.append(_failed(part, exc, "This is not allowed in a template"))
        except TemplateTooLarge as exc:
            line = _template_line(exc)
            problems.append(TemplateProblem(part, f"{_at(line)}{exc}", line))
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
