"""Escalation you cannot miss (issue 13): P0 tells itself apart from P2 without colour, the
bell rings for a new P0 (configurable), and new-approval toasts never cover the work at
80x24 (the header says it instead). Real engine, real app under Pilot."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.console.widgets.header import StatusHeader
from switchboard.engine.config import ConsoleConfig
from switchboard.engine.engine import Engine
from switchboard.engine.tasks import TaskSpec
from tests.console.fixtures import settle
from tests.console.test_workflow import app_for

World = tuple[Engine, dict[str, Any]]


def header_of(app: Any) -> str:
    return app.screen.query_one(StatusHeader).render().plain


def count_bells(app: Any) -> list[int]:
    rung: list[int] = []
    app.bell = lambda: rung.append(1)  # the terminal's bell: observed, not replaced
    return rung


async def new_approval(engine: Engine, pilot: Any, priority: str) -> None:
    task, _ = await engine.tasks.create(TaskSpec(type="deployment", priority=priority))
    assert task.approval_id
    await settle(pilot, seq=engine.bus.last_seq)


async def test_p0_rings_and_flashes_in_the_header_without_a_toast_at_80x24(world: World) -> None:
    engine, _ = world
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3", "slash")  # the filter hint is at the bottom, where toasts go
        rung = count_bells(app)
        await new_approval(engine, pilot, "P1")
        assert rung == []  # P1: no bell by default
        await new_approval(engine, pilot, "P0")
        assert rung == [1]
        header = header_of(app)
        assert "NEW" in header and "P0" in header and "CRITICAL" in header, header
        assert len(app._notifications) == 0  # nothing covers the filter hint


async def test_toast_where_there_is_room_and_bell_configurable(world: World) -> None:
    engine, _ = world
    app = app_for(engine, config=ConsoleConfig(bell_priorities=[]))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        rung = count_bells(app)
        await new_approval(engine, pilot, "P0")
        assert rung == []  # turned off
        assert len(app._notifications) == 1


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_header_badge_tells_p0_from_p2_in_words(world: World, size: tuple[int, int]) -> None:
    engine, _ = world
    app = app_for(engine)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        header = header_of(app)
        assert "P0 CRITICAL 1" in header, header  # the seeded P0, named before the total
        assert "3 " in header and "WAITING" in header


@pytest.mark.parametrize("size", [(40, 12), (60, 15)])
async def test_approvals_show_rows_on_a_small_terminal(world: World, size: tuple[int, int]
                                                       ) -> None:
    from switchboard.console.screens.approvals import ApprovalsScreen

    engine, data = world
    app = app_for(engine)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("5")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ApprovalsScreen)
        table = screen.table
        assert table.size.height >= 4, table.size  # the header line and three rows
        assert data["p0"].approval_id[-8:] in table.render_line(1).text


async def test_task_approval_opens_an_approval_screen_with_reject(world: World) -> None:
    """Task approvals opened a screen titled "Gate form" with no way to reject."""
    from switchboard.console.dialogs.gate_form import GateFormScreen
    from switchboard.console.dialogs.prompt import PromptDialog
    from tests.console.test_workflow import goto_approvals, select

    engine, data = world
    p1 = data["p1"]
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await goto_approvals(pilot)
        await select(pilot, screen, p1.approval_id)
        await pilot.press("enter")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, GateFormScreen)
        assert "Task approval" in form.query_one(StatusHeader).render().plain
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, PromptDialog)
        await pilot.press(*"not during the freeze", "enter")
        await settle(pilot)
        approval = await engine.approvals.get(p1.approval_id)
        assert approval.status == "rejected"
        assert approval.rejection_reason == "not during the freeze"
        assert app.screen is screen


async def test_inbox_shows_sla_and_sorts_by_due_time(tmp_path: Any, fixed_ids: Any) -> None:
    """The approvals SLA (issue 14) in the inbox: DUE in words (LATE when overdue), the
    soonest due first within a priority."""
    from switchboard.console.screens.approvals import ApprovalsScreen
    from switchboard.engine.clock import ManualClock
    from tests.console.fixtures import START
    from tests.console.test_remote_backend import world_config

    config = world_config(tmp_path, approvals={"sla": {"deployment": "1m", "P1": "10m"}})
    engine = Engine(config, clock=ManualClock(START), run_maintenance=False)
    await engine.start()
    try:
        clock: ManualClock = engine.clock  # type: ignore[assignment]
        older, _ = await engine.tasks.create(TaskSpec(type="incident", priority="P1"))
        clock.advance(30)
        newer, _ = await engine.tasks.create(TaskSpec(type="deployment", priority="P1"))
        clock.advance(120)
        app = app_for(engine)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("5")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, ApprovalsScreen)
            assert screen.table.keys() == [newer.approval_id, older.approval_id]
            due = [str(c) for c in screen.table.row_cells(newer.approval_id) or ()]
            assert "LATE 1m" in due, due
            due = [str(c) for c in screen.table.row_cells(older.approval_id) or ()]
            assert "in 7m" in due, due
    finally:
        await engine.stop()
