"""The process host: one engine and its HTTP API, started and stopped as one.

Why an aiohttp ``cleanup_ctx``: the engine is the API app's resource (aiohttp's "Cleanup
Context" pattern), so its lifetime is the app's by construction: it starts before the first
request is accepted, and stops only after the server has stopped accepting and open streams
were asked to end (``on_shutdown``), whichever way the app ends. ``serve`` runs a host
headless; ``up`` runs the console on the same event loop beside it (``console.runtime``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from switchboard.engine.config import Config
from switchboard.engine.engine import Engine
from switchboard.server.api import build_api_app
from switchboard.server.app import start_server

log = logging.getLogger("switchboard.server.host")


class Host:
    """An ``Engine`` behind its API on ``config.server.host:port`` (port 0: a free one).

    Building it checks the auth setup (``AuthSetupError`` before any port is opened);
    ``start`` raises OSError when the port cannot be bound, leaving nothing running.
    """

    def __init__(self, config: Config, *, engine: Engine | None = None) -> None:
        self.config = config
        self.engine = engine or Engine(config)
        self.app = build_api_app(self.engine)
        self.app.cleanup_ctx.insert(0, self._engine_lifetime)
        self.runner: web.AppRunner | None = None
        self.port: int | None = None

    async def _engine_lifetime(self, app: web.Application) -> AsyncIterator[None]:
        await self.engine.start()
        try:
            yield
        finally:
            await self.engine.stop()

    @property
    def address(self) -> str:
        """The API's base URL ("in-process" before it listens)."""
        if self.port is None:
            return "in-process"
        return f"http://{self.config.server.host}:{self.port}/api/v1"

    async def start(self) -> None:
        self.runner, self.port = await start_server(self.app, self.config.server.host,
                                                    self.config.server.port)
        log.info("API listening on %s", self.address)

    async def stop(self) -> None:
        """Stop accepting, end open streams, then stop the engine (the cleanup context)."""
        if self.runner is not None:
            runner, self.runner = self.runner, None
            await runner.cleanup()
