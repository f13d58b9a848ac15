"""The console never shows a false state (issue 13, "False state"), against a real engine on
a temporary SQLite file, driven by keys under Pilot."""

from __future__ import annotations

from typing import Any

from switchboard.console.screens.agents import AgentsScreen
from switchboard.console.screens.overview import OverviewScreen
from switchboard.console.widgets.header import StatusHeader
from switchboard.engine.clock import ManualClock
from switchboard.engine.engine import Engine
from switchboard.engine.tasks import TaskSpec
from tests.console.fixtures import settle
from tests.console.test_workflow import app_for

World = tuple[Engine, dict[str, Any]]


def header_of(app: Any) -> str:
    return app.screen.query_one(StatusHeader).render().plain


async def test_paused_view_says_so_in_the_header_with_its_age(world: World) -> None:
    """Pausing Agents left no lasting sign (a toast for 2 s): a table sat frozen for 20
    minutes with heartbeats "3s ago". The header now says PAUSED, for how long, and how
    many updates it holds, in words."""
    engine, data = world
    clock: ManualClock = engine.clock  # type: ignore[assignment]
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        assert isinstance(app.screen, AgentsScreen)
        assert "PAUSED" not in header_of(app)
        await pilot.press("p")
        await settle(pilot)
        clock.advance(185)
        claimed = data["claimed"]
        await engine.tasks.complete(claimed.id, {"ok": True}, lease_id=claimed.lease_id)
        await settle(pilot, seq=engine.bus.last_seq)
        header = header_of(app)
        assert "PAUSED 3m" in header and "1 held" in header, header
        await pilot.press("p")
        await settle(pilot)
        assert "PAUSED" not in header_of(app)


async def test_paused_overview_banner_agrees_with_the_header(world: World) -> None:
    engine, _ = world
    app = app_for(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, OverviewScreen)
        await pilot.press("p")
        await settle(pilot)
        before = app.approvals_waiting
        task, _ = await engine.tasks.create(TaskSpec(type="incident", priority="P1"))
        assert task.approval_id
        await settle(pilot, seq=engine.bus.last_seq)
        assert app.approvals_waiting == before + 1
        banner = str(screen.query_one("#ov-approvals").render())
        assert f"{before + 1} APPROVALS WAITING" in banner, banner
        assert f"{before + 1} APPROVALS WAITING" in header_of(app)
        assert screen.paused
