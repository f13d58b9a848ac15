"""Server test fixtures: a real app on a real aiohttp test server, real JWTs, a manual clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from switchboard.engine.clock import ManualClock
from switchboard.engine.config import Config, load_config
from switchboard.server.app import init_app
from switchboard.server.auth import Authenticator
from tests.server import dummy_routes

SECRET = "test-secret-0123456789-abcdefghijklmnop"  # 40 bytes
KEYS = {
    "admin": "admin-key-0123456789abcdef",
    "agent": "agent-key-0123456789abcdef",
    "user": "user-key-0123456789abcdefgh",
}

AppClient = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[AppClient]]


def make_config(**sections: dict[str, Any]) -> Config:
    """A config with the test secret and one API key per role; ``sections`` override."""
    env = {"ORCHESTRATOR_JWT_SECRET": SECRET}
    env |= {f"ORCHESTRATOR_API_KEY_{role.upper()}_KEY": f"{key}:{role}" for role, key in KEYS.items()}
    return load_config(env=env, overrides=sections)


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock(start=1_800_000_000.0)


@pytest.fixture
def auth() -> Authenticator:
    return Authenticator(make_config().auth)


@pytest.fixture
def make_client(aiohttp_client: Any, manual_clock: ManualClock) -> MakeClient:
    """Build an app from config overrides (plus the dummy routes) and a client for it."""

    async def factory(app: web.Application | None = None, **sections: dict[str, Any]) -> AppClient:
        if app is None:
            app = init_app(make_config(**sections), tables=[dummy_routes.routes], clock=manual_clock)
        return await aiohttp_client(app)

    return factory


@pytest.fixture
async def client(make_client: MakeClient) -> AppClient:
    return await make_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- a live API: real engine on the test's store (tests/conftest.py), real server on 127.0.0.1 --


class LiveApi:
    """A running ``switchboard`` API for tests: base URLs, the engine, credentials per role."""

    def __init__(self, engine: Any, port: int) -> None:
        self.engine = engine
        self.port = port
        self.root = f"http://127.0.0.1:{port}"
        self.base = f"{self.root}/api/v1"
        self.auth = Authenticator(engine.config.auth)

    def token(self, role: str = "admin", sub: str | None = None) -> str:
        return self.auth.mint(sub or f"{role}-user", role)  # type: ignore[arg-type]

    def headers(self, role: str = "admin", sub: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, sub)}"}


async def start_live_api(tmp_path: Any, store_url: str | None = None,
                         **sections: dict[str, Any]) -> tuple[LiveApi, Any]:
    """A live API on ``store_url`` (the ``store_url`` fixture: an SQLite file or a fresh
    PostgreSQL schema), or on an SQLite file in ``tmp_path`` when None."""
    from switchboard.engine.engine import Engine
    from switchboard.server.api import build_api_app
    from switchboard.server.app import start_server

    sections.setdefault("storage", {})["data_dir"] = str(tmp_path)
    if store_url is not None:
        sections["storage"]["url"] = store_url
    sections.setdefault("rate_limits", {}).setdefault("enabled", False)
    engine = Engine(make_config(**sections), run_maintenance=False)
    app = build_api_app(engine)
    await engine.start()
    runner, port = await start_server(app, "127.0.0.1", 0)
    return LiveApi(engine, port), runner


@pytest.fixture
async def api(tmp_path: Any, store_url: str) -> Any:
    """A live API on the test's store (SQLite; PostgreSQL too for ``both_stores`` tests or
    with ``--store``)."""
    live, runner = await start_live_api(tmp_path, store_url)
    try:
        yield live
    finally:
        await runner.cleanup()
        await live.engine.stop()


@pytest.fixture
async def http() -> Any:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        yield session
