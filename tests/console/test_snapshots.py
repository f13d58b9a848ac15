"""Every view, the gate form and the dialogs, at 80x24 and 120x40, against a seeded engine
with a manual clock and fixed ids (so the pictures never change by themselves).

Update with ``pytest tests/console/test_snapshots.py --snapshot-update`` after checking the
report. Snapshots are SVG with LF line endings (see .gitattributes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.console.fixtures import FixedIds, decide, settle, snapshot_app

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
VIEWS = [
    pytest.param([], id="overview"),
    pytest.param(["2"], id="runs"),
    pytest.param(["2", "enter"], id="run_detail"),
    pytest.param(["3"], id="tasks"),
    pytest.param(["3", "j", "j", "enter"], id="task_detail"),
    pytest.param(["4"], id="agents"),
    pytest.param(["4", "enter"], id="agent_detail"),
    pytest.param(["5"], id="approvals"),
    pytest.param(["6"], id="events"),
    pytest.param(["7"], id="orchestrations"),
    pytest.param(["5", "G", "f"], id="gate_form"),
    pytest.param(["5", "G", "f", "ctrl+s"], id="gate_form_errors"),
    pytest.param(["5", "a"], id="p0_confirm"),
    pytest.param(["5", "j", "x"], id="reject_reason"),
    pytest.param(["5", "question_mark"], id="help"),
    pytest.param(["colon", "r", "u"], id="command_mode"),
    pytest.param(["3", "slash", "b", "u", "g"], id="tasks_filter"),
    # issue 13
    pytest.param(["q"], id="quit_confirm"),
    pytest.param(["4", "p"], id="agents_paused"),
    pytest.param(["3", "slash", *"status", "colon", *"failed", "enter", "l"], id="task_log"),
    pytest.param(["5", "j", "enter"], id="task_approval"),
    # issue 13: bulk decisions (two rows marked, then the preview); issue 14: the mine view
    pytest.param(["5", "space", "space", "a"], id="bulk_preview"),
    pytest.param(["5", "m"], id="approvals_mine"),
]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("keys", VIEWS)
def test_view(snap_compare, tmp_path: Path, fixed_ids: FixedIds, keys: list[str],
              size: tuple[int, int]) -> None:
    app, _ = snapshot_app(tmp_path)

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_read_only_approvals(snap_compare, tmp_path: Path, fixed_ids: FixedIds) -> None:
    app, _ = snapshot_app(tmp_path, read_only=True)

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("5")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_approval_history(snap_compare, tmp_path: Path, fixed_ids: FixedIds,
                          size: tuple[int, int]) -> None:
    """Recent decisions: who, when, the outcome in words, why (a reason or the gate's answer
    as key: value pairs); the answered gate is selected so its preview shows the answer."""
    async def after_seed(engine: Any, data: dict[str, Any]) -> None:
        await decide(engine, data)

    app, _ = snapshot_app(tmp_path, after_seed=after_seed)

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("5", "h")
        await settle(pilot)
        await pilot.press("j", "j")  # cancelled, approved, then the answered gate
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_approvals_small(snap_compare, tmp_path: Path, fixed_ids: FixedIds) -> None:
    """40x12: the inbox's rows, not its preview pane (issue 13)."""
    app, _ = snapshot_app(tmp_path)

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("5")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(40, 12), run_before=run_before)
