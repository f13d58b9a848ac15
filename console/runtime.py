"""The composition root: engine + HTTP server (+ orchestrations, + demo) in one event loop.

``serve`` uses it headless; ``up`` runs the Textual console on the same loop. It does not
import Textual, so headless hosts start fast.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from switchboard.engine.config import Config
from switchboard.engine.engine import Engine

log = logging.getLogger("switchboard.runtime")


class Runtime:
    """Owns the engine, the HTTP runner and the optional demo fleet (a client of the API)."""

    def __init__(self, config: Config, *, demo: bool = False, http: bool = True) -> None:
        self.config = config
        self.demo = demo
        self.http = http
        if demo:
            from switchboard.console.demo import prepare_demo_config

            prepare_demo_config(config)
        self.engine = Engine(config)
        self.runner: web.AppRunner | None = None
        self.port: int | None = None
        self._demo: Any = None
        self._demo_start: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        if self.port is None:
            return "in-process"
        return f"http://{self.config.server.host}:{self.port}/api/v1"

    async def start(self) -> None:
        from switchboard.server.api import build_api_app
        from switchboard.server.app import start_server

        app = build_api_app(self.engine) if self.http else None  # fails fast on bad auth
        await self.engine.start()
        try:
            if app is not None:
                self.runner, self.port = await start_server(
                    app, self.config.server.host, self.config.server.port)
                log.info("API listening on %s", self.address)
            if self.demo:
                if self.runner is None:
                    raise RuntimeError("the demo fleet works over the HTTP API: start it too")
                from switchboard.console.demo import build_demo_fleet

                # in the background: the console opens at once and shows the agents arrive
                self._demo = build_demo_fleet(self.config, self.address)
                self._demo_start = asyncio.create_task(self._demo.start(), name="demo start")
        except BaseException:
            await self.stop()
            raise

    async def demo_started(self) -> None:
        """Wait until the demo fleet has registered its agents and seeded the queue."""
        if self._demo_start is not None:
            await asyncio.shield(self._demo_start)

    async def stop(self) -> None:
        """The demo fleet first (its workers hand tasks back over the API), then the API,
        then the engine."""
        if self._demo is not None:
            try:
                await self.demo_started()
            except Exception:
                log.exception("the demo fleet did not start")
            try:
                await self._demo.stop()
            except Exception:
                log.exception("the demo fleet did not stop cleanly")
            self._demo = self._demo_start = None
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        await self.engine.stop()

    async def serve_forever(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

