"""Security issue 12, finding 3: no template can stall the server.

Any signed-in person, viewers included, may preview a template. Each probe found by probing
(a 2,500 x 2,500 nested loop, range() of 100,000 x 100,000, `'x' * 20000000`) now answers at
once with a problem saying which limit it breaks, and a save is refused with it; a template
that simply runs long is stopped after RENDER_SECONDS in its renderer process while /healthz
goes on answering; and one that breaks a limit at send time fails its message, saying why.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import Awaitable
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from duely.models import Event, ScheduleStep, Template
from duely.reminders import rendering as templates
from duely.reminders.rendering import (
    MAX_BODY,
    RENDER_SECONDS,
    ContactPerson,
    InvoiceLine,
    ReminderContext,
    Sender,
    TemplateTooLarge,
    check_template,
    render,
    sample_context,
)
from duely.web.app import create_app
from duely.web.pages.templates_editor import STARTER
from tests.chase.conftest import (  # noqa: F401 - `harness` is a fixture used below
    DUE,
    at_london,
    customer_with_contact,
    english_org,
    harness,
)
from tests.conftest import csrf_from, login
from tests.factories import add_invoice
from tests.serving import serve, shut
from tests.test_chasing_editors import HTMX, post, template_form, template_named
from tests.waiting import eventually

TOO_LARGE = "The template is too large to send: "

# Each probe, and the words the editor answers it with.
PROBES = {
    "nested loop": (
        "{% for i in [0] * 2500 %}{% for j in [0] * 2500 %}.{% endfor %}{% endfor %}",
        "loops may repeat at most 10,000 times in all (a loop inside a loop multiplies)",
    ),
    # Nothing is written inside: the old code kept every piece written, 10**10 of them.
    "range": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "range() may count at most 1,000 numbers",
    ),
    "string multiplication": (
        "{{ 'x' * 20000000 }}",
        "text or a list made with * may hold at most 100,000 characters or items",
    ),
    "text doubled with +": (
        "{% set ns = namespace(s=invoice.number) %}"
        "{% for i in range(20) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "text or a list made with + may hold at most 100,000 characters or items",
    ),
    "long output": (
        "{% for i in range(1000) %}{{ invoice.number * 1000 }}{% endfor %}",
        "the body may be at most 100,000 characters long",
    ),
}

# Two calls per level, 22 levels: about four million macro calls, under every counted limit,
# that take Jinja many seconds (the old code rendered it on the event loop, four times over).
SLOW = "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(22) }}"
TOO_SLOW = f"it takes longer than {RENDER_SECONDS:g} seconds to fill in"


def problems_shown(response) -> list[str]:
    """The problems of a preview fragment, as the person reads them."""
    found = re.search(r'<ul class="problems">(.*?)</ul>', html.unescape(response.text), re.S)
    return re.findall(r"<li>(.*?)</li>", found.group(1), re.S) if found else []


@pytest.mark.parametrize("probe", PROBES)
async def test_each_probe_is_a_clear_problem_in_the_preview(client, org_a, probe):
    await login(client, org_a.viewer)  # any role may preview
    body, why = PROBES[probe]
    form = {"subject": "Hi {{ invoice.number }}", "body": body}
    response = await post(client, "/settings/templates/preview", form, htmx=True)
    assert response.status_code == 200
    [problem] = problems_shown(response)
    assert problem.startswith("Body: ") and problem.endswith(f"{TOO_LARGE}{why}.")
    assert '<article class="pane">' not in response.text  # nothing was filled in


@pytest.mark.parametrize("probe", PROBES)
async def test_saving_a_probe_is_refused_with_its_problem(client, db, org_a, probe):
    await login(client, org_a.admin)
    template = template_named(db, org_a.id, "Due today")
    body, why = PROBES[probe]
    form = template_form(template, body=body)
    response = await post(client, f"/settings/templates/{template.id}", form, htmx=True)
    assert response.status_code == 422
    shown = re.search(
        r'<ul class="problems" id="body-problems">(.*?)</ul>', html.unescape(response.text), re.S
    )
    assert shown, "the problem is shown under the body"
    assert f"{TOO_LARGE}{why}." in shown.group(1)
    assert template_named(db, org_a.id, "Due today").body == template.body


async def test_healthz_answers_while_a_slow_preview_is_stopped(settings, org_a, monkeypatch):
    """Through the real app on a real socket, in this test's event loop: a preview rendered on
    that loop would hold up the test too, and /healthz would only answer after it."""
    rendering: list[tuple] = []  # what renderer processes are at work on now
    real_run_isolated = templates.run_isolated

    def run_isolated(seconds, work, *args):
        rendering.append(args)
        try:
            return real_run_isolated(seconds, work, *args)
        finally:
            rendering.remove(args)

    monkeypatch.setattr(templates, "run_isolated", run_isolated)
    served = await serve(create_app(settings))
    answered_at: dict[str, float] = {}

    async def ask(name: str, request: Awaitable[httpx.Response]) -> httpx.Response:
        response = await request
        answered_at[name] = time.monotonic()
        return response

    try:
        async with httpx.AsyncClient(base_url=served.url) as browser:
            await login(browser, org_a.viewer)
            token = csrf_from((await browser.get("/settings/schedules")).text)
            headers = {**HTMX, "x-csrftoken": token}
            form = {"subject": "Hi", "body": SLOW}
            request = browser.post("/settings/templates/preview", data=form, headers=headers)
            preview = asyncio.create_task(ask("preview", request))
            await eventually(
                lambda: any(SLOW in args for args in rendering),
                "the slow preview never reached a renderer",
                every=0.01,
            )
            health = await ask("healthz", browser.get("/healthz"))
            stopped = await preview
    finally:
        await shut(served)

    assert health.status_code in (200, 503)  # up or degraded: either way it answered
    assert answered_at["healthz"] < answered_at["preview"]
    assert stopped.status_code == 200
    assert problems_shown(stopped) == [f"Body: {TOO_LARGE}{TOO_SLOW}."]


@pytest.mark.skipif(
    not Path("/proc/self/statm").exists(),
    reason="/proc/self/statm is missing (not Linux): the memory ceiling is read from /proc",
)
def test_a_template_needing_too_much_memory_is_refused():
    # One step, in C, that neither loops nor multiplies: only the renderer's ceiling stops it.
    [problem] = check_template("Hi", "{{ '{:>900000000}'.format(invoice.number)|length }}")
    assert problem.message == f"{TOO_LARGE}it needs more than 256 MB of memory to fill in."


def test_render_raises_the_limit_it_breaks():
    with pytest.raises(TemplateTooLarge, match="range"):
        render("Hi", PROBES["range"][0], sample_context(multi=False))
    with pytest.raises(TemplateTooLarge, match=re.escape(TOO_SLOW)):
        render("Hi", SLOW, sample_context(multi=False))
    too_long = "{% for i in range(100) %}{{ invoice.number }}{% endfor %}"
    with pytest.raises(TemplateTooLarge, match="the subject may be at most 500 characters"):
        render(too_long, "Body", sample_context(multi=False))
    # The renderer stopped for overstaying is replaced: the next rendering works.
    assert render("Hi", "{{ invoice.number }}", sample_context(multi=False)).body == "INV-1042"


def test_the_limits_leave_room_for_a_customer_with_a_thousand_invoices():
    day = date(2026, 1, 1)
    invoices = tuple(
        InvoiceLine(f"INV-{n:05}", day + timedelta(days=n % 300), "GBP", 12_345, 12_345)
        for n in range(1000)
    )
    context = ReminderContext(
        contact=ContactPerson("Jo"),
        customer_name="Big Buyer Ltd",
        invoices=invoices,
        payment_link="https://pay.example.com/r/x",
        sender=Sender("Alex Reid", "Reid Joinery"),
        today=date(2027, 1, 1),
    )
    rendered = render(STARTER.subject, STARTER.body, context)
    assert rendered.body.count("- Invoice INV-") == 1000
    assert len(rendered.body) < MAX_BODY


async def test_a_limit_broken_at_send_time_fails_the_message(harness, org_a, db):  # noqa: F811
    """A template saved before the limits existed: its reminder fails, visibly, at once."""
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "limits")
    first_step = db.exec(
        select(ScheduleStep)
        .where(ScheduleStep.organisation_id == org_a.id)
        .order_by(ScheduleStep.position)
    ).first()
    template = db.get(Template, first_step.template_id)
    template.body = PROBES["string multiplication"][0]
    db.commit()
    invoice = add_invoice(db, customer, "INV-HUGE", 0, due_date=DUE)
    await harness.start(invoice)
    await harness.skip_to(at_london(date(2027, 3, 12), 12))  # the first step's Friday

    why = f"{TOO_LARGE}{PROBES['string multiplication'][1]}."
    (message,) = harness.messages(customer)
    assert (message.status, message.error) == ("failed", why)
    assert harness.mail.received == []
    db.expire_all()
    failed = db.exec(
        select(Event.detail).where(Event.invoice_id == invoice.id, Event.kind == "reminder_failed")
    ).all()
    assert [detail.endswith(f"failed: {why}") for detail in failed] == [True]
