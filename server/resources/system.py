"""Health, queue statistics and metrics (seeds 001 and 003), and Prometheus exposition.

``GET /health`` and ``GET /stats`` are public and also served at the root (seed 003);
``GET /api/v1/metrics`` is seed 001's JSON series; ``GET /metrics`` at the root is the
Prometheus text format for scrapers.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import Field

from switchboard.engine.engine import Engine
from switchboard.server import contract, convert
from switchboard.server.jsonio import QueryModel, json_response
from switchboard.server.resources.common import engine_of
from switchboard.server.routing import RouteTable

routes = RouteTable(tag="system")
root_routes = RouteTable(tag="system")


@routes.get("/health", role=None, response=contract.Health, also_at_root=True,
            responses={503: "the store does not answer"})
async def health(request: web.Request) -> web.Response:
    """System health: database response time, queue, agents, load (public).

    ``degraded`` (200) while writes are refused for a storage reason (a full disk, a
    read-only or failing database), with the reason; ``healthy`` again once a write commits.
    """
    data = convert.health(await engine_of(request).stats.health())
    return json_response(data, status=503 if data.status == "unhealthy" else 200)


@routes.get("/stats", role=None, response=contract.Stats, also_at_root=True)
async def stats(request: web.Request) -> contract.Stats:
    """Queue statistics: pending, processing and total tasks (public, seed 003); approvals
    pending by priority, overdue, and decision latency p50/p95 per priority."""
    engine = engine_of(request)
    data = await engine.stats.stats()
    return convert.stats({**data, "approvals": await engine.approvals.figures()})


class MetricsQuery(QueryModel):
    period: Literal["1h", "24h", "7d", "30d"] = "24h"
    metric: Literal["task_completion_rate", "response_time", "error_rate", "throughput"] | None = (
        Field(None, description="Only this series."))


@routes.get("/metrics", role="user", query=MetricsQuery, response=contract.MetricsEnvelope)
async def metrics(request: web.Request, query: MetricsQuery) -> contract.MetricsEnvelope:
    """Time series of completion rate, response time, error rate and throughput (seed 001)."""
    return convert.metrics(await engine_of(request).stats.metrics(query.period, query.metric))


_POOL_HELP = {
    "pool_size": "Open read connections to the store",
    "pool_max": "Ceiling of the store's read pool",
    "pool_idle": "Idle read connections to the store",
    "write_queue": "Write ops waiting for the next group commit",
    "write_retries": "Write ops run again after a deadlock or serialization failure",
    "leads_maintenance": "1 while this replica runs the cluster's maintenance loop",
}


async def _prometheus_text(engine: Engine) -> bytes:
    registry = CollectorRegistry()
    queue = await engine.stats.queue()
    tasks = Gauge("switchboard_tasks", "Tasks by status", ["status"], registry=registry)
    for status, count in queue["by_status"].items():
        tasks.labels(status).set(count)
    waiting = Gauge("switchboard_queue_waiting", "Waiting tasks by priority", ["priority"],
                    registry=registry)
    for priority, counts in queue["by_priority"].items():
        waiting.labels(priority).set(counts["waiting"])
    Gauge("switchboard_approvals_pending", "Pending approvals",
          registry=registry).set(queue["pending_approvals"])
    figures = await engine.approvals.figures()
    by_priority = Gauge("switchboard_approvals_pending_by_priority",
                        "Pending approvals by priority", ["priority"], registry=registry)
    for priority, count in figures["pending_by_priority"].items():
        by_priority.labels(priority).set(count)
    Gauge("switchboard_approvals_overdue", "Pending approvals past their SLA",
          registry=registry).set(figures["overdue"])
    latency = Gauge("switchboard_approval_decision_seconds",
                    "Request-to-decision time of approvals decided in the last 24 hours",
                    ["priority", "quantile"], registry=registry)
    for priority, figure in figures["decision_latency"].items():
        for quantile, key in (("0.5", "p50_seconds"), ("0.95", "p95_seconds")):
            if figure[key] is not None:
                latency.labels(priority, quantile).set(figure[key])
    agents = Gauge("switchboard_agents", "Agents by health", ["health"], registry=registry)
    counts: dict[str, int] = {}
    for agent in await engine.agents.all():
        counts[agent.health] = counts.get(agent.health, 0) + 1
    for state, count in counts.items():
        agents.labels(state).set(count)
    Gauge("switchboard_event_seq", "Last committed event sequence number",
          registry=registry).set(engine.bus.last_seq)
    Gauge("switchboard_store_commits", "Group commits since start",
          registry=registry).set(getattr(engine.store, "commits", 0))
    Gauge("switchboard_event_subscribers", "Live event subscribers",
          registry=registry).set(engine.bus.subscriber_count)
    store = engine.store
    Gauge("switchboard_store_info", "The store this replica runs on (value 1)", ["kind"],
          registry=registry).labels(store.kind).set(1)
    try:
        Gauge("switchboard_store_ping_milliseconds", "One round trip to the store",
              registry=registry).set(await store.ping())
    except Exception:  # a store that does not answer: /health says why; omit the gauge
        pass
    for name, value in store.pool_stats().items():
        Gauge(f"switchboard_store_{name}", _POOL_HELP.get(name, name.replace("_", " ")),
              registry=registry).set(value)
    return generate_latest(registry)


@root_routes.get("/metrics", role=None, media_type="text/plain", operation_id="prometheus",
                 root_only=True)
async def prometheus(request: web.Request) -> web.Response:
    """Prometheus exposition of queue, approval, agent and store gauges."""
    body = await _prometheus_text(engine_of(request))
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
