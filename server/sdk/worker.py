"""The agent worker: registers, heartbeats, claims tasks of its type, runs an async handler.

    async def handle(task: Task, ctx: TaskContext) -> dict:
        await ctx.progress(50, "half way")
        return {"ok": True}

    await Worker("dev_agent", handle, concurrency=4, client=AsyncClient(url, token=...)).run()

What it guarantees, and how:

- **Nothing lost.** A task is only ever finished by a report the server acknowledged. A
  completion that gets no answer (timeout, server restarting) is retried with backoff for
  ``report_patience`` seconds; a ``409`` on a retried completion is checked against the
  task: completed, by this agent, on this attempt, means the first try did land ("already
  completed by us") and counts once. Otherwise the lease was lost and the task is someone
  else's now: the result is dropped (the server re-runs the task), never reported twice.
- **Leases kept alive.** The server extends an agent's leases on every heartbeat and
  progress report; a keeper also extends any lease not touched for a third of its length,
  and a lease found lost (409) cancels its handler.
- **Claims over the WebSocket**, one socket per worker carrying every slot's claim, with
  HTTP long-poll as the fallback while the socket is down or when the server has none.
- **Pipelined reports.** Over the WebSocket a slot's success rides on its next claim: the
  server completes it and claims the next task in one commit, so the slot does not sit
  idle for its report's round trip. A refused pair changes nothing and the report goes
  alone over HTTP (which says why); a pair whose answer was lost is reported again over
  HTTP and counted once, as above. When stopping, the last success is reported alone.
- **Orphans handed back.** A claim whose reply was lost (connection dropped at the wrong
  moment), or a task held by a previous run of this agent id, would stay leased to us for
  as long as we heartbeat. After such a loss, and at start with a reused id, the worker
  lists tasks the server says it holds, waits a moment for replies still on the wire, and
  fails the unknown ones with ``retry=True`` so they are requeued.
- **Graceful stop** (``request_stop()``, SIGTERM via ``run_worker``): no new claims;
  running handlers get ``shutdown_grace`` seconds to finish; whatever is still running is
  cancelled and released (handed back, requeued at once without counting an attempt).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import psutil

from switchboard.server.contract import Task
from switchboard.server.sdk.client.client import AsyncClient
from switchboard.server.sdk.client.errors import (
    ApiError,
    Conflict,
    NotFound,
    RateLimited,
    ServerError,
    SwitchboardError,
    TransportError,
)
from switchboard.server.sdk.client.ws import WebSocketConnection, WsError

log = logging.getLogger("switchboard.worker")

Handler = Callable[[Task, "TaskContext"], Awaitable[Any]]

_RETRYABLE = (TransportError, ServerError, RateLimited)


class TaskFailed(Exception):
    """Raise from a handler to fail the task with this message (``retry`` asks for a requeue).

    Any other exception also fails the task, with ``retry=True`` (see ``Worker``'s
    ``retry_on_error``), since an unexpected error is more often transient than not.
    """

    def __init__(self, message: str, *, retry: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retry = retry


class LeaseLost(Exception):
    """The task is no longer ours (lease expired and requeued, cancelled, or finished)."""


@dataclass
class WorkerStats:
    """Counters a test or an operator reads to see what a worker did."""

    claimed: int = 0
    completed: int = 0
    failed: int = 0
    released: int = 0
    lease_lost: int = 0
    report_retries: int = 0
    already_reported: int = 0
    orphans_requeued: int = 0
    ws_claims: int = 0
    pipelined: int = 0
    """Completions delivered with the slot's next claim (one round trip for both)."""
    http_claims: int = 0
    heartbeats: int = 0
    heartbeat_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Running:
    task: Task
    lease_id: str
    attempt: int
    handler: asyncio.Task[Any] | None = None
    touched: float = field(default_factory=time.monotonic)
    lost: bool = False
    handed_back: bool = False


_Done = tuple[_Running, Any]
"""A handler's success not reported yet: the task's run and its result."""


class TaskContext:
    """What a handler gets besides the task: progress, logs, and the worker's state."""

    def __init__(self, worker: Worker, running: _Running) -> None:
        self._worker = worker
        self._running = running

    @property
    def task(self) -> Task:
        return self._running.task

    @property
    def agent_id(self) -> str:
        return self._worker.agent_id

    @property
    def lease_id(self) -> str:
        return self._running.lease_id

    @property
    def attempt(self) -> int:
        return self._running.attempt

    @property
    def stopping(self) -> bool:
        """True once the worker is shutting down: a long handler may finish early."""
        return self._worker.stopping

    async def progress(self, progress: int, message: str | None = None) -> bool:
        """Report 0-100 progress (extends the lease). False if it could not be delivered.

        Raises ``LeaseLost`` if the task is no longer ours.
        """
        try:
            await self._worker.client.tasks.progress(
                self.task.id, max(0, min(100, int(progress))), message, lease_id=self.lease_id)
        except Conflict as exc:
            self._running.lost = True
            raise LeaseLost(exc.detail) from None
        except _RETRYABLE as exc:
            log.debug("progress for %s not delivered: %s", self.task.id, exc)
            return False
        self._running.touched = time.monotonic()
        return True

    async def log(self, message: str, level: str = "info") -> bool:
        """Append a log line to the task (best effort: False if not delivered)."""
        try:
            await self._worker.client.tasks.log(self.task.id, message, level,
                                                lease_id=self.lease_id)
        except (Conflict, *_RETRYABLE) as exc:  # Conflict: the lease was lost meanwhile
            log.debug("log line for %s not delivered: %s", self.task.id, exc)
            return False
        return True


class Worker:
    """One agent instance running up to ``concurrency`` tasks at a time.

    ``client`` is an ``AsyncClient`` with an agent (or admin) credential; or pass
    ``base_url`` and one of ``token``/``api_key``/``jwt_secret`` and the worker builds (and
    closes) its own. ``agent_id`` reuses an existing agent (a restarting worker keeps its
    identity); without it the worker registers a new one. An agent id belongs to the
    principal that registered it (or, if an admin pre-created it, to the first agent
    principal that uses it): a restarting worker must come back with the same credential
    subject, or its registration is refused (403).
    """

    def __init__(
        self,
        agent_type: str,
        handler: Handler,
        *,
        concurrency: int = 1,
        agent_id: str | None = None,
        name: str | None = None,
        client: AsyncClient | None = None,
        base_url: str | None = None,
        token: str | None = None,
        api_key: str | None = None,
        jwt_secret: str | None = None,
        use_websocket: bool = True,
        pipeline: bool = True,
        claim_wait: float = 5.0,
        shutdown_grace: float = 30.0,
        report_patience: float = 600.0,
        retry_on_error: bool = True,
        heartbeat_interval: float | None = None,
        on_report: Callable[[Task, str], Any] | None = None,
        usage: Callable[[], tuple[float, float]] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not callable(handler):
            raise TypeError("handler must be an async function (task, ctx) -> result")
        self.agent_type = agent_type
        self.handler = handler
        self.concurrency = concurrency
        self.name = name or f"{agent_type}@{socket.gethostname()}:{os.getpid()}"
        self._agent_id = agent_id
        self._reused_id = agent_id is not None
        self._owns_client = client is None
        if client is None:
            if base_url is None:
                raise ValueError("give client= or base_url= (with token=, api_key= or jwt_secret=)")
            client = AsyncClient(base_url, token=token, api_key=api_key, jwt_secret=jwt_secret,
                                 subject=self.name, role="agent")
        self.client = client
        self.use_websocket = use_websocket
        self.pipeline = pipeline  # successes ride on the next WebSocket claim
        self.claim_wait = claim_wait
        self.shutdown_grace = shutdown_grace
        self.report_patience = report_patience
        self.retry_on_error = retry_on_error
        self._heartbeat_override = heartbeat_interval
        self.on_report = on_report
        self.usage = usage  # (cpu %, memory %) for heartbeats; default: this process's
        self.heartbeat_interval = heartbeat_interval or 10.0
        self.lease_seconds = 60.0
        self.stats = WorkerStats()
        self._running: dict[str, _Running] = {}
        self._stop = asyncio.Event()
        self._hard_stop = asyncio.Event()
        self._started = asyncio.Event()
        self._ws: WebSocketConnection | None = None
        self._ws_lock = asyncio.Lock()
        self._ws_retry_at = 0.0
        self._ws_supported = use_websocket
        self._reconcile_task: asyncio.Task[None] | None = None
        self._run_task: asyncio.Task[Any] | None = None
        self._killed = False
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # first reading primes the counter

    # -- public ---------------------------------------------------------------------------
    @property
    def agent_id(self) -> str:
        if self._agent_id is None:
            raise RuntimeError("the worker has not registered yet")
        return self._agent_id

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def running_tasks(self) -> list[str]:
        return list(self._running)

    async def wait_started(self) -> None:
        """Return once registered and claiming."""
        await self._started.wait()

    def request_stop(self, *, hand_back_now: bool = False) -> None:
        """Stop claiming; running tasks finish within ``shutdown_grace`` (or are handed back
        at once with ``hand_back_now``). ``run()`` returns when all is settled."""
        self._stop.set()
        if hand_back_now:
            self._hard_stop.set()

    def kill(self) -> None:
        """Die at once, as a process killed with SIGKILL would: no hand-back, no final
        heartbeat, no reports. Its leases run out on the server and its tasks are re-run;
        a new worker with the same ``agent_id`` requeues what is left (chaos drills, the
        demo's crashing agent). ``run()`` ends with ``CancelledError``."""
        self._killed = True
        self._stop.set()
        if self._run_task is not None:
            self._run_task.cancel()

    async def run(self) -> None:
        """Register, then claim and run tasks until ``request_stop()``; then shut down."""
        self._run_task = asyncio.current_task()
        try:
            await self._register()
            if self._reused_id:
                await self._reconcile(delay=0.0)
            heartbeat = asyncio.create_task(self._heartbeat_loop(), name="worker-heartbeat")
            keeper = asyncio.create_task(self._lease_keeper(), name="worker-leases")
            slots = [asyncio.create_task(self._slot(i), name=f"worker-slot-{i}")
                     for i in range(self.concurrency)]
            self._started.set()
            log.info("worker %s (%s) running %d slot(s) as agent %s", self.name,
                     self.agent_type, self.concurrency, self._agent_id)
            try:
                await asyncio.gather(*slots)
            finally:
                for job in slots:
                    job.cancel()
                await asyncio.gather(*slots, return_exceptions=True)
                keeper.cancel()
                if self._reconcile_task is not None:
                    self._reconcile_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
                if not self._killed:
                    await self._final_heartbeat()
        finally:
            await self._close_ws()
            if self._owns_client:
                await self.client.close()
            log.info("worker %s stopped: %s", self.name, self.stats.as_dict())

    # -- registration and heartbeats ---------------------------------------------------------
    async def _register(self) -> None:
        delay = 0.2
        while True:
            try:
                agent = await self.client.agents.register(
                    self.name, self.agent_type, agent_id=self._agent_id,
                    max_concurrent_tasks=max(self.concurrency, 1))
                break
            except _RETRYABLE as exc:
                if self._stop.is_set():
                    raise
                log.warning("cannot register with %s yet (%s); retrying", self.client.base_url,
                            exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self._agent_id = agent.id
        if agent.heartbeat_interval and self._heartbeat_override is None:
            self.heartbeat_interval = agent.heartbeat_interval
        if agent.lease_seconds:
            self.lease_seconds = agent.lease_seconds
        await self._heartbeat()

    def _usage(self) -> tuple[float, float]:
        if self.usage is not None:
            return self.usage()
        cpus = psutil.cpu_count() or 1
        cpu = min(100.0, max(0.0, self._process.cpu_percent(None) / cpus))
        memory = min(100.0, max(0.0, self._process.memory_percent()))
        return round(cpu, 1), round(memory, 2)

    async def _heartbeat(self, status: str | None = None) -> None:
        cpu, memory = self._usage()
        try:
            await self.client.agents.heartbeat(self.agent_id, cpu_usage=cpu, memory_usage=memory,
                                               status=status)
            self.stats.heartbeats += 1
        except NotFound:
            log.warning("agent %s is unknown to the server; registering again", self._agent_id)
            await self._register()

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                await self._heartbeat()
            except (SwitchboardError, OSError) as exc:
                self.stats.heartbeat_errors += 1
                log.debug("heartbeat failed: %s", exc)

    async def _final_heartbeat(self) -> None:
        with contextlib.suppress(SwitchboardError, OSError, RuntimeError):
            await asyncio.wait_for(self._heartbeat(status="inactive"), 5.0)

    # -- claiming ------------------------------------------------------------------------------
    async def _slot(self, index: int) -> None:
        delay = 0.1
        carry: _Done | None = None  # a success not yet reported: it rides on the next claim
        try:
            while not self._stop.is_set():
                done, carry = carry, None
                try:
                    task = await self._claim(done)  # delivers ``done`` whatever happens
                except _RETRYABLE as exc:
                    log.debug("slot %d: claim failed: %s", index, exc)
                    self._schedule_reconcile()
                    await self._sleep_unless_stopped(delay)
                    delay = min(delay * 2, 3.0)
                    continue
                except NotFound:
                    await self._register()
                    continue
                except ApiError as exc:
                    log.warning("slot %d: claim refused: %s", index, exc)
                    await self._sleep_unless_stopped(delay)
                    delay = min(delay * 2, 3.0)
                    continue
                delay = 0.1
                if task is None:
                    continue
                self.stats.claimed += 1
                if self._stop.is_set():
                    await self._hand_back(task)  # arrived while stopping: give it straight back
                    return
                finished = await self._execute(task)
                if finished is not None:
                    if self._pipelining():
                        carry = finished
                    else:
                        await self._report_success(*finished)
        except asyncio.CancelledError:
            carry = None  # cancelled: nothing more goes out (a report in flight would stop too)
            raise
        finally:
            if carry is not None and not self._killed:
                await self._report_success(*carry)  # stopping: no next claim to ride on

    def _pipelining(self) -> bool:
        """Report the next success with the next claim (WebSocket open, not stopping)."""
        return (self.pipeline and self._ws is not None and self._ws.is_open
                and not self._stop.is_set())

    async def _claim(self, done: _Done | None = None) -> Task | None:
        """The slot's next task. ``done`` (its last success, not reported yet) completes in
        the same request as the claim over the WebSocket (one commit, one round trip);
        without a socket it is reported on its own first. Either way it is delivered, or
        known moot, by the time this returns or raises."""
        conn = await self._websocket()
        if conn is None:
            if done is not None:
                await self._report_success(*done)
            self.stats.http_claims += 1
            return await self.client.tasks.claim(self.agent_id, wait=self.claim_wait)
        complete = None
        if done is not None:
            running, result = done
            complete = {"task_id": running.task.id, "lease_id": running.lease_id,
                        "result": result}
        try:
            data = await conn.claim(self.agent_id, wait=self.claim_wait, complete=complete)
        except TransportError:
            await self._drop_ws()
            if done is not None:  # it may have landed: _deliver's 409 check counts it once
                await self._report_success(*done)
            raise
        except WsError:
            if done is None:
                raise
            # refused as a whole, nothing changed: report it alone (which says why), then
            # claim on its own
            await self._report_success(*done)
            return await self._claim()
        self.stats.ws_claims += 1
        if done is not None:
            self.stats.completed += 1
            self.stats.pipelined += 1
            self._notify(done[0].task, "completed")
        if data is None:
            return None
        return msgspec.convert(data, Task, strict=False)

    async def _websocket(self) -> WebSocketConnection | None:
        if not self._ws_supported:
            return None
        if self._ws is not None and self._ws.is_open:
            return self._ws
        if time.monotonic() < self._ws_retry_at:
            return None
        async with self._ws_lock:
            if self._ws is not None and self._ws.is_open:
                return self._ws
            if time.monotonic() < self._ws_retry_at:
                return None
            conn = WebSocketConnection(self.client.transport)
            try:
                await conn.connect()
            except ApiError as exc:
                if exc.status in (404, 405):
                    log.info("server has no WebSocket; claiming over HTTP long-poll")
                    self._ws_supported = False
                else:
                    log.debug("WebSocket refused: %s", exc)
                    self._ws_retry_at = time.monotonic() + 2.0
                return None
            except TransportError as exc:
                log.debug("WebSocket unavailable: %s", exc)
                self._ws_retry_at = time.monotonic() + 1.0
                return None
            self._ws = conn
            return conn

    async def _drop_ws(self) -> None:
        conn, self._ws = self._ws, None
        self._ws_retry_at = time.monotonic() + 0.5
        if conn is not None:
            await conn.close()

    async def _close_ws(self) -> None:
        conn, self._ws = self._ws, None
        if conn is not None:
            await conn.close()

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    # -- running a task --------------------------------------------------------------------
    async def _execute(self, task: Task) -> _Done | None:
        """Run the handler; a failure is reported here, a success returned for the caller
        to report (on its own, or with the slot's next claim)."""
        assert isinstance(task.lease_id, str), "a claimed task carries its lease"
        running = _Running(task=task, lease_id=task.lease_id, attempt=task.attempts)
        self._running[task.id] = running
        ctx = TaskContext(self, running)
        try:
            outcome = self._call_handler(task, ctx)
            running.handler = asyncio.ensure_future(outcome)
            stop_watch = asyncio.create_task(self._cancel_on_hard_stop(running))
            try:
                result = await running.handler
            finally:
                stop_watch.cancel()
        except asyncio.CancelledError:
            current = asyncio.current_task()
            slot_cancelled = current is not None and current.cancelling() > 0
            if self._killed:
                raise
            if running.lost:
                self.stats.lease_lost += 1
                log.info("task %s: lease lost; handler cancelled", task.id)
            elif not running.handed_back:
                await self._hand_back(task, running)
            if slot_cancelled:
                raise
            return None
        except LeaseLost:
            self.stats.lease_lost += 1
            log.info("task %s: lease lost while running", task.id)
            return None
        except TaskFailed as exc:
            await self._report_failure(running, exc.message, exc.retry)
            return None
        except Exception as exc:
            log.warning("task %s: handler raised %s: %s", task.id, type(exc).__name__, exc)
            await self._report_failure(running, f"{type(exc).__name__}: {exc}",
                                       self.retry_on_error)
            return None
        finally:
            self._running.pop(task.id, None)
        return running, result

    def _call_handler(self, task: Task, ctx: TaskContext) -> Awaitable[Any]:
        outcome = self.handler(task, ctx)
        if not inspect.isawaitable(outcome):
            raise TypeError(f"handler {self.handler!r} must be async (it returned {outcome!r})")
        return outcome

    async def _cancel_on_hard_stop(self, running: _Running) -> None:
        """Give a handler ``shutdown_grace`` s once stopping starts, then cancel it."""
        await self._stop.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._hard_stop.wait(), self.shutdown_grace)
        if running.handler is not None and not running.handler.done():
            log.info("task %s still running at shutdown: handing it back", running.task.id)
            running.handler.cancel()

    async def _hand_back(self, task: Task, running: _Running | None = None) -> None:
        if running is not None:
            running.handed_back = True
        lease_id = running.lease_id if running else task.lease_id
        if not isinstance(lease_id, str):
            return
        try:
            await self.client.tasks.release(task.id, lease_id)
            self.stats.released += 1
        except (Conflict, NotFound):
            pass  # no longer ours anyway
        except _RETRYABLE as exc:
            log.warning("task %s could not be handed back (%s); its lease will expire",
                        task.id, exc)

    # -- reporting -------------------------------------------------------------------------
    async def _report_success(self, running: _Running, result: Any) -> None:
        task = running.task
        outcome = await self._deliver(
            running, lambda: self.client.tasks.complete(task.id, result, lease_id=running.lease_id),
            expect="completed")
        if outcome:
            self.stats.completed += 1
            self._notify(task, "completed")

    async def _report_failure(self, running: _Running, error: str, retry: bool) -> None:
        task = running.task
        outcome = await self._deliver(
            running, lambda: self.client.tasks.fail(task.id, error[:8000] or "failed",
                                                    lease_id=running.lease_id, retry=retry),
            expect="failed")
        if outcome:
            self.stats.failed += 1
            self._notify(task, "failed")

    def _notify(self, task: Task, outcome: str) -> None:
        """``on_report(task, "completed"|"failed")`` once the server acknowledged it."""
        if self.on_report is not None:
            try:
                self.on_report(task, outcome)
            except Exception:
                log.exception("on_report callback failed")

    async def _deliver(self, running: _Running, send: Callable[[], Awaitable[Any]],
                       expect: str) -> bool:
        """Send a final report until it is acknowledged or known to be moot.

        True if the server recorded our report (now or on an earlier unanswered try).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.report_patience
        delay = 0.1
        while True:
            try:
                await send()
                return True
            except Conflict as exc:
                # an earlier try may have landed with its answer lost (possibly inside the
                # transport's own retries): the task itself says whether it was ours
                if await self._already_reported(running, expect):
                    self.stats.already_reported += 1
                    return True
                self.stats.lease_lost += 1
                log.info("task %s: report refused (%s); the task is no longer ours",
                         running.task.id, exc.detail)
                return False
            except NotFound:
                log.info("task %s vanished before its report", running.task.id)
                return False
            except _RETRYABLE as exc:
                self.stats.report_retries += 1
                if loop.time() > deadline:
                    log.error("task %s: giving up reporting %s after %.0f s: %s",
                              running.task.id, expect, self.report_patience, exc)
                    return False
                log.debug("task %s: %s report not acknowledged (%s); retrying",
                          running.task.id, expect, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _already_reported(self, running: _Running, expect: str) -> bool:
        """After a retried report got 409: did our earlier, unanswered try land?"""
        try:
            task = await self.client.tasks.get(running.task.id)
        except SwitchboardError:
            return False
        if expect == "completed":
            return (task.status == "completed" and task.claimed_by == self._agent_id
                    and task.attempts == running.attempt)
        # a failure: finished as failed by us, or requeued by our retry=True
        return task.attempts >= running.attempt and (
            (task.status == "failed" and task.claimed_by == self._agent_id)
            or (task.status in ("assigned", "in_progress") and task.claimed_by != self._agent_id))

    # -- leases ------------------------------------------------------------------------------
    async def _lease_keeper(self) -> None:
        """Extend leases not touched for a third of their length; cancel lost ones."""
        while True:
            period = max(self.lease_seconds / 3.0, 0.2)
            await asyncio.sleep(period)
            now = time.monotonic()
            for running in list(self._running.values()):
                if now - running.touched < period or running.handler is None:
                    continue
                try:
                    await self.client.tasks.extend_lease(running.task.id, running.lease_id)
                    running.touched = time.monotonic()
                except Conflict:
                    running.lost = True
                    if not running.handler.done():
                        running.handler.cancel()
                except (SwitchboardError, OSError) as exc:
                    log.debug("lease extension for %s failed: %s", running.task.id, exc)

    # -- orphans ---------------------------------------------------------------------------
    def _schedule_reconcile(self) -> None:
        if self._reconcile_task is None or self._reconcile_task.done():
            self._reconcile_task = asyncio.create_task(self._reconcile_later())

    async def _reconcile_later(self) -> None:
        """After a lost claim reply: once the server answers again, requeue what we hold
        without knowing it."""
        delay = 0.5
        while not self._stop.is_set():
            try:
                await self._reconcile(delay=2.0)
                return
            except _RETRYABLE:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _reconcile(self, delay: float) -> None:
        """Requeue tasks the server says this agent holds but no slot is running."""
        held = [t async for t in self.client.tasks.iterate(agent_id=self.agent_id,
                                                            status="in_progress")]
        held = [t for t in held if t.claimed_by == self._agent_id]
        if not held:
            return
        if delay:
            await asyncio.sleep(delay)  # replies still on the wire land in the meantime
        for task in held:
            if task.id in self._running:
                continue
            try:
                await self.client.tasks.fail(
                    task.id, "abandoned: its worker restarted or lost the claim reply",
                    retry=True)
                self.stats.orphans_requeued += 1
                log.warning("task %s was held by this agent without a running handler; "
                            "requeued", task.id)
            except (Conflict, NotFound):
                pass


async def run_worker(worker: Worker, *, install_signals: bool = True) -> WorkerStats:
    """Run ``worker`` until SIGTERM/SIGINT (a second signal hands running tasks back at once)."""
    loop = asyncio.get_running_loop()
    installed: list[int] = []
    if install_signals:
        def on_signal() -> None:
            worker.request_stop(hand_back_now=worker.stopping)

        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, on_signal)
                installed.append(sig)
    try:
        await worker.run()
    finally:
        for number in installed:
            loop.remove_signal_handler(number)
    return worker.stats
