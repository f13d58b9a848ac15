"""The approval workflow by keys alone, against a real engine on a temporary SQLite file."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.console.app import SwitchboardApp, build_app
from switchboard.console.backend import InProcessBackend
from switchboard.console.dialogs.confirm import ConfirmDialog
from switchboard.console.dialogs.gate_form import FieldBox, GateFormScreen
from switchboard.console.dialogs.prompt import PromptDialog
from switchboard.console.dialogs.quit import QuitDialog
from switchboard.console.screens.approvals import ApprovalsScreen
from switchboard.console.screens.runs import RunDetailScreen
from switchboard.console.screens.tasks import TasksScreen
from switchboard.engine.actors import Actor
from switchboard.engine.config import ConsoleConfig
from switchboard.engine.engine import Engine
from switchboard.engine.tasks import TaskSpec
from tests.console.fixtures import settle

World = tuple[Engine, dict[str, Any]]


def app_for(engine: Engine, **kwargs: Any) -> SwitchboardApp:
    backend = InProcessBackend(engine, Actor("operator", "admin"))
    return build_app(backend, clock=engine.clock, cursor_blink=False, **kwargs)


async def goto_approvals(pilot: Any) -> ApprovalsScreen:
    await settle(pilot)
    await pilot.press("5")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ApprovalsScreen)
    return screen


def row_of(screen: ApprovalsScreen, approval_id: str) -> int:
    return screen.table.get_row_index(approval_id)


async def select(pilot: Any, screen: ApprovalsScreen, approval_id: str) -> None:
    screen.table.move_cursor(row=row_of(screen, approval_id))
    await pilot.pause()
    assert screen.selected_id() == approval_id


async def test_approve_p1_task(world: World) -> None:
    engine, data = world
    p1 = data["p1"]
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await goto_approvals(pilot)
        assert screen.table.keys()[:2] == [data["p0"].approval_id, p1.approval_id]
        await pilot.press("j")  # P0 is first: one down is the P1
        assert screen.selected_id() == p1.approval_id
        await pilot.press("a")  # no confirmation below P0
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmDialog)
        approval = await engine.approvals.get(p1.approval_id)
        assert approval.status == "approved" and approval.decided_by == "operator"
        assert (await engine.tasks.get(p1.id)).status == "assigned"
        assert p1.approval_id not in screen.table.keys()
        assert app.approvals_waiting == 2


async def test_p0_confirmation_defaults_to_cancel(world: World) -> None:
    engine, data = world
    p0 = data["p0"]
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await goto_approvals(pilot)
        await pilot.press("a")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        assert app.focused is not None and app.focused.id == "cancel"
        await pilot.press("enter")  # enter alone keeps Cancel
        await settle(pilot)
        assert (await engine.approvals.get(p0.approval_id)).status == "pending"
        await pilot.press("a", "y")  # an explicit yes approves
        await settle(pilot)
        assert (await engine.approvals.get(p0.approval_id)).status == "approved"
        assert (await engine.tasks.get(p0.id)).status == "assigned"


async def test_reject_with_reason(world: World) -> None:
    engine, data = world
    p1 = data["p1"]
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await goto_approvals(pilot)
        await pilot.press("j", "x")
        await settle(pilot)
        assert isinstance(app.screen, PromptDialog)
        await pilot.press("enter")  # an empty reason is refused, saying so
        await settle(pilot)
        assert isinstance(app.screen, PromptDialog)
        assert "required" in str(app.screen.query_one("#prompt-error").render())
        await pilot.press(*"too risky on a friday", "enter")
        await settle(pilot)
        approval = await engine.approvals.get(p1.approval_id)
        assert approval.status == "rejected"
        assert approval.rejection_reason == "too risky on a friday"
        assert (await engine.tasks.get(p1.id)).status == "rejected"
        assert p1.approval_id not in screen.table.keys()


async def test_gate_form_invalid_then_valid_resumes_run(world: World) -> None:
    engine, data = world
    run = data["run"]
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await goto_approvals(pilot)
        await select(pilot, screen, run.approval_id)
        await pilot.press("f")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, GateFormScreen)
        # decision: open the select, pick "approve"
        assert app.focused is not None and app.focused.id == "field-0"
        await pilot.press("enter", "down", "enter")
        await pilot.press("tab", "0")  # replicas: 0 is below the minimum of 1
        await pilot.press("ctrl+s")
        await settle(pilot)
        box = form.query_one("#box-1", FieldBox)
        assert "at least 1" in str(box.query_one("#error-1").render())
        assert (await engine.runs.get(run.run_id)).status == "paused"
        await pilot.press("backspace", "3", "tab", *"ship it", "ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, GateFormScreen)
        finished = await engine.runs.wait(run.run_id, timeout=5)
        assert finished.status == "completed"
        assert finished.shared_state["decision"] == "approve"
        assert finished.shared_state["replicas"] == 3
        assert finished.shared_state["notes"] == "ship it"
        assert finished.shared_state["rollback"] is True
        approval = await engine.approvals.get(run.approval_id)
        assert approval.status == "approved" and approval.decided_by == "operator"


async def test_decision_elsewhere_updates_inbox_and_open_form(world: World) -> None:
    engine, data = world
    run, p1 = data["run"], data["p1"]
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await goto_approvals(pilot)
        await select(pilot, screen, run.approval_id)
        await pilot.press("f")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, GateFormScreen)
        # someone else answers through the API
        await engine.runs.resume(run.run_id, {"decision": "reject", "replicas": 1},
                                 Actor("bob", "admin"))
        await engine.approvals.approve(p1.approval_id, Actor("carol", "admin"))
        await settle(pilot, seq=engine.bus.last_seq)  # the stream brought both decisions
        assert form.decided_elsewhere and "bob" in form.decided_elsewhere
        assert "DECIDED ELSEWHERE" in str(form.query_one("#form-banner").render())
        await pilot.press("ctrl+s")  # refused: nothing is submitted
        await settle(pilot)
        assert (await engine.approvals.get(run.approval_id)).decided_by == "bob"
        await pilot.press("escape")
        await settle(pilot)
        assert run.approval_id not in screen.table.keys()
        assert p1.approval_id not in screen.table.keys()


async def test_read_only_hides_and_refuses(world: World) -> None:
    engine, data = world
    p1 = data["p1"]
    app = app_for(engine, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await goto_approvals(pilot)
        keys = {b.binding.action for b in screen.active_bindings.values()}
        assert not keys & {"approve", "reject", "open_form"}
        await pilot.press("j", "a", "x", "f", "enter")
        await settle(pilot)
        assert app.screen is screen
        assert (await engine.approvals.get(p1.approval_id)).status == "pending"
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("C", "R", "P")
        await settle(pilot)
        assert isinstance(app.screen, TasksScreen)


async def test_keymap_remaps_approve(world: World) -> None:
    engine, data = world
    p1 = data["p1"]
    app = app_for(engine, config=ConsoleConfig(keymap={"approval.approve": "A",
                                                       "view.approvals": "i"}))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ApprovalsScreen)
        await pilot.press("j", "a")  # the old key does nothing now
        await settle(pilot)
        assert (await engine.approvals.get(p1.approval_id)).status == "pending"
        await pilot.press("A")
        await settle(pilot)
        assert (await engine.approvals.get(p1.approval_id)).status == "approved"


async def test_filter_and_clear(world: World) -> None:
    engine, _ = world
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TasksScreen)
        everything = screen.table.keys()
        await pilot.press("slash", *"bugfix", "enter")
        await settle(pilot)
        kept = screen.table.keys()
        assert 0 < len(kept) < len(everything)
        assert {(await engine.tasks.get(k)).type for k in kept} == {"bugfix"}
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"status:failed", "enter")
        await settle(pilot)
        assert [(await engine.tasks.get(k)).status for k in screen.table.keys()] == ["failed"]
        await pilot.press("escape")  # esc clears
        await settle(pilot)
        assert screen.table.keys() == everything


async def test_command_mode(world: World) -> None:
    engine, data = world
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"tasks", "enter")
        await settle(pilot)
        assert app.current_mode == "tasks"
        short = data["run"].run_id[-4:]
        await pilot.press("colon", *f"run {short}", "enter")
        await settle(pilot)
        assert app.current_mode == "runs"
        assert isinstance(app.screen, RunDetailScreen)
        assert app.screen.run_id == data["run"].run_id
        await pilot.press("colon", *"nonsense", "enter")
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen)
        await pilot.press("colon", "q", "enter")
        await settle(pilot)
        assert isinstance(app.screen, QuitDialog)  # :q asks: it stops the engine
        await pilot.press("n")
        await settle(pilot)
        assert app.is_running


async def test_quit_from_top_view_confirms(world: World) -> None:
    engine, _ = world
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await settle(pilot)
        assert isinstance(app.screen, QuitDialog)
        await pilot.press("ctrl+q")  # the one key that confirms (y is copy-id on lists)
        await pilot.pause(0.2)
    assert app.return_value == 0


async def test_live_updates_diff_rows_and_announce(world: World) -> None:
    engine, _ = world
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TasksScreen)
        await pilot.press("j", "j")
        cursor_key = screen.table.current_key
        before = set(screen.table.keys())
        task, _ = await engine.tasks.create(TaskSpec(type="incident", priority="P1",
                                                     payload={"summary": "disk full"}))
        await settle(pilot, seq=engine.bus.last_seq)
        assert set(screen.table.keys()) == before | {task.id}
        assert screen.table.current_key == cursor_key  # the cursor stays on its row
        assert app.approvals_waiting == 4
        # at 80x24 a toast would cover the work: the header's badge says it (issue 13)
        assert app.new_approvals == 1
        assert not any("approval" in n.title.lower() for n in app._notifications)


async def test_pause_holds_updates_until_resumed(world: World) -> None:
    engine, _ = world
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TasksScreen)
        await pilot.press("p")
        task, _ = await engine.tasks.create(TaskSpec(type="bugfix"))
        await settle(pilot, seq=engine.bus.last_seq)  # the update arrived, and was held
        assert task.id not in screen.table.keys()
        assert "PAUSED" in str(screen.query_one("#status-line").render())
        await pilot.press("p")
        await settle(pilot)
        assert task.id in screen.table.keys()


async def test_events_tail_marker(world: World) -> None:
    from switchboard.console.screens.events import EventsScreen

    engine, _ = world
    app = app_for(engine)
    async with app.run_test(size=(80, 12)) as pilot:
        await settle(pilot)
        await pilot.press("6")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EventsScreen)
        assert "TAIL" in str(screen.query_one("#status-line").render())
        await pilot.press("k", "k")
        await engine.tasks.create(TaskSpec(type="bugfix"))
        await settle(pilot, seq=engine.bus.last_seq)
        status = str(screen.query_one("#status-line").render())
        assert "SCROLLED" in status and "new below" in status
        await pilot.press("t")
        assert "TAIL" in str(screen.query_one("#status-line").render())


VIEW_KEYS = {
    "1": "overview", "2": "runs", "3": "tasks", "4": "agents", "5": "approvals", "6": "events",
    "7": "orchestrations",
}


@pytest.mark.slow
async def test_every_key_on_every_view_keeps_the_app_alive(world: World) -> None:
    """Press each binding of each view (and of its detail view), closing whatever opens."""
    from switchboard.console.screens.base import ViewScreen

    engine, _ = world
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for view_key in VIEW_KEYS:
            await pilot.press(view_key)
            await settle(pilot)
            for depth in (0, 1):
                screen = app.screen
                assert isinstance(screen, ViewScreen)
                keys = sorted({key for _, bindings in screen._binding_chain
                               for key, items in bindings.key_to_bindings.items()
                               if any(b.id and b.action.split("(")[0].split(".")[-1] not in
                                      ("back", "quit_root", "view", "request_quit")
                                      for b in items)})
                for key in keys:
                    await pilot.press(key)
                    await settle(pilot)
                    while app.screen is not screen and len(app.screen_stack) > 1:
                        await pilot.press("escape")
                        await settle(pilot)
                    if app.screen is not screen:
                        break  # the key opened a detail view: explore it next round
                assert app.is_running
                if depth == 0:
                    await pilot.press("enter")
                    await settle(pilot)
                    if not isinstance(app.screen, ViewScreen) or app.screen is screen:
                        while len(app.screen_stack) > 1 and not isinstance(app.screen,
                                                                           ViewScreen):
                            await pilot.press("escape")
                            await settle(pilot)
                        break
            while len(app.screen_stack) > 1:
                await pilot.press("escape")
                await settle(pilot)
        assert app.is_running
