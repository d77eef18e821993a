"""What every new organisation starts with: five reminder templates and the "Standard" schedule.

Plain data only; the module that sets an organisation up writes it into the database. Each
template reads well for one invoice and, through `{% if invoices|length > 1 %}`, for the
combined email that lists several invoices of one customer (see duely.reminders.rendering).
Body lines are wrapped short, as plain-text email is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TemplatePlan:
    name: str
    tone: str
    subject: str
    body: str


@dataclass(frozen=True)
class StepPlan:
    offset_days: int
    """Days from the due date; negative sends before the invoice is due."""
    template: str | None
    """Name of a TemplatePlan; None for a call task, which a person carries out."""
    channel: str = "email"
    recipient_kinds: tuple[str, ...] = ("normal",)
    repeat_every_days: int | None = None
    repeat_max_times: int | None = None


@dataclass(frozen=True)
class SchedulePlan:
    name: str
    steps: tuple[StepPlan, ...]


BEFORE_DUE = TemplatePlan(
    name="Before due",
    tone="friendly",
    subject=(
        "{% if invoices|length > 1 %}{{ invoices|length }} invoices due soon: {{ total_due }}"
        "{% else %}Invoice {{ invoice.number }} is due on {{ invoice.due_date }}{% endif %}"
    ),
    body="""\
Hello {{ contact.first_name or "there" }},

{% if invoices|length > 1 %}
A quick note ahead of the due dates of these invoices, in case it helps with
your next payment run:

{% for item in invoices %}
- Invoice {{ item.number }}, due {{ item.due_date }}: {{ item.amount_due }}
{% endfor %}

Total: {{ total_due }}
{% else %}
A quick note that invoice {{ invoice.number }} for {{ invoice.amount_due }} is due
on {{ invoice.due_date }}, in case it helps with your next payment run.
{% endif %}

If you would like to pay online, you can do so here:
{{ payment_link }}

If anything doesn't look right, or you need a copy of an invoice, just reply
to this email and I'll be happy to help.

Kind regards,

{{ sender.name }}
{{ sender.business }}
""",
)

DUE_TODAY = TemplatePlan(
    name="Due today",
    tone="friendly",
    subject=(
        "{% if invoices|length > 1 %}Invoices now due: {{ total_due }}"
        "{% else %}Invoice {{ invoice.number }} is due today{% endif %}"
    ),
    body="""\
Hello {{ contact.first_name or "there" }},

{% if invoices|length > 1 %}
Just a reminder that the following invoices are now due for payment:

{% for item in invoices %}
- Invoice {{ item.number }}, due {{ item.due_date }}: {{ item.amount_due }}
{% endfor %}

Total: {{ total_due }}
{% else %}
Just a reminder that invoice {{ invoice.number }} for {{ invoice.amount_due }}
is due for payment today, {{ invoice.due_date }}.
{% endif %}

You can pay online here:
{{ payment_link }}

If payment is already on its way, thank you, and please ignore this email.
If there is a problem, reply and let me know; I'm glad to help.

Kind regards,

{{ sender.name }}
{{ sender.business }}
""",
)

FRIENDLY_OVERDUE = TemplatePlan(
    name="Friendly overdue",
    tone="friendly",
    subject=(
        "{% if invoices|length > 1 %}Reminder: {{ total_due }} outstanding"
        "{% else %}Reminder: invoice {{ invoice.number }} was due on {{ invoice.due_date }}"
        "{% endif %}"
    ),
    body="""\
Hello {{ contact.first_name or "there" }},

{% if invoices|length > 1 %}
Our records show the following invoices as still unpaid, so I wanted to check
that they haven't gone astray:

{% for item in invoices %}
- Invoice {{ item.number }}, due {{ item.due_date }}: {{ item.amount_due }}
{% endfor %}

Total: {{ total_due }}
{% else %}
Our records show invoice {{ invoice.number }} for {{ invoice.amount_due }},
due on {{ invoice.due_date }}, as still unpaid, so I wanted to check that it
hasn't gone astray.
{% endif %}

You can pay online in a couple of minutes here:
{{ payment_link }}

If you've paid in the last few days, thank you; our emails have probably
crossed. If a query is holding things up, just reply and we'll sort it out
together.

Kind regards,

{{ sender.name }}
{{ sender.business }}
""",
)

FIRM_OVERDUE = TemplatePlan(
    name="Firm overdue",
    tone="firm",
    subject=(
        "{% if invoices|length > 1 %}Overdue balance on your account: {{ total_due }}"
        "{% else %}Overdue: invoice {{ invoice.number }}, {{ invoice.amount_due }}{% endif %}"
    ),
    body="""\
Dear {{ contact.first_name or "Sir or Madam" }},

{% if invoices|length > 1 %}
The following invoices are overdue, and I have not yet received payment or
heard from you about them:

{% for item in invoices %}
- Invoice {{ item.number }}, due {{ item.due_date }}: {{ item.amount_due }}
{% endfor %}

Total: {{ total_due }}
{% else %}
Invoice {{ invoice.number }} for {{ invoice.amount_due }} was due on
{{ invoice.due_date }} and is now {{ invoice.days_overdue }} days overdue.
I have not yet received payment or heard from you about it.
{% endif %}

Please arrange payment within the next seven days. You can pay online here:
{{ payment_link }}

If something is stopping payment, such as a question about an invoice or a
cash-flow difficulty, please reply or give me a call so that we can agree
a way forward. I would much rather hear from you than keep sending reminders.

If you have paid in the meantime, thank you, and please accept my apologies
for this email.

Kind regards,

{{ sender.name }}
{{ sender.business }}
""",
)

FINAL_NOTICE = TemplatePlan(
    name="Final notice",
    tone="final",
    subject=(
        "{% if invoices|length > 1 %}Final notice: {{ total_due }} overdue"
        "{% else %}Final notice: invoice {{ invoice.number }}, {{ invoice.amount_due }} overdue"
        "{% endif %}"
    ),
    body="""\
Dear {{ contact.first_name or "Sir or Madam" }},

{% if invoices|length > 1 %}
Despite our earlier reminders, the following invoices to {{ customer.name }}
remain unpaid:

{% for item in invoices %}
- Invoice {{ item.number }}, due {{ item.due_date }}: {{ item.amount_due }}
{% endfor %}

Total: {{ total_due }}
{% else %}
Despite our earlier reminders, invoice {{ invoice.number }} to {{ customer.name }}
for {{ invoice.amount_due }}, due on {{ invoice.due_date }}, remains unpaid.
It is now {{ invoice.days_overdue }} days overdue.
{% endif %}

Please pay the balance in full within seven days, here:
{{ payment_link }}

If we have not received payment or heard from you by then, a member of our
team will call you to discuss it. If there is a reason you cannot pay, please
tell us now: we would much rather agree a plan with you than take the matter
further.

If you have already paid, thank you; please let me know the date and amount
so that I can match the payment to your account.

Kind regards,

{{ sender.name }}
{{ sender.business }}
""",
)

DEFAULT_TEMPLATES: tuple[TemplatePlan, ...] = (
    BEFORE_DUE,
    DUE_TODAY,
    FRIENDLY_OVERDUE,
    FIRM_OVERDUE,
    FINAL_NOTICE,
)

DEFAULT_SCHEDULE = SchedulePlan(
    name="Standard",
    steps=(
        StepPlan(-3, BEFORE_DUE.name),
        StepPlan(0, DUE_TODAY.name),
        StepPlan(3, FRIENDLY_OVERDUE.name),
        # Repeats at +21 and +28 days, both before the final notice.
        StepPlan(14, FIRM_OVERDUE.name, repeat_every_days=7, repeat_max_times=2),
        StepPlan(30, FINAL_NOTICE.name, recipient_kinds=("normal", "escalated")),
        # The phone call the final notice promises, a week later, made by a person.
        StepPlan(37, None, channel="call_task"),
    ),
)
