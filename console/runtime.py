"""What ``serve`` and ``up`` run: the process host (engine + API, ``server.host``) and, with
``--demo``, the demo fleet, a client of the API.

It does not import Textual, so headless hosts start fast.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from switchboard.engine.config import Config
from switchboard.server.host import Host

log = logging.getLogger("switchboard.runtime")


class Runtime:
    """A ``Host`` plus the optional demo fleet (started after the API listens, stopped
    before it goes: its workers hand tasks back over the API)."""

    def __init__(self, config: Config, *, demo: bool = False) -> None:
        self.config = config
        self.demo = demo
        if demo:
            from switchboard.console.demo import prepare_demo_config

            prepare_demo_config(config)
        self.host = Host(config)  # fails fast on a bad auth setup
        self.engine = self.host.engine
        self._demo: Any = None
        self._demo_start: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        return self.host.address

    async def start(self) -> None:
        await self.host.start()
        if self.demo:
            from switchboard.console.demo import build_demo_fleet

            # in the background: the console opens at once and shows the agents arrive
            self._demo = build_demo_fleet(self.config, self.address)
            self._demo_start = asyncio.create_task(self._demo.start(), name="demo start")

    async def demo_started(self) -> None:
        """Wait until the demo fleet has registered its agents and seeded the queue."""
        if self._demo_start is not None:
            await asyncio.shield(self._demo_start)

    async def stop(self) -> None:
        """The demo fleet first, then the host (the API, then the engine)."""
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
        await self.host.stop()
