"""Queue statistics, system health and metric series (seeds 001 and 003).

Series are kept per minute in the store (``metrics_minute``, updated in the same transaction
as the outcome they count) and rolled up per period on read, so they survive restarts. This
service owns that table: the task service counts through ``note_created``/``note_finished``
(``engine.ports.MetricsPeer``) inside its own write op.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import msgspec
import psutil

from switchboard.engine.clock import Clock, iso
from switchboard.engine.config import Config
from switchboard.engine.errors import StorageFailure, ValidationFailed
from switchboard.engine.models import PRIORITIES, TASK_STATUSES
from switchboard.engine.store.base import ReadConn, Store, Tx
from switchboard.engine.store.queries import Q

# period -> (span seconds, bucket seconds)
PERIODS: dict[str, tuple[int, int]] = {
    "1h": (3600, 60),
    "24h": (86_400, 3600),
    "7d": (7 * 86_400, 6 * 3600),
    "30d": (30 * 86_400, 86_400),
}
METRIC_NAMES = ("task_completion_rate", "response_time", "error_rate", "throughput")


class MinutePoint(msgspec.Struct, frozen=True):
    """One minute of the per-minute series."""

    minute: int
    created: int = 0
    completed: int = 0
    failed: int = 0
    response_ms_sum: float = 0.0


class StatsService:
    def __init__(self, store: Store, config: Config, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.clock = clock

    def minute_series(self, conn: ReadConn, first_minute: int, minutes: int) -> list[MinutePoint]:
        """``minutes`` consecutive minutes from ``first_minute`` (zeros where nothing
        happened), inside the caller's read (the views' one snapshot)."""
        rows = {int(r[0]) // 60: r for r in conn.all(Q.metrics_series,
                                                     {"bucket": 60, "minute": first_minute})}
        out: list[MinutePoint] = []
        for minute in range(first_minute, first_minute + minutes):
            row = rows.get(minute)
            out.append(MinutePoint(minute) if row is None else MinutePoint(
                minute, int(row[1] or 0), int(row[2] or 0), int(row[3] or 0),
                float(row[4] or 0.0)))
        return out

    # -- in-transaction API for the task service (engine.ports.MetricsPeer) ----------------
    def note_created(self, tx: Tx) -> None:
        tx.run(Q.metrics_note_created, {"minute": int(tx.now // 60)})

    def note_finished(self, tx: Tx, status: str, *, duration_ms: float) -> None:
        minute = int(tx.now // 60)
        if status == "completed":
            tx.run(Q.metrics_note_completed, {"minute": minute, "ms": duration_ms})
        elif status == "failed":
            tx.run(Q.metrics_note_failed, {"minute": minute})

    async def queue(self) -> dict[str, Any]:
        """Seed 003's ``queue`` block, plus counts by status and by priority."""
        def read(conn: ReadConn) -> dict[str, Any]:
            by_status = {s.value: 0 for s in TASK_STATUSES}
            by_priority = {p: {"waiting": 0, "processing": 0} for p in PRIORITIES}
            for status, priority, count in conn.all(Q.stats_tasks_by_status_priority):
                by_status[status] = by_status.get(status, 0) + count
                if status in ("pending", "awaiting_approval", "assigned"):
                    by_priority[priority]["waiting"] += count
                elif status == "in_progress":
                    by_priority[priority]["processing"] += count
            approvals = conn.one(Q.stats_pending_approvals)
            return {
                "pending_tasks": by_status["pending"] + by_status["awaiting_approval"]
                + by_status["assigned"],
                "processing_tasks": by_status["in_progress"],
                "total_tasks": sum(by_status.values()),
                "by_status": by_status,
                "by_priority": by_priority,
                "pending_approvals": int(approvals[0]) if approvals else 0,
            }
        return await self.store.read(read)

    async def stats(self) -> dict[str, Any]:
        return {"queue": await self.queue(), "timestamp": iso(self.clock.now())}

    async def health(self) -> dict[str, Any]:
        """Seed 001's system health: services with response times, queue and system metrics."""
        now = self.clock.now()
        try:
            db_ms = await self.store.ping()
            db: dict[str, Any] = {"status": "healthy", "kind": self.store.kind,
                                  "response_time": db_ms}
        except Exception as exc:  # health must answer even when the store does not
            db = {"status": "unhealthy", "kind": self.store.kind, "error": str(exc)}
        queue: dict[str, Any] = {}
        if db["status"] == "healthy":
            try:
                queue = await self.queue()
            except StorageFailure as exc:  # e.g. a damaged table: say so, in health's shape
                db = {"status": "unhealthy", "kind": self.store.kind, "error": exc.detail}
        day_start = int(now // 86_400) * 86_400

        def read(conn: ReadConn) -> tuple[int, int]:
            agents = conn.one(Q.stats_active_agents)
            done = conn.one(Q.metrics_completed_since, {"minute": day_start // 60})
            return int(agents[0] if agents else 0), int(done[0] if done else 0)

        active_agents, completed_today = 0, 0
        if queue:
            try:
                active_agents, completed_today = await self.store.read(read)
            except StorageFailure as exc:
                db = {"status": "unhealthy", "kind": self.store.kind, "error": exc.detail}
        try:
            load = os.getloadavg()[0] / (os.cpu_count() or 1)
        except OSError:
            load = 0.0
        disk = shutil.disk_usage(self.config.data_path if self.config.data_path.exists() else ".")
        status = "healthy" if db["status"] == "healthy" else "unhealthy"
        extra: dict[str, Any] = {} if status == "healthy" else {"reason": db["error"]}
        refused = self.store.write_failure
        if refused is not None and status == "healthy":  # reads work, writes do not
            status = db["status"] = "degraded"
            db["error"] = extra["reason"] = refused.detail
        return {
            "status": status,
            **extra,
            "timestamp": iso(now),
            "services": {
                "database": db,
                "message_queue": {"status": status,
                                  "pending_messages": queue.get("pending_tasks", 0)},
            },
            "queue_stats": {k: queue.get(k, 0)
                            for k in ("pending_tasks", "processing_tasks", "total_tasks")},
            "metrics": {
                "active_agents": active_agents,
                "running_tasks": queue.get("processing_tasks", 0),
                "completed_tasks_today": completed_today,
                "pending_approvals": queue.get("pending_approvals", 0),
                "system_load": round(load, 2),
                "memory_usage": round(psutil.virtual_memory().percent, 1),
                "disk_usage": round(100.0 * disk.used / disk.total, 1) if disk.total else 0.0,
            },
        }

    async def metrics(self, period: str = "24h", metric: str | None = None) -> dict[str, Any]:
        """Seed 001's ``/metrics`` series: one point per bucket of the period."""
        if period not in PERIODS:
            raise ValidationFailed("period", f"use one of {', '.join(PERIODS)}")
        if metric is not None and metric not in METRIC_NAMES:
            raise ValidationFailed("metric", f"use one of {', '.join(METRIC_NAMES)}")
        span, bucket = PERIODS[period]
        now = self.clock.now()
        start = (int(now - span) // bucket + 1) * bucket

        def read(conn: ReadConn) -> list[tuple[Any, ...]]:
            return conn.all(Q.metrics_series, {"bucket": bucket, "minute": start // 60})

        rows = {int(r[0]): r for r in await self.store.read(read)}
        series: dict[str, list[dict[str, Any]]] = {name: [] for name in METRIC_NAMES}
        for b in range(start, int(now) + 1, bucket):
            _, created, completed, failed, response_sum = rows.get(b, (b, 0, 0, 0, 0.0))
            finished = completed + failed
            stamp = iso(b)
            series["task_completion_rate"].append(
                {"timestamp": stamp, "value": round(100.0 * completed / finished, 2)
                 if finished else None})
            series["response_time"].append(
                {"timestamp": stamp, "value": round(response_sum / completed, 1)
                 if completed else None})
            series["error_rate"].append(
                {"timestamp": stamp, "value": round(100.0 * failed / finished, 2)
                 if finished else None})
            series["throughput"].append({"timestamp": stamp, "value": completed,
                                         "created": created})
        if metric is not None:
            series = {metric: series[metric]}
        return {"period": period, "bucket_seconds": bucket, "metrics": series}
