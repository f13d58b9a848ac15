"""The engine: one object that owns the store, the event bus, the services and the
maintenance loop. The server and the console get everything through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from switchboard.engine.action_links import ActionLinks
from switchboard.engine.agents import AgentService
from switchboard.engine.approvals import ApprovalService
from switchboard.engine.audit import AuditService
from switchboard.engine.clock import Clock, SystemClock
from switchboard.engine.config import Config
from switchboard.engine.errors import StorageFailure
from switchboard.engine.events import EventBus
from switchboard.engine.orchestrations.registry import DefinitionRegistry
from switchboard.engine.orchestrations.runs import RunService
from switchboard.engine.orchestrations.validate import ValidationContext
from switchboard.engine.ports import Peers
from switchboard.engine.providers.registry import ProviderRegistry, build_providers
from switchboard.engine.revocations import RevocationService
from switchboard.engine.stats import StatsService
from switchboard.engine.store.base import Store, Tx
from switchboard.engine.store.factory import make_store
from switchboard.engine.store.queries import Q
from switchboard.engine.tasks import TaskService
from switchboard.engine.tools import ToolRegistry, build_tools
from switchboard.engine.views import ViewService
from switchboard.engine.webhooks import WebhookService

PRUNE_STEP = 500
"""Events deleted per write op by retention (``Engine.prune_events``)."""

log = logging.getLogger("switchboard.engine")


class Engine:
    """Construct, ``await start()``, use the services, ``await stop()``."""

    def __init__(self, config: Config, *, clock: Clock | None = None,
                 store: Store | None = None, run_maintenance: bool = True) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.store = store or make_store(config, self.clock)
        self.bus = EventBus(self.store)
        self.audit = AuditService(self.store)
        self.revocations = RevocationService(self.store, self.clock)
        self.webhooks = WebhookService(self.store, config, self.clock)
        self.peers = Peers()
        self.tasks = TaskService(self.store, self.bus, config, self.clock, self.peers)
        self.approvals = ApprovalService(self.store, config, self.clock, self.peers)
        self.action_links = ActionLinks(self.store, config, self.clock, self.approvals)
        self.agents = AgentService(self.store, config, self.clock, self.peers)
        self.stats = StatsService(self.store, config, self.clock)
        self.providers: ProviderRegistry = build_providers(config.providers)
        self.tools: ToolRegistry = build_tools(config.orchestrations, self.clock,
                                               http=config.tools.http)
        self.orchestrations = DefinitionRegistry(
            config.orchestrations.dir,
            context=ValidationContext(tool_exists=self.tools.has,
                                      providers=self.providers.names()))
        self.runs = RunService(self.store, self.bus, self.tasks, self.approvals, self.providers,
                               self.tools, self.clock, config.providers.prices)
        self.peers.wire(tasks=self.tasks, agents=self.agents, approvals=self.approvals,
                        runs=self.runs, metrics=self.stats)
        self.views = ViewService(self.store, self.clock, self.stats, self.orchestrations)
        self._watch_stop = asyncio.Event()
        self._watch_task: asyncio.Task[None] | None = None
        self._run_maintenance = run_maintenance
        self._maintenance_task: asyncio.Task[None] | None = None
        self._extensions: list[Any] = []
        self.started = False

    async def start(self) -> None:
        await self.store.open()
        await self.bus.start()
        # MCP servers' tools must be registered before definitions that name them load
        await self.providers.start(self.tools, log_dir=self.config.data_path)
        for problem in self.orchestrations.load_all():
            log.warning("orchestration definition problem: %s", problem)
        if self.config.orchestrations.watch:
            self._watch_task = asyncio.create_task(
                self.orchestrations.watch(self._watch_stop), name="switchboard-definitions")
        await self.runs.recover()
        await self.webhooks.start()
        if self._run_maintenance:
            self._maintenance_task = asyncio.create_task(self._maintenance_loop(),
                                                         name="switchboard-maintenance")
        self.started = True
        log.info("engine started on %s (%s)", self.store.location, self.store.kind)

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        for ext in reversed(self._extensions):
            stop = getattr(ext, "stop", None)
            if stop is not None:
                with contextlib.suppress(Exception):
                    await stop()
        await self.runs.stop()
        await self.webhooks.stop()
        if self._watch_task is not None:
            self._watch_stop.set()
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch_task
        await self.providers.aclose()
        if self._maintenance_task is not None:
            self._maintenance_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance_task
        await self.store.close()
        log.info("engine stopped")

    def add_extension(self, ext: Any) -> None:
        """Attach a component (e.g. the orchestration runner) stopped with the engine."""
        self._extensions.append(ext)

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- maintenance ------------------------------------------------------------------------
    def _maintenance_op(self, tx: Tx) -> dict[str, int]:
        counts = self.tasks.maintenance_op(tx)
        counts["approvals_expired"] = self.approvals.expiry_op(tx)
        counts["approvals_swept"] = self.approvals.sla_op(tx)
        counts["agents_changed"] = self.agents.health_sweep_op(tx)
        counts["revocations_pruned"] = self.revocations.prune_op(tx)
        return counts

    async def run_maintenance_once(self) -> dict[str, int]:
        """Expire leases and approvals, promote scheduled tasks, flag SLAs, sweep health."""
        return await self.store.write(self._maintenance_op)

    async def prune_events(self, *, step: int = PRUNE_STEP) -> int:
        """Delete events older than the retention, ``step`` rows per write op.

        Why in steps: one DELETE of millions of rows holds the single writer (and every
        create, claim and completion queued behind it) for as long as it runs; steps of a
        few thousand rows each take milliseconds and other ops commit between them.
        Returns how many events were deleted."""
        cutoff = self.clock.now() - self.config.storage.event_retention_days * 86_400

        def op(tx: Tx) -> int:
            return tx.run(Q.event_prune, {"cutoff": cutoff, "limit": step})

        total = 0
        while True:
            deleted = await self.store.write(op)
            total += deleted
            if deleted < step:
                return total
            await asyncio.sleep(0)  # let the ops queued meanwhile go first

    async def _maintenance_loop(self) -> None:
        """Lease expiry, schedules, SLA sweeps, retention: on one replica at a time (the
        store's ``lead``; on a shared store it moves when its holder dies). Every replica
        of a shared store also takes over the runs a dead replica was driving."""
        interval = self.config.tasks.maintenance_interval_seconds
        ticks = 0
        while True:
            await asyncio.sleep(interval)
            try:
                if self.store.shared:
                    await self.runs.recover()
                if not await self.store.lead("maintenance"):
                    continue
                await self.run_maintenance_once()
                ticks += 1
                if ticks % 3600 == 0:
                    await self.prune_events()
            except asyncio.CancelledError:
                raise
            except StorageFailure as exc:  # reported by the store and /health; no traceback
                log.warning("maintenance pass skipped: %s", exc.detail)
            except Exception:
                log.exception("maintenance pass failed")
