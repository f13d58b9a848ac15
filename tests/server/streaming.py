"""Helpers for the SSE and WebSocket tests: a real engine + server, and an SSE reader.

Why not the aiohttp test client alone: the restart and shutdown tests need to stop a server
and start another on the same data directory, and to time ``runner.cleanup()`` itself.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from switchboard.engine.config import Config
from switchboard.engine.engine import Engine
from switchboard.server.api import build_api_app
from switchboard.server.app import start_server
from switchboard.server.auth import Authenticator
from tests.conftest import make_config

SECRET = "s" * 40


def stream_config(data_dir: Path, **sections: dict[str, Any]) -> Config:
    """Engine config on ``data_dir`` with a JWT secret and rate limits off (unless given)."""
    sections.setdefault("auth", {}).setdefault("jwt_secret", SECRET)
    sections.setdefault("rate_limits", {}).setdefault("enabled", False)
    return make_config(data_dir, **sections)


@dataclass
class Live:
    """A running engine and API server on 127.0.0.1 (stop with ``stop()``)."""

    engine: Engine
    app: web.Application
    runner: web.AppRunner
    port: int
    auth: Authenticator = field(init=False)

    def __post_init__(self) -> None:
        self.auth = Authenticator(self.engine.config.auth)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def token(self, role: str = "user", sub: str | None = None) -> str:
        return self.auth.mint(sub or f"{role}-1", role)  # type: ignore[arg-type]

    def headers(self, role: str = "user") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}

    async def stop_server(self) -> None:
        await self.runner.cleanup()

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.engine.stop()


async def start_live(config: Config) -> Live:
    engine = Engine(config, run_maintenance=False)
    await engine.start()
    app = build_api_app(engine)
    runner, port = await start_server(app, "127.0.0.1", 0)
    return Live(engine, app, runner, port)


@dataclass
class SSEEvent:
    id: str | None
    event: str | None
    data: str

    def json(self) -> Any:
        import json

        return json.loads(self.data)


class SSEReader:
    """Parses a ``text/event-stream`` body incrementally (the EventSource algorithm, simplified)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.comments: list[str] = []

    async def next(self, timeout: float = 5.0) -> SSEEvent | None:
        """The next dispatched event; None at end of stream. Raises TimeoutError."""
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> SSEEvent | None:
        ident: str | None = None
        event: str | None = None
        data: list[str] = []
        has_data = False  # like EventSource: a frame without data lines is not dispatched
        while True:
            raw = await self.response.content.readline()
            if not raw:
                return None
            line = raw.decode().rstrip("\r\n")
            if not line:
                if has_data:
                    return SSEEvent(ident, event, "\n".join(data))
                event, data = None, []
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "id":
                ident = value
            elif name == "event":
                event = value
            elif name == "data":
                has_data = True
                data.append(value)

    async def take(self, count: int, timeout: float = 5.0) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        while len(out) < count:
            event = await self.next(timeout)
            assert event is not None, f"stream ended after {len(out)} of {count} events"
            out.append(event)
        return out
