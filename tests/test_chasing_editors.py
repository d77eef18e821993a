"""The schedule and template editors, their previews, and a customer's schedule select.

Admins change; viewers and collectors read and preview. Nothing is saved when any part of a
submitted form is wrong, and another organisation's ids are a plain 404.
"""

from __future__ import annotations

import html
import re
from datetime import time

import pytest
from sqlmodel import select

from duely.models import Contact, Organisation, Schedule, ScheduleStep, Template
from tests.conftest import csrf_from, login
from tests.factories import add_customer, add_invoice

HTMX = {"HX-Request": "true"}


# --- helpers -------------------------------------------------------------------------------------


async def post(client, url: str, data: dict, htmx: bool = False):
    """Post a form as the browser would: with the CSRF token a page of the app carries."""
    token = csrf_from((await client.get("/settings/schedules")).text)
    if htmx:
        return await client.post(url, data=data, headers={**HTMX, "x-csrftoken": token})
    return await client.post(url, data={**data, "_csrf_token": token}, follow_redirects=False)


def default_schedule(db, org_id: int) -> Schedule:
    return db.exec(
        select(Schedule).where(Schedule.organisation_id == org_id, Schedule.is_default)
    ).one()


def steps_of(db, schedule_id: int) -> list[ScheduleStep]:
    db.expire_all()
    statement = (
        select(ScheduleStep)
        .where(ScheduleStep.schedule_id == schedule_id)
        .order_by(ScheduleStep.position)
    )
    return list(db.exec(statement).all())


def template_named(db, org_id: int, name: str) -> Template:
    db.expire_all()
    return db.exec(
        select(Template).where(Template.organisation_id == org_id, Template.name == name)
    ).one()


def step_form(steps: list[dict]) -> dict:
    """Editor fields for `steps` (dicts of StepInput fields), numbered as the page numbers them."""
    form = {}
    for row, step in enumerate(steps):
        for name, value in step.items():
            form[f"step-{row}-{name}"] = "" if value is None else str(value)
    return form


def as_typed(step: ScheduleStep) -> dict:
    return {
        "id": step.id,
        "offset_days": step.offset_days,
        "channel": step.channel,
        "template_id": step.template_id,
        "recipient_kind": step.recipient_kind,
        "repeat_every_days": step.repeat_every_days,
        "repeat_max_times": step.repeat_max_times,
    }


def table_rows(page: str, table_class: str) -> list[list[str]]:
    """The body rows of `<table class=...>` as lists of cell texts (tags dropped)."""
    table = re.search(rf'<table class="{table_class}">(.*?)</table>', page, re.S)
    assert table, f"no {table_class} table in the page"
    body = table.group(1).split("<tbody>", 1)[1]
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        rows.append([" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells])
    return rows


@pytest.fixture
def owing(db, org_a):
    """A customer of org A with two open invoices, a paid one and a settled open one."""
    customer = add_customer(db, org_a.id, "Harbour Fabrics")
    db.add(
        Contact(
            organisation_id=org_a.id, customer_id=customer.id, first_name="Esme", kind="escalated"
        )
    )
    db.add(
        Contact(organisation_id=org_a.id, customer_id=customer.id, first_name="Ada", kind="normal")
    )
    db.commit()
    add_invoice(db, customer, "HF-101", days_overdue=20, amount=45_000)
    add_invoice(db, customer, "HF-102", days_overdue=2, amount=12_345, currency="EUR")
    add_invoice(db, customer, "HF-099", days_overdue=40, status="paid")
    add_invoice(db, customer, "HF-098", days_overdue=50, amount=0)
    return customer


# --- schedules: list, create, rename, default, delete --------------------------------------------


async def test_list_shows_schedules_their_steps_and_customers(client, db, org_a):
    add_customer(db, org_a.id, "Follows Default")
    await login(client, org_a.viewer)
    page = await client.get("/settings/schedules")
    assert page.status_code == 200
    assert 'href="/settings/schedules">Chasing</a>' in page.text  # the navigation link
    (row,) = table_rows(page.text, "schedules")
    assert row[0] == "Standard default"
    assert row[1].startswith("6 steps: −3d email · due day email · +3d email")
    assert "+14d email, every 7d ×2" in row[1]
    assert "+37d call task" in row[1]
    assert row[2] == "1 1 by default"
    assert "Only an admin can change schedules" in page.text
    assert "Create schedule" not in page.text


async def test_new_schedule_starts_as_a_copy_of_the_default_or_empty(client, db, org_a):
    await login(client, org_a.admin)
    copied = await post(client, "/settings/schedules", {"name": " Gentle  touch ", "start": "copy"})
    assert copied.status_code == 303
    gentle = db.exec(select(Schedule).where(Schedule.name == "Gentle touch")).one()
    assert copied.headers["location"] == f"/settings/schedules/{gentle.id}"
    assert not gentle.is_default
    standard = steps_of(db, default_schedule(db, org_a.id).id)
    copies = steps_of(db, gentle.id)
    assert [(s.offset_days, s.template_id) for s in copies] == [
        (s.offset_days, s.template_id) for s in standard
    ]
    assert not {s.id for s in copies} & {s.id for s in standard}

    empty = await post(client, "/settings/schedules", {"name": "Blank", "start": "empty"})
    assert empty.status_code == 303
    blank = db.exec(select(Schedule).where(Schedule.name == "Blank")).one()
    assert steps_of(db, blank.id) == []

    taken = await post(client, "/settings/schedules", {"name": "gentle TOUCH", "start": "copy"})
    assert taken.status_code == 422
    assert "already called" in html.unescape(taken.text)
    assert 'value="gentle TOUCH"' in taken.text
    assert len(db.exec(select(Schedule).where(Schedule.organisation_id == org_a.id)).all()) == 3


async def test_rename_refuses_an_empty_or_taken_name(client, db, org_a):
    await login(client, org_a.admin)
    await post(client, "/settings/schedules", {"name": "Gentle", "start": "empty"})
    gentle = db.exec(select(Schedule).where(Schedule.name == "Gentle")).one()
    refused = await post(client, f"/settings/schedules/{gentle.id}/rename", {"name": "standard"})
    assert refused.status_code == 422
    assert "already called" in html.unescape(refused.text)
    assert (
        await post(client, f"/settings/schedules/{gentle.id}/rename", {"name": " "})
    ).status_code == 422
    done = await post(client, f"/settings/schedules/{gentle.id}/rename", {"name": "Soft"})
    assert done.status_code == 303
    db.refresh(gentle)
    assert gentle.name == "Soft"


async def test_make_default_leaves_exactly_one_default(client, db, org_a, org_b):
    await login(client, org_a.admin)
    await post(client, "/settings/schedules", {"name": "Firm", "start": "copy"})
    firm = db.exec(select(Schedule).where(Schedule.name == "Firm")).one()
    standard = default_schedule(db, org_a.id)

    def defaults(org_id: int) -> list[int]:
        db.expire_all()
        statement = select(Schedule.id).where(
            Schedule.organisation_id == org_id, Schedule.is_default
        )
        return list(db.exec(statement).all())

    assert (await post(client, f"/settings/schedules/{firm.id}/default", {})).status_code == 303
    assert defaults(org_a.id) == [firm.id]
    assert (await post(client, f"/settings/schedules/{standard.id}/default", {})).status_code == 303
    assert defaults(org_a.id) == [standard.id]
    assert len(defaults(org_b.id)) == 1  # another organisation's default is untouched
    page = await client.get("/settings/schedules")
    assert page.text.count('<span class="badge default">default</span>') == 1


async def test_delete_is_refused_for_the_default_and_while_customers_use_it(client, db, org_a):
    await login(client, org_a.admin)
    standard = default_schedule(db, org_a.id)
    refused = await post(client, f"/settings/schedules/{standard.id}/delete", {})
    assert refused.status_code == 409
    assert "is the default schedule" in html.unescape(refused.text)

    await post(client, "/settings/schedules", {"name": "Spare", "start": "copy"})
    spare = db.exec(select(Schedule).where(Schedule.name == "Spare")).one()
    customer = add_customer(db, org_a.id, "Loyal Ltd", schedule_id=spare.id)
    refused = await post(client, f"/settings/schedules/{spare.id}/delete", {})
    assert refused.status_code == 409
    assert "1 customer follow “Spare”" in html.unescape(refused.text)
    assert db.get(Schedule, spare.id) is not None

    customer.schedule_id = None
    db.add(customer)
    db.commit()
    deleted = await post(client, f"/settings/schedules/{spare.id}/delete", {})
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/settings/schedules?deleted=true"
    assert db.exec(select(Schedule).where(Schedule.id == spare.id)).first() is None
    assert steps_of(db, spare.id) == []


# --- schedules: the steps editor -----------------------------------------------------------------


async def test_invalid_steps_are_explained_inline_and_nothing_is_saved(client, db, org_a):
    await login(client, org_a.admin)
    schedule = default_schedule(db, org_a.id)
    before = [as_typed(s) for s in steps_of(db, schedule.id)]
    template = template_named(db, org_a.id, "Due today")
    typed = [
        {**before[0], "offset_days": "-5"},
        {"offset_days": "1", "channel": "email", "template_id": "", "recipient_kind": "normal"},
        {
            "offset_days": "9",
            "channel": "sms",
            "template_id": template.id,
            "recipient_kind": "normal",
            "repeat_every_days": "7",
            "repeat_max_times": "",
        },
        {"offset_days": "4", "channel": "call_task", "template_id": "", "recipient_kind": "normal"},
    ]
    for htmx in (False, True):
        response = await post(
            client, f"/settings/schedules/{schedule.id}/steps", step_form(typed), htmx
        )
        assert response.status_code == 422
        text = html.unescape(response.text)
        assert "Nothing was saved" in text
        assert "Choose the template this Email uses." in text
        assert "To repeat, fill in both" in text
        assert "Day 4 comes before the step above it (day 9)" in text
        # What the user typed comes back, including the half-filled repeat.
        assert 'name="step-0-offset_days" value="-5"' in text
        assert 'name="step-2-repeat_every_days" value="7"' in text
        assert 'name="step-1-offset_days" value="1"' in text
        # The problems sit right under their own step.
        rows = re.findall(
            r'<tr id="step-(\d)"[^>]*>.*?</tr>\s*(<tr class="step-errors">.*?</tr>)?', text, re.S
        )
        flagged = {row for row, errors in rows if errors}
        assert flagged == {"1", "2", "3"}
        assert ("<html" in text) is not htmx
    assert [as_typed(s) for s in steps_of(db, schedule.id)] == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"repeat_every_days": "0", "repeat_max_times": "2"},
            "Enter the interval between 1 and 365.",
        ),
        ({"repeat_every_days": "", "repeat_max_times": "2"}, "To repeat, fill in both"),
        ({"offset_days": "soon"}, "Enter the day from the due date as a whole number."),
        ({"channel": "call_task"}, "A call task has no template"),
        ({"template_id": "999999"}, "Choose one of your templates."),
        ({"recipient_kind": "everyone"}, "Choose who receives this step."),
    ],
)
async def test_each_step_rule_is_enforced(client, db, org_a, change, message):
    await login(client, org_a.admin)
    schedule = default_schedule(db, org_a.id)
    before = [as_typed(s) for s in steps_of(db, schedule.id)]
    typed = [{**before[0], **change}, *before[1:]]
    response = await post(
        client, f"/settings/schedules/{schedule.id}/steps", step_form(typed), True
    )
    assert response.status_code == 422
    assert message in html.unescape(response.text)
    assert [as_typed(s) for s in steps_of(db, schedule.id)] == before


async def test_valid_steps_are_saved_in_order_and_keep_their_ids(client, db, org_a):
    await login(client, org_a.admin)
    schedule = default_schedule(db, org_a.id)
    before = steps_of(db, schedule.id)
    firm = template_named(db, org_a.id, "Firm overdue")
    typed = [
        {**as_typed(before[0]), "offset_days": "-7"},
        {**as_typed(before[2]), "repeat_every_days": "3", "repeat_max_times": "0"},
        {
            "id": "",
            "offset_days": "45",
            "channel": "sms",
            "template_id": firm.id,
            "recipient_kind": "escalated",
            "repeat_every_days": "",
            "repeat_max_times": "",
        },
    ]
    response = await post(
        client, f"/settings/schedules/{schedule.id}/steps", step_form(typed), True
    )
    assert response.status_code == 200
    assert "Steps saved." in response.text
    assert response.headers["HX-Trigger"] == "schedule-saved"
    after = steps_of(db, schedule.id)
    assert [(s.position, s.offset_days, s.channel) for s in after] == [
        (0, -7, "email"),
        (1, 3, "email"),
        (2, 45, "sms"),
    ]
    assert after[0].id == before[0].id and after[1].id == before[2].id
    assert (after[1].repeat_every_days, after[1].repeat_max_times) == (3, 0)
    assert (after[2].template_id, after[2].recipient_kind) == (firm.id, "escalated")


async def test_add_move_and_remove_change_the_form_only(client, db, org_a):
    await login(client, org_a.admin)
    schedule = default_schedule(db, org_a.id)
    before = [as_typed(s) for s in steps_of(db, schedule.id)]
    url = f"/settings/schedules/{schedule.id}/steps"

    added = await post(client, url, {**step_form(before), "action": "add"}, htmx=True)
    assert added.status_code == 200
    assert added.text.lstrip().startswith('<form id="steps-form"')
    assert 'name="step-6-offset_days" value="44"' in added.text  # a week after the last step
    assert "Not saved yet" in added.text

    moved = await post(client, url, {**step_form(before), "action": "down:0"})
    assert moved.status_code == 200 and "<html" in moved.text  # a plain post gets the page
    assert f'name="step-0-id" value="{before[1]["id"]}"' in moved.text
    assert f'name="step-1-id" value="{before[0]["id"]}"' in moved.text

    removed = await post(client, url, {**step_form(before), "action": "remove:5"}, htmx=True)
    assert "step-5-offset_days" not in removed.text
    assert [as_typed(s) for s in steps_of(db, schedule.id)] == before


# --- schedules: the preview ----------------------------------------------------------------------


async def test_preview_lists_every_send_in_local_time(client, db, org_a):
    await login(client, org_a.viewer)
    schedule = default_schedule(db, org_a.id)
    # Due Tuesday 17 November 2026: the -3 step falls on Saturday 14th and goes on Monday 16th.
    moved = "moved from Saturday 14 November 2026"
    page = await client.get(f"/settings/schedules/{schedule.id}?due_date=2026-11-17")
    assert page.status_code == 200
    assert table_rows(page.text, "plan") == [
        ["1", "first", f"16 November 2026 {moved}", "Monday", "09:00 GMT", "Email", "Before due"],
        ["2", "first", "17 November 2026", "Tuesday", "09:00 GMT", "Email", "Due today"],
        ["3", "first", "20 November 2026", "Friday", "09:00 GMT", "Email", "Friendly overdue"],
        ["4", "first", "1 December 2026", "Tuesday", "09:00 GMT", "Email", "Firm overdue"],
        ["4", "repeat 1", "8 December 2026", "Tuesday", "09:00 GMT", "Email", "Firm overdue"],
        ["4", "repeat 2", "15 December 2026", "Tuesday", "09:00 GMT", "Email", "Firm overdue"],
        ["5", "first", "17 December 2026", "Thursday", "09:00 GMT", "Email", "Final notice"],
        ["6", "first", "24 December 2026", "Thursday", "09:00 GMT", "Call task", "—"],
    ]  # fmt: skip


async def test_preview_fragment_follows_the_due_date(client, db, org_a):
    await login(client, org_a.viewer)
    schedule = default_schedule(db, org_a.id)
    url = f"/settings/schedules/{schedule.id}/preview"
    # Due Friday 1 May 2026: the -3 step is Tuesday 28 April, the due-day step is the Friday
    # and day +3 is Monday 4 May, the early May bank holiday, so it goes out on the 5th.
    fragment = await client.get(f"{url}?due_date=2026-05-01", headers=HTMX)
    assert fragment.text.lstrip().startswith('<div id="schedule-preview"')
    rows = table_rows(fragment.text, "plan")
    assert [row[2] for row in rows[:3]] == [
        "28 April 2026",
        "1 May 2026",
        "5 May 2026 moved from Monday 4 May 2026",
    ]
    assert rows[0][4] == "09:00 BST"
    wrong = await client.get(f"{url}?due_date=next+week", headers=HTMX)
    assert "is not a date" in html.unescape(wrong.text)


async def test_preview_uses_the_organisations_window_zone_and_holidays(client, db, org_a):
    organisation = db.get(Organisation, org_a.id)
    organisation.country, organisation.timezone = "US", "America/New_York"
    organisation.send_window_start = time(8, 30)
    db.add(organisation)
    db.commit()
    await login(client, org_a.viewer)
    schedule = default_schedule(db, org_a.id)
    # Due Monday 23 November 2026; day +3 is Thanksgiving, so that step waits for the Friday.
    url = f"/settings/schedules/{schedule.id}/preview?due_date=2026-11-23"
    rows = table_rows((await client.get(url, headers=HTMX)).text, "plan")
    assert [(row[2], row[3], row[4]) for row in rows[:3]] == [
        ("20 November 2026", "Friday", "08:30 EST"),
        ("23 November 2026", "Monday", "08:30 EST"),
        ("27 November 2026 moved from Thursday 26 November 2026", "Friday", "08:30 EST"),
    ]


# --- templates -----------------------------------------------------------------------------------


def template_form(template: Template, **changes) -> dict:
    return {
        "name": template.name,
        "tone": template.tone,
        "subject": template.subject,
        "body": template.body,
        **changes,
    }


async def test_a_misspelt_placeholder_is_refused_and_not_saved(client, db, org_a):
    await login(client, org_a.admin)
    template = template_named(db, org_a.id, "Due today")
    body = "Hello {{ contact.first_name }},\n\nHi again {{ contact.frist_name }}.\n"
    for htmx in (False, True):
        response = await post(
            client, f"/settings/templates/{template.id}", template_form(template, body=body), htmx
        )
        assert response.status_code == 422
        text = html.unescape(response.text)
        assert "Not saved" in text
        assert (
            'Line 3: "contact.frist_name" is not a placeholder. Did you mean "contact.first_name"?'
            in text
        )
        assert "Hi again {{ contact.frist_name }}." in text  # the typed body comes back
    assert template_named(db, org_a.id, "Due today").body == template.body


async def test_an_unclosed_placeholder_is_refused_and_not_saved(client, db, org_a):
    await login(client, org_a.admin)
    template = template_named(db, org_a.id, "Due today")
    form = template_form(template, subject="Invoice {{ invoice.number", name="Renamed")
    response = await post(client, f"/settings/templates/{template.id}", form, htmx=True)
    assert response.status_code == 422
    problems = re.search(
        r'<ul class="problems" id="subject-problems">(.*?)</ul>', response.text, re.S
    )
    assert problems, "the problem is shown under the subject"
    assert "Line 1:" in problems.group(1)
    assert "Check that each {{ is closed by }}" in html.unescape(problems.group(1))
    saved = template_named(db, org_a.id, "Due today")
    assert (saved.name, saved.subject) == (template.name, template.subject)


async def test_a_valid_edit_is_saved(client, db, org_a):
    await login(client, org_a.admin)
    template = template_named(db, org_a.id, "Due today")
    form = template_form(
        template,
        name="Due today (short)",
        tone="firm",
        subject="Invoice {{ invoice.number }} is due",
        body="Hello {{ contact.first_name }},\r\n\r\nPlease pay: {{ payment_link }}\r\n",
    )
    response = await post(client, f"/settings/templates/{template.id}", form, htmx=True)
    assert response.status_code == 200
    assert "Template saved." in response.text
    assert response.text.lstrip().startswith('<form id="template-form"')
    db.expire_all()
    saved = db.get(Template, template.id)
    assert (saved.name, saved.tone, saved.subject) == (
        "Due today (short)",
        "firm",
        "Invoice {{ invoice.number }} is due",
    )
    assert saved.body == "Hello {{ contact.first_name }},\n\nPlease pay: {{ payment_link }}\n"


async def test_new_template_is_checked_then_created(client, db, org_a):
    await login(client, org_a.admin)
    page = await client.get("/settings/templates/new")
    assert page.status_code == 200
    assert "contact.first_name" in page.text and "First name of the person" in page.text
    count = len(db.exec(select(Template).where(Template.organisation_id == org_a.id)).all())
    form = {"name": "Nudge", "tone": "friendly", "subject": "{{ invoice.numbr }}", "body": "Hi"}
    refused = await post(client, "/settings/templates/new", form)
    assert refused.status_code == 422
    assert 'Did you mean "invoice.number"?' in html.unescape(refused.text)
    assert len(db.exec(select(Template).where(Template.organisation_id == org_a.id)).all()) == count
    created = await post(
        client, "/settings/templates/new", {**form, "subject": "{{ invoice.number }}"}
    )
    assert created.status_code == 303
    nudge = template_named(db, org_a.id, "Nudge")
    assert created.headers["location"] == f"/settings/templates/{nudge.id}?saved=true"
    taken = await post(
        client, "/settings/templates/new", {**form, "name": "nudge", "subject": "Hi"}
    )
    assert taken.status_code == 422 and "already called" in html.unescape(taken.text)


async def test_preview_renders_samples_and_a_real_customers_open_invoices(client, db, org_a, owing):
    await login(client, org_a.viewer)  # previewing changes nothing: any role may
    form = {
        "subject": "{{ invoices|length }} for {{ customer.name }}",
        "body": (
            "Dear {{ contact.first_name }},\n{% for item in invoices %}"
            "{{ item.number }}: {{ item.amount_due }}\n{% endfor %}Total {{ total_due }}"
        ),
        "preview_customer_id": str(owing.id),
    }
    response = await post(client, "/settings/templates/preview", form, htmx=True)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="template-preview"')
    panes = re.findall(r'<article class="pane">(.*?)</article>', html.unescape(response.text), re.S)
    assert len(panes) == 3
    assert "INV-1042" in panes[0] and "INV-1063" not in panes[0]
    assert "INV-1063" in panes[1]
    real = panes[2]
    assert "Harbour Fabrics (real data)" in real
    assert "2 for Harbour Fabrics" in real
    assert "Dear Ada," in real  # the first normal contact, not the escalation one
    assert "HF-101: GBP 450.00" in real and "HF-102: EUR 123.45" in real
    assert "HF-099" not in real and "HF-098" not in real  # paid, and nothing left to pay
    assert real.index("HF-101") < real.index("HF-102")  # oldest first


async def test_preview_shows_problems_instead_of_rendering(client, org_a):
    await login(client, org_a.collector)
    form = {"subject": "Hi", "body": "{{ invoice.amount_dew }}"}
    response = await post(client, "/settings/templates/preview", form, htmx=True)
    assert response.status_code == 200
    assert 'Did you mean "invoice.amount_due"?' in html.unescape(response.text)
    assert '<article class="pane">' not in response.text


async def test_editor_page_works_without_javascript(client, db, org_a, owing):
    await login(client, org_a.admin)
    template = template_named(db, org_a.id, "Friendly overdue")
    page = await client.get(f"/settings/templates/{template.id}")
    assert "INV-1042" in page.text  # the saved text is previewed at once
    assert f'<option value="{owing.id}" >Harbour Fabrics</option>' in page.text
    form = {
        **template_form(template, subject="Unsaved {{ invoice.number }}"),
        "template_id": str(template.id),
        "preview_customer_id": str(owing.id),
    }
    preview = await post(client, "/settings/templates/preview", form)
    assert preview.status_code == 200 and "<html" in preview.text
    assert "Unsaved HF-101" in preview.text
    assert 'value="Unsaved {{ invoice.number }}"' in html.unescape(preview.text)
    assert template_named(db, org_a.id, "Friendly overdue").subject == template.subject


async def test_a_template_in_use_cannot_be_deleted(client, db, org_a):
    await login(client, org_a.admin)
    used = template_named(db, org_a.id, "Before due")
    refused = await post(client, f"/settings/templates/{used.id}/delete", {})
    assert refused.status_code == 409
    assert "is used by the schedule “Standard”" in html.unescape(refused.text)
    assert template_named(db, org_a.id, "Before due").id == used.id

    await post(
        client,
        "/settings/templates/new",
        {"name": "Spare", "tone": "firm", "subject": "Hi", "body": "Hi"},
    )
    spare = template_named(db, org_a.id, "Spare")
    deleted = await post(client, f"/settings/templates/{spare.id}/delete", {})
    assert deleted.status_code == 303
    assert db.exec(select(Template).where(Template.id == spare.id)).first() is None


# --- a customer's schedule -----------------------------------------------------------------------


async def test_admin_assigns_a_customer_schedule(client, db, org_a, owing):
    await login(client, org_a.admin)
    await post(client, "/settings/schedules", {"name": "Key accounts", "start": "copy"})
    key = db.exec(select(Schedule).where(Schedule.name == "Key accounts")).one()
    page = await client.get(f"/customers/{owing.id}")
    assert "Organisation default (Standard)" in page.text
    url = f"/customers/{owing.id}/schedule"

    plain = await post(client, url, {"schedule_id": str(key.id)})
    assert plain.status_code == 303 and plain.headers["location"] == f"/customers/{owing.id}"
    db.refresh(owing)
    assert owing.schedule_id == key.id
    assert (
        f'<option value="{key.id}" selected>' in (await client.get(f"/customers/{owing.id}")).text
    )

    swapped = await post(client, url, {"schedule_id": ""}, htmx=True)
    assert swapped.status_code == 200 and "Saved." in swapped.text
    assert swapped.text.lstrip().startswith('<div id="customer-schedule">')
    db.refresh(owing)
    assert owing.schedule_id is None


# --- organisations and roles ---------------------------------------------------------------------


async def test_another_organisations_ids_are_not_found(client, db, org_a, org_b):
    schedule_b = default_schedule(db, org_b.id)
    template_b = template_named(db, org_b.id, "Due today")
    customer_b = add_customer(db, org_b.id, "Bravo Customer")
    add_invoice(db, customer_b, "B-1", days_overdue=3)
    await login(client, org_a.admin)
    for url in (
        f"/settings/schedules/{schedule_b.id}",
        f"/settings/schedules/{schedule_b.id}/preview",
        f"/settings/templates/{template_b.id}",
    ):
        assert (await client.get(url)).status_code == 404, url
    for url, data in (
        (f"/settings/schedules/{schedule_b.id}/steps", {"action": "save"}),
        (f"/settings/schedules/{schedule_b.id}/rename", {"name": "Mine now"}),
        (f"/settings/schedules/{schedule_b.id}/default", {}),
        (f"/settings/schedules/{schedule_b.id}/delete", {}),
        (f"/settings/templates/{template_b.id}", template_form(template_b, name="Mine")),
        (f"/settings/templates/{template_b.id}/delete", {}),
        (
            "/settings/templates/preview",
            {"subject": "Hi", "body": "Hi", "preview_customer_id": str(customer_b.id)},
        ),
        (f"/customers/{customer_b.id}/schedule", {"schedule_id": ""}),
    ):
        assert (await post(client, url, data)).status_code == 404, url
    # Org A's customer cannot be put on org B's schedule either.
    customer_a = add_customer(db, org_a.id, "Alpha Customer")
    refused = await post(
        client,
        f"/customers/{customer_a.id}/schedule",
        {"schedule_id": str(schedule_b.id)},
        htmx=True,
    )
    assert refused.status_code == 422
    db.refresh(customer_a)
    assert customer_a.schedule_id is None
    db.expire_all()
    assert db.get(Schedule, schedule_b.id).name == "Standard"
    assert steps_of(db, schedule_b.id) and db.get(Template, template_b.id).name == "Due today"


@pytest.mark.parametrize("role", ["viewer", "collector"])
async def test_only_admins_change_anything(client, db, org_a, owing, role):
    await login(client, getattr(org_a, role))
    schedule = default_schedule(db, org_a.id)
    template = template_named(db, org_a.id, "Due today")
    page = await client.get(f"/settings/schedules/{schedule.id}")
    assert page.status_code == 200
    assert "Only an admin can change the steps" in page.text
    assert (await client.get(f"/settings/templates/{template.id}")).status_code == 200
    before = [as_typed(s) for s in steps_of(db, schedule.id)]
    for url, data in (
        (f"/settings/schedules/{schedule.id}/steps", {**step_form(before[:1]), "action": "save"}),
        (f"/settings/schedules/{schedule.id}/steps", {**step_form(before), "action": "add"}),
        ("/settings/schedules", {"name": "Mine", "start": "copy"}),
        (f"/settings/schedules/{schedule.id}/rename", {"name": "Mine"}),
        (f"/settings/schedules/{schedule.id}/default", {}),
        (f"/settings/templates/{template.id}", template_form(template, name="Mine")),
        ("/settings/templates/new", template_form(template, name="Mine")),
        (f"/settings/templates/{template.id}/delete", {}),
        (f"/customers/{owing.id}/schedule", {"schedule_id": str(schedule.id)}),
    ):
        assert (await post(client, url, data)).status_code == 403, url
    assert [as_typed(s) for s in steps_of(db, schedule.id)] == before
    assert template_named(db, org_a.id, "Due today").subject == template.subject
    db.refresh(owing)
    assert owing.schedule_id is None
