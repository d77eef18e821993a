"""Webhooks' follow-up work (duely.web.webhooks.after_answers) waits for the answers."""

from __future__ import annotations

import asyncio

from duely.web.webhooks.after_answers import AfterAnswers


async def test_follow_up_work_waits_until_no_webhook_is_being_answered():
    gate = AfterAnswers(patience=30)
    ran: list[str] = []

    async def follow_up(name: str) -> None:
        async with gate.turn():
            ran.append(name)

    with gate.answering():
        with gate.answering():
            task = asyncio.create_task(follow_up("dispatch"))
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.05)
        assert ran == [], "follow-up work ran while a webhook was still being answered"
    await asyncio.wait_for(task, 1)
    assert ran == ["dispatch"]


async def test_follow_up_work_runs_at_once_when_nothing_is_being_answered():
    gate = AfterAnswers(patience=30)
    async with asyncio.timeout(0.5):
        async with gate.turn():
            pass


async def test_a_stream_of_webhooks_does_not_starve_follow_up_work():
    gate = AfterAnswers(patience=0.1)
    with gate.answering():
        async with asyncio.timeout(2):
            async with gate.turn():
                pass


async def test_follow_up_work_runs_a_few_at_a_time():
    gate = AfterAnswers(at_once=2, patience=30)
    inside, most = 0, 0

    async def follow_up() -> None:
        nonlocal inside, most
        async with gate.turn():
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.02)
            inside -= 1

    await asyncio.gather(*(follow_up() for _ in range(6)))
    assert most == 2
