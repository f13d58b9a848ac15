"""Answers in one key (issue 13, "Reach"), against a real engine on a temporary SQLite file,
driven by keys under Pilot."""

from __future__ import annotations

import asyncio
from typing import Any

from switchboard.console.formatting import short_id
from switchboard.console.screens.tasks import TaskDetailScreen, TasksScreen
from switchboard.engine.actors import Actor
from switchboard.engine.engine import Engine
from switchboard.engine.tasks import TaskSpec
from tests.console.fixtures import settle
from tests.console.test_workflow import app_for

World = tuple[Engine, dict[str, Any]]


async def bury(engine: Engine, n: int = 510) -> None:
    """``n`` newer unfinished tasks: the seeded finished ones fall out of the newest ~500
    the console used to search."""
    for index in range(n):
        await engine.tasks.create(TaskSpec(type="documentation", priority="P3",
                                           payload={"n": index}), Actor("seed"))


async def test_task_command_finds_an_old_task_by_short_id(world: World) -> None:
    engine, data = world
    await bury(engine)
    done = data["done"]
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *f"task {short_id(done.id)}", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TaskDetailScreen), screen
        assert screen.task_id == done.id


async def test_word_filter_searches_the_whole_store(world: World) -> None:
    engine, data = world
    await bury(engine)
    done = data["done"]
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TasksScreen)
        await pilot.press("slash", *short_id(done.id), "enter")
        await settle(pilot)
        assert screen.table.keys() == [done.id]


async def test_run_command_takes_the_short_id_shown(world: World) -> None:
    from switchboard.console.screens.runs import RunDetailScreen

    engine, data = world
    run_id = data["run"].run_id
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *f"run {short_id(run_id)}", "enter")
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen)
        assert app.screen.run_id == run_id


async def test_failed_task_log_is_full_screen_scrollable_and_searchable(world: World) -> None:
    """At 80x24 a failed task's log showed 4 lines with no way to scroll. ``l`` (on the list
    or in the detail) opens every line full screen: follow mode, g/G, / to search."""
    from switchboard.console.screens.logview import LogScreen

    engine, data = world
    failed = data["failed"]
    for index in range(60):
        await engine.tasks.add_log(failed.id, "info", f"step {index} of the test run")
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3", "slash", *"status:failed", "enter")
        await settle(pilot)
        tasks = app.screen
        assert isinstance(tasks, TasksScreen) and tasks.table.keys() == [failed.id]
        await pilot.press("l")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LogScreen)
        log = screen.log_widget
        assert log.line_count == 62  # the seeded line, 60 more, then the error
        assert "tests failed: 3 of 412" in log.lines[-1]
        assert log.size.height >= 15  # most of the screen, not four lines
        assert log.scroll_y == log.max_scroll_y > 0  # following: the newest line in view
        await pilot.press("g")
        assert log.scroll_y == 0 and not screen.follow
        await pilot.press("G")
        assert log.scroll_y == log.max_scroll_y and screen.follow
        await pilot.press("slash", *"412", "enter")
        await settle(pilot)
        assert [line for line in log.lines if line] == [
            line for line in screen.lines if "412" in line]
        assert len(screen.lines) == 62 and log.line_count == 2
        await pilot.press("escape", "escape")  # clear the search, then back
        await settle(pilot)
        assert app.screen is tasks


async def test_enter_on_an_event_opens_what_it_is_about(world: World) -> None:
    from switchboard.console.screens.events import EventsScreen

    engine, data = world
    failed = data["failed"]
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("6")
        await settle(pilot)
        events = app.screen
        assert isinstance(events, EventsScreen)
        await engine.tasks.add_log(failed.id, "info", "looked at again")
        task_event = await engine.tasks.retry(failed.id, Actor("operator", "admin"))
        assert task_event.id == failed.id
        await settle(pilot, seq=engine.bus.last_seq)
        # the stream's batch reaches the screen as a message after the backend has counted
        # it: wait (bounded) for the tail to show it rather than read it at one instant
        deadline = asyncio.get_running_loop().time() + 5.0
        while (target := events.target_event()) is None or target.task_id != failed.id:
            if asyncio.get_running_loop().time() > deadline:
                break
            await pilot.pause(0.05)
        assert target is not None and target.task_id == failed.id  # tailing: the newest
        assert f"enter opens #{target.seq}" in str(events.query_one("#status-line").render())
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, TaskDetailScreen) and app.screen.task_id == failed.id
        await pilot.press("q")
        await settle(pilot)
        assert app.screen is events  # drilled in from here: q comes back


async def test_overview_counts_drill_into_the_filtered_list(world: World) -> None:
    engine, data = world
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TasksScreen)
        assert screen.filter_text == "status:failed"
        assert screen.table.keys() == [data["failed"].id]
