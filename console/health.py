"""An agent's health as of now, by the engine's own thresholds.

Why the console derives it: the stored ``health`` is re-derived only by the engine's periodic
sweep, and an agent that went silent kept showing "active" with its last cpu/memory between
sweeps (and never "offline" when it came back before the next one). Heartbeat age against the
same thresholds (``[agents]`` degraded/unhealthy/offline after N seconds) gives what the sweep
will say; the worse of the two is shown. In-process the engine's configuration is used; when
attached, the defaults (the API does not publish them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from switchboard.engine.config import AgentsConfig
from switchboard.engine.models import Agent

RANK = {"healthy": 0, "unknown": 1, "degraded": 2, "unhealthy": 3, "offline": 4}


@dataclass(frozen=True)
class Thresholds:
    degraded: float
    unhealthy: float
    offline: float

    @classmethod
    def of(cls, config: AgentsConfig) -> Thresholds:
        return cls(config.degraded_after_seconds, config.unhealthy_after_seconds,
                   config.offline_after_seconds)


DEFAULT = Thresholds.of(AgentsConfig())


def thresholds_for(backend: Any) -> Thresholds:
    """The engine's thresholds in-process, else the defaults."""
    engine = getattr(backend, "engine", None)
    agents = getattr(getattr(engine, "config", None), "agents", None)
    return Thresholds.of(agents) if isinstance(agents, AgentsConfig) else DEFAULT


def live_health(agent: Agent, now: float, limits: Thresholds = DEFAULT) -> str:
    """The worse of the stored health and what the heartbeat's age says now."""
    if agent.last_heartbeat is None:
        return agent.health
    silent = now - agent.last_heartbeat
    if silent >= limits.offline:
        by_age = "offline"
    elif silent >= limits.unhealthy:
        by_age = "unhealthy"
    elif silent >= limits.degraded:
        by_age = "degraded"
    else:
        by_age = "healthy"
    return max(agent.health, by_age, key=lambda h: RANK.get(h, 1))


def live_status(agent: Agent, health: str) -> str:
    """What the agent is doing, not what it last said: an offline agent is ``offline`` (the
    engine marks it inactive at its next sweep), a silent one ``silent``."""
    if health == "offline":
        return "offline"
    if health == "unhealthy" and agent.status == "active":
        return "silent"
    return agent.status


def as_of(agent: Agent, now: float, limits: Thresholds = DEFAULT) -> Agent:
    """A copy of ``agent`` with health and status as of ``now`` (see the module docstring)."""
    health = live_health(agent, now, limits)
    shown = live_status(agent, health)
    if health == agent.health and shown == agent.status:
        return agent
    return msgspec.structs.replace(agent, health=health, status=shown)
