"""``settle()``, the helper every console test waits with, fails loudly instead of returning
silently from an app that never settles (a hang would otherwise pass as a slow test)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from switchboard.console.app import build_app
from switchboard.console.backend import InProcessBackend
from switchboard.console.dialogs.confirm import ConfirmDialog
from switchboard.console.screens.overview import OverviewScreen
from switchboard.engine.actors import Actor
from switchboard.engine.engine import Engine
from tests.console.fixtures import settle

World = tuple[Engine, dict[str, Any]]


def app_for(engine: Engine) -> Any:
    return build_app(InProcessBackend(engine, Actor("operator", "admin")), clock=engine.clock,
                     cursor_blink=False)


async def test_a_view_whose_reload_hangs_fails_naming_the_view(world: World,
                                                               monkeypatch: Any) -> None:
    engine, _ = world

    async def hang(self: Any) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(OverviewScreen, "reload", hang)
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        with pytest.raises(AssertionError, match="OverviewScreen to finish its reload"):
            await settle(pilot, timeout=0.5)


async def test_a_stream_that_never_reaches_the_seq_fails_saying_so(world: World) -> None:
    engine, _ = world
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, seq=engine.bus.last_seq)
        with pytest.raises(AssertionError, match=f"deliver seq {engine.bus.last_seq + 1} "):
            await settle(pilot, seq=engine.bus.last_seq + 1, timeout=0.3)


async def test_a_worker_waiting_for_the_operator_counts_as_settled(world: World) -> None:
    """Approving the P0 opens a confirmation from a worker that waits for the answer: the
    dialog on top is the settled state (within the short timeout, not after it)."""
    engine, data = world
    app = app_for(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("5")
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot, timeout=2.0)
        assert isinstance(app.screen, ConfirmDialog)
        assert any(w.group == "decide" and not w.is_finished for w in app.workers)
        await pilot.press("y")
        await settle(pilot, timeout=2.0)
        assert (await engine.approvals.get(data["p0"].approval_id)).status == "approved"
