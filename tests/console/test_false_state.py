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


async def test_a_silent_agent_goes_degraded_silent_offline_with_stale_usage(world: World) -> None:
    """An unhealthy agent showed "active" with its last cpu/memory, and never "offline"
    (the stored health changes only at the engine's sweep). Health and status are shown as
    of now, by the engine's thresholds (30 s degraded, 60 s unhealthy, 300 s offline)."""
    engine, _ = world
    clock: ManualClock = engine.clock  # type: ignore[assignment]
    app = app_for(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AgentsScreen)

        def words(agent_id: str) -> list[str]:
            row = screen.table.row_cells(agent_id)
            assert row is not None
            return [str(c) for c in row]

        assert words("agent-dev-1")[2:3] == ["healthy"]
        for advance, health, status in ((40, "degraded", "active"), (40, "unhealthy", "silent"),
                                        (300, "offline", "offline")):
            clock.advance(advance)
            screen.request_reload(immediate=True)
            await settle(pilot)
            row = words("agent-dev-1")
            assert row[2] == health and row[7] == status, row
        await pilot.press("home")
        screen.table.move_cursor(row=screen.table.get_row_index("agent-dev-1"))
        await pilot.press("enter")
        await settle(pilot)
        info = str(app.screen.query_one("#agent-info").render())
        assert "offline" in info and "stale: last heartbeat" in info, info
        assert "active" not in info


async def test_gate_form_attention_banner_follows_the_fields(world: World) -> None:
    """"1 field needs attention" stayed on the form after the field was fixed."""
    from switchboard.console.dialogs.gate_form import GateFormScreen
    from tests.console.test_workflow import goto_approvals, select

    engine, data = world
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await goto_approvals(pilot)
        await select(pilot, screen, data["run"].approval_id)
        await pilot.press("f")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, GateFormScreen)
        await pilot.press("enter", "down", "enter")  # decision: approve
        await pilot.press("tab", "0", "ctrl+s")  # replicas 0: below the minimum
        await settle(pilot)
        banner = form.query_one("#form-banner")
        assert "1 field needs attention" in str(banner.render())
        await pilot.press("backspace", "3")
        await settle(pilot)
        assert "attention" not in str(banner.render())
        assert not banner.has_class("-shown")


async def test_retry_is_not_offered_on_a_cancelled_run(world: World) -> None:
    """R on a cancelled run asked for confirmation, then the server refused it (only failed
    runs can be retried): the key is now disabled there, on the list as in the detail."""
    from switchboard.console.dialogs.confirm import ConfirmDialog
    from switchboard.console.screens.runs import RunsScreen
    from switchboard.engine.actors import Actor

    engine, data = world
    await engine.runs.cancel(data["run"].run_id, Actor("operator", "admin"))
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        assert screen.selected_id() == data["run"].run_id
        assert not screen.check_action("retry_item", ())
        await pilot.press("R")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmDialog)
        assert isinstance(app.screen, RunsScreen)


async def test_header_says_when_a_view_shows_old_data(world: World) -> None:
    """Every screen shows its data's age once it is older than a few seconds (a view whose
    reloads fail, or that has not reloaded, must not pass old numbers off as live)."""
    engine, _ = world
    clock: ManualClock = engine.clock  # type: ignore[assignment]
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        assert "OLD" not in header_of(app)
        clock.advance(45)  # no reload since: the engine's clock moved on
        app.screen.query_one(StatusHeader).refresh()
        await pilot.pause()
        assert "DATA 45s OLD" in header_of(app)
        app.screen.request_reload(immediate=True)
        await settle(pilot)
        assert "OLD" not in header_of(app)
