"""Bulk decisions with a preview (issue 13) and the inbox's "mine" view and quorum progress
(issue 14), by keys, on a real app over a real engine on a temporary SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Static

from switchboard.console.app import SwitchboardApp, build_app
from switchboard.console.backend import InProcessBackend
from switchboard.console.dialogs.bulk import BulkDecisionDialog
from switchboard.console.dialogs.gate_form import GateFormScreen
from switchboard.console.screens.approvals import ApprovalsScreen
from switchboard.engine.actors import Actor
from switchboard.engine.clock import ManualClock
from switchboard.engine.engine import Engine
from switchboard.engine.tasks import TaskSpec
from tests.conftest import make_config
from tests.console.fixtures import START, FixedIds, settle

OPERATOR = Actor("operator", "admin", "console")  # not "system": the self-approval rule applies
ALICE = Actor("alice", "user")


@pytest.fixture
async def engine(tmp_path: Path, fixed_ids: FixedIds) -> AsyncIterator[Engine]:
    config = make_config(tmp_path / "data", storage={"synchronous": "OFF"},
                         tasks={"approval_priorities": ["P0", "P1", "P2"]},
                         approvals={"quorum": {"knowledge_sync": 2},
                                    "assign": {"knowledge_sync": ["user:operator", "user:bob"],
                                               "monitoring": ["user:bob"]}})
    engine = Engine(config, clock=ManualClock(START), run_maintenance=False)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


async def seed(engine: Engine) -> dict[str, list[str]]:
    """Five P2 faq_update approvals asked by alice, one asked by the console's own principal
    (its approval is refused: self-approval), a P2 bugfix, a quorum-of-2 knowledge_sync
    assigned to the operator and bob, and a monitoring approval assigned to bob alone."""
    out: dict[str, list[str]] = {"faq": [], "own": [], "bugfix": [], "quorum": [], "bob": []}
    specs = [("faq", "faq_update", ALICE)] * 5 + [("own", "faq_update", OPERATOR),
                                                  ("bugfix", "bugfix", ALICE),
                                                  ("quorum", "knowledge_sync", ALICE),
                                                  ("bob", "monitoring", ALICE)]
    for n, (group, task_type, actor) in enumerate(specs):
        task, _ = await engine.tasks.create(
            TaskSpec(type=task_type, priority="P2", payload={"description": f"item {n}"}), actor)
        assert task.approval_id
        out[group].append(task.approval_id)
        engine.clock.advance(1)  # type: ignore[attr-defined]
    return out


def app_for(engine: Engine) -> SwitchboardApp:
    return build_app(InProcessBackend(engine, OPERATOR), clock=engine.clock, cursor_blink=False)


async def goto_approvals(pilot: Any) -> ApprovalsScreen:
    await settle(pilot)
    await pilot.press("5")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ApprovalsScreen)
    return screen


def status_line(screen: ApprovalsScreen) -> str:
    return str(screen.query_one("#status-line", Static).render())


def mark_cell(screen: ApprovalsScreen, approval_id: str) -> str:
    cells = screen.table.row_cells(approval_id)
    assert cells is not None
    first = cells[0]
    return first.plain if hasattr(first, "plain") else first[0]  # type: ignore[index]


async def status(engine: Engine, approval_id: str) -> str:
    return str((await engine.approvals.get(approval_id)).status)


async def test_approve_five_p2s_in_bulk_with_a_preview(engine: Engine) -> None:
    ids = await seed(engine)
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await goto_approvals(pilot)
        keys = ["slash", *"p", "colon", *"P2", "space", *"type", "colon", *"faq_update",
                "enter", "asterisk", "a"]
        await pilot.press(*keys)
        await settle(pilot)
        marked = set(ids["faq"] + ids["own"])
        assert screen.marks == marked
        assert all(mark_cell(screen, a) == "✓" for a in marked)
        assert "6 marked" in status_line(screen)
        dialog = app.screen
        assert isinstance(dialog, BulkDecisionDialog)
        assert [item.approval_id for item in dialog.plan.items] == [
            a for a in screen.table.keys() if a in marked]
        assert dialog.plan.count == 6 and app.focused is dialog.query_one("#bulk-count")

        await pilot.press("enter")  # nothing typed: nothing happens but a hint
        await pilot.press("5", "enter")  # the wrong count
        await settle(pilot)
        assert "type 6" in str(dialog.query_one("#bulk-error", Static).render())
        assert all([await status(engine, a) == "pending" for a in marked])

        dialog.query_one("#bulk-count", Input).value = ""
        await pilot.press("6", "enter")
        await settle(pilot)
        assert dialog.done
        results = {o.approval_id: o for o in dialog.outcomes.values()}
        for approval_id in ids["faq"]:
            assert results[approval_id].words == "approved"
            assert await status(engine, approval_id) == "approved"
        own = results[ids["own"][0]]
        assert not own.decided and own.words.startswith(
            "refused: self-approval is not allowed: operator created")
        assert await status(engine, ids["own"][0]) == "pending"
        assert "5 decided, 1 refused" in str(dialog.query_one("#bulk-summary", Static).render())
        assert await status(engine, ids["bugfix"][0]) == "pending"

        await pilot.press("enter")  # closes
        await settle(pilot)
        assert app.screen is screen
        assert screen.marks == set(ids["own"])  # the refused one stays marked
        assert screen.table.keys() == ids["own"]  # the filter still shows P2 faq_updates
        assert await status(engine, ids["bugfix"][0]) == "pending"
        await pilot.press("escape")  # esc clears the marks first
        assert screen.marks == set() and screen.filter_text


async def test_bulk_reject_asks_one_reason_and_skips_nothing(engine: Engine) -> None:
    ids = await seed(engine)
    app = app_for(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await goto_approvals(pilot)
        for approval_id in ids["faq"][:2]:
            screen.table.move_cursor(row=screen.table.get_row_index(approval_id))
            await pilot.press("space")
        assert screen.marks == set(ids["faq"][:2])
        await pilot.press("x")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, BulkDecisionDialog)
        assert app.focused is dialog.query_one("#bulk-reason")
        await pilot.press("2", "enter")  # typed into the reason: enter moves to the count
        dialog.query_one("#bulk-reason", Input).value = ""
        await pilot.press("2", "enter")
        await settle(pilot)
        assert "reason is required" in str(dialog.query_one("#bulk-error", Static).render())
        dialog.query_one("#bulk-reason", Input).value = "FAQ freeze"
        dialog.query_one("#bulk-count", Input).value = ""
        dialog.query_one("#bulk-count", Input).focus()
        await pilot.press("2", "enter")
        await settle(pilot)
        assert dialog.done
        for approval_id in ids["faq"][:2]:
            approval = await engine.approvals.get(approval_id)
            assert approval.status == "rejected" and approval.rejection_reason == "FAQ freeze"
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen and not screen.marks


async def test_star_toggles_and_space_moves_down(engine: Engine) -> None:
    await seed(engine)
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await goto_approvals(pilot)
        first, second = screen.table.keys()[:2]
        await pilot.press("space")
        assert screen.marks == {first} and screen.selected_id() == second
        await pilot.press("k", "space")
        assert screen.marks == set()
        await pilot.press("asterisk")
        assert screen.marks == set(screen.table.keys())
        await pilot.press("asterisk")  # all marked already: clears
        assert screen.marks == set()


async def test_gate_with_a_form_is_skipped_in_the_preview(engine: Engine, tmp_path: Path
                                                          ) -> None:
    from switchboard.console.bulk import FORM_SKIP, make_plan
    from switchboard.server import convert
    from switchboard.server.contract import Approval as WireApproval
    from switchboard.server.contract import ApprovalKind, ApprovalStatus, GateField, Priority

    ids = await seed(engine)
    task = convert.approval(await engine.approvals.get(ids["faq"][0]))
    gate = WireApproval(approval_id="approval_gate", kind=ApprovalKind.GATE,
                        priority=Priority.P2, status=ApprovalStatus.PENDING,
                        fields=[GateField(name="decision")], step_id="review")
    plan = make_plan([task, gate], "approve")
    assert plan.count == 1 and plan.items[1].skip == FORM_SKIP
    assert make_plan([gate], "reject").count == 1  # rejecting needs no answer


async def test_mine_view_and_quorum_progress(engine: Engine) -> None:
    ids = await seed(engine)
    app = app_for(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await goto_approvals(pilot)
        assert status_line(screen).startswith("ALL: 9 waiting")
        assert ids["bob"][0] in screen.table.keys()
        quorum = ids["quorum"][0]
        cells = screen.table.row_cells(quorum)
        assert cells is not None
        texts = [c.plain if hasattr(c, "plain") else c[0] for c in cells]  # type: ignore[index]
        assert "0 of 2" in texts and "user:operator, user:bob" in texts

        await pilot.press("m")
        await settle(pilot)
        assert screen.mine and status_line(screen).startswith("MINE: 8 waiting")
        assert ids["bob"][0] not in screen.table.keys()  # assigned to bob alone
        mine = await engine.approvals.pending_for(OPERATOR)
        assert set(screen.table.keys()) == {a.approval_id for a in mine}

        screen.table.move_cursor(row=screen.table.get_row_index(quorum))
        await pilot.pause()
        preview = str(screen.query_one("#approval-preview-text", Static).render())
        assert "votes 0 of 2" in preview and "assigned to user:operator, user:bob" in preview
        await pilot.press("a")
        await settle(pilot)
        messages = [n.message for n in app._notifications]
        assert any(m.startswith("approved 1 of 2, still pending") for m in messages), messages
        assert not any(m.startswith("approved approval") or m == "approved" for m in messages)
        assert await status(engine, quorum) == "pending"
        cells = screen.table.row_cells(quorum)
        assert cells is not None
        assert "1 of 2" in [c.plain if hasattr(c, "plain") else c[0]  # type: ignore[index]
                            for c in cells]
        screen.table.move_cursor(row=screen.table.get_row_index(quorum))
        await pilot.pause()
        preview = str(screen.query_one("#approval-preview-text", Static).render())
        assert "votes 1 of 2: operator (approve)" in preview

        await pilot.press("enter")  # the approval detail says the same
        await settle(pilot)
        form = app.screen
        assert isinstance(form, GateFormScreen)
        context = str(form.query_one("#form-context-text", Static).render())
        assert "Votes: 1 of 2 (operator (approve))" in context
        assert "Assigned to: user:operator, user:bob" in context
        await pilot.press("escape")
        await settle(pilot)

        await pilot.press("m")
        await settle(pilot)
        assert not screen.mine and status_line(screen).startswith("ALL:")
        await engine.approvals.approve(quorum, Actor("bob", "user"))
        await settle(pilot, seq=engine.bus.last_seq)
        assert quorum not in screen.table.keys()
