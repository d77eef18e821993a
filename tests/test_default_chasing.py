"""Every new organisation starts with the best-practice templates and schedule as its own rows."""

from sqlmodel import select

from duely.models import Schedule, ScheduleStep, Template
from duely.reminders.rendering import check_template


def test_a_new_organisation_gets_the_default_chasing_set_up(db, org_a, org_b):
    templates = db.exec(select(Template).where(Template.organisation_id == org_a.id)).all()
    assert len(templates) == 5
    assert all(check_template(t.subject, t.body) == [] for t in templates)
    [schedule] = db.exec(select(Schedule).where(Schedule.organisation_id == org_a.id)).all()
    assert schedule.is_default and schedule.name == "Standard"
    steps = db.exec(
        select(ScheduleStep)
        .where(ScheduleStep.schedule_id == schedule.id)
        .order_by(ScheduleStep.position)
    ).all()
    assert [s.offset_days for s in steps] == [-3, 0, 3, 14, 30, 37]
    assert [s.channel for s in steps][-1] == "call_task" and steps[-1].template_id is None
    assert steps[3].repeat_every_days == 7 and steps[3].repeat_max_times == 2
    assert steps[4].recipient_kind == "escalated"
    own = {t.id for t in templates}
    assert {s.template_id for s in steps[:-1]} <= own  # org A's steps use org A's templates
