"""Quitting is never one mistyped key away (issue 13, "Destructive keys").

On a list ``q`` asks to quit and ``y`` copies an id: ``q`` ``y`` used to stop the engine, the
API and every worker. The palette's first entry for ``quit`` (Textual's own Quit) exited at
once. Both now ask, and only ``ctrl+q`` (or the Quit button) confirms.
"""

from __future__ import annotations

from typing import Any

from switchboard.console.dialogs.quit import QuitDialog
from switchboard.console.screens.overview import OverviewScreen
from switchboard.console.screens.tasks import TasksScreen
from switchboard.engine.engine import Engine
from tests.console.fixtures import settle
from tests.console.test_workflow import app_for

World = tuple[Engine, dict[str, Any]]


async def test_q_then_y_on_a_list_does_not_quit(world: World) -> None:
    engine, _ = world
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, TasksScreen)
        await pilot.press("q", "y")  # back + copy id, typed fast on the top view
        await settle(pilot)
        assert app.is_running and app.return_value is None
        assert isinstance(app.screen, QuitDialog)
        await pilot.press("y", "enter")  # enter keeps the default: Stay
        await settle(pilot)
        assert app.is_running
        assert isinstance(app.screen, TasksScreen)
        await pilot.press("q", "q")  # q in the question stays too
        await settle(pilot)
        assert app.is_running and isinstance(app.screen, TasksScreen)


async def test_ctrl_q_twice_quits(world: World) -> None:
    engine, _ = world
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+q")
        await settle(pilot)
        assert isinstance(app.screen, QuitDialog)
        await pilot.press("ctrl+q")
        await pilot.pause(0.2)
    assert app.return_value == 0


async def test_palette_quit_asks(world: World) -> None:
    engine, _ = world
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"quit")
        await pilot.pause(0.5)  # the palette searches in a worker of its own
        await pilot.press("enter")
        await settle(pilot)
        assert app.is_running and app.return_value is None
        assert isinstance(app.screen, QuitDialog)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
        assert app.is_running
