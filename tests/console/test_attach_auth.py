"""Attach mode when the server refuses the credential (issue 13), against a real server on
127.0.0.1: a bad token is an explicit red UNAUTHORIZED state with the way out, never
"connecting" forever beside "no approvals waiting"; a token that stops working mid-session
turns "connected" into UNAUTHORIZED; ctrl+l takes a new token (typed, @file or $VAR) and
reconnects without restarting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.console.app import build_app
from switchboard.console.backend import ConnectionState
from switchboard.console.dialogs.prompt import PromptDialog
from switchboard.console.remote import RemoteBackend
from switchboard.console.token_source import TokenSourceError, token_from_entry
from switchboard.console.widgets.header import StatusHeader
from switchboard.engine.clock import ManualClock
from switchboard.engine.engine import Engine
from tests.console.fixtures import START, FixedIds, seed, settle
from tests.console.test_remote_backend import Server, serve, until, world_config

Served = tuple[Server, dict[str, Any]]


@pytest.fixture
async def served(tmp_path: Path, fixed_ids: FixedIds) -> AsyncIterator[Served]:
    engine = Engine(world_config(tmp_path), clock=ManualClock(START), run_maintenance=False)
    await engine.start()
    data = await seed(engine)
    server = await serve(engine)
    try:
        yield server, data
    finally:
        await server.stop()


def header_of(app: Any) -> str:
    return app.screen.query_one(StatusHeader).render().plain


async def login(pilot: Any, entry: str) -> None:
    await pilot.press("ctrl+l")
    await until(pilot, lambda: isinstance(pilot.app.screen, PromptDialog))
    await pilot.press(*entry, "enter")


async def test_bad_token_says_unauthorized_then_logs_in(served: Served) -> None:
    server, _ = served
    backend = RemoteBackend(server.url, "not-a-valid-token")
    app = build_app(backend, clock=server.engine.clock, cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.connection_state == ConnectionState.UNAUTHORIZED)
        await pilot.pause(0.1)
        header = header_of(app)
        assert "UNAUTHORIZED" in header and "ctrl+l" in header, header
        assert "no approvals waiting" not in header  # it does not know: it could not read
        assert "approvals" in header and ("unknown" in header or "?" in header), header
        status = str(app.screen.query_one("#status-line").render())
        assert "UNAUTHORIZED" in status, status
        await login(pilot, server.token(sub="operator"))
        await until(pilot, lambda: app.connection_state == ConnectionState.CONNECTED)
        await settle(pilot)
        assert app.approvals_known and app.approvals_waiting == 3
        assert "3 WAITING" in header_of(app) or "3 APPROVALS WAITING" in header_of(app)


async def test_token_refused_mid_session_turns_header_red_and_relogin_recovers(
        served: Served) -> None:
    server, _ = served
    backend = RemoteBackend(server.url, server.token(sub="operator"))
    app = build_app(backend, clock=server.engine.clock, cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.connection_state == ConnectionState.CONNECTED
        # the server stops accepting what we send (an expired token), while the event
        # stream opened before stays up and keeps saying "connected"
        backend.use_token("expired-token")
        await pilot.press("5")
        await until(pilot, lambda: app.connection_state == ConnectionState.UNAUTHORIZED)
        assert "UNAUTHORIZED" in header_of(app)
        assert "connected" not in header_of(app)
        await login(pilot, "$I13_TEST_TOKEN_UNSET")  # a variable that is not set: refused
        await until(pilot, lambda: not isinstance(app.screen, PromptDialog))
        await pilot.pause(0.1)
        assert app.connection_state == ConnectionState.UNAUTHORIZED
        await login(pilot, server.token(sub="operator"))
        await until(pilot, lambda: app.connection_state == ConnectionState.CONNECTED)
        await settle(pilot)
        assert app.approvals_known and app.approvals_waiting == 3


def test_token_entry_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-file\n", encoding="utf-8")
    secret.chmod(0o600)
    monkeypatch.setenv("SWITCHBOARD_TOKEN", "from-env")
    monkeypatch.setenv("OTHER", "from-other")
    assert token_from_entry(f"@{secret}") == "from-file"
    assert token_from_entry("") == "from-env"
    assert token_from_entry("$OTHER") == "from-other"
    assert token_from_entry(" typed ") == "typed"
    with pytest.raises(TokenSourceError):
        token_from_entry("$NOPE_NOT_SET")
