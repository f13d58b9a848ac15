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

from switchboard.console.formatting import epoch
from switchboard.engine.config import AgentsConfig
from switchboard.server.contract import Agent
from switchboard.server.contract.enums import HealthState

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
    stored = str(agent.health.status)
    last = epoch(agent.health.last_check)
    if last is None:
        return stored
    silent = now - last
    if silent >= limits.offline:
        by_age = "offline"
    elif silent >= limits.unhealthy:
        by_age = "unhealthy"
    elif silent >= limits.degraded:
        by_age = "degraded"
    else:
        by_age = "healthy"
    return max(stored, by_age, key=lambda h: RANK.get(h, 1))


def live_status(agent: Agent) -> str:
    """What the agent is doing, not what it last said: an offline agent is ``offline`` (the
    engine marks it inactive at its next sweep), an unhealthy one ``silent``."""
    health = str(agent.health.status)
    if health == "offline":
        return "offline"
    if health == "unhealthy" and str(agent.status) == "active":
        return "silent"
    return str(agent.status)


def as_of(agent: Agent, now: float, limits: Thresholds = DEFAULT) -> Agent:
    """A copy of ``agent`` whose health is as of ``now`` (see the module docstring); its
    status in words is ``live_status``."""
    health = live_health(agent, now, limits)
    if health == str(agent.health.status):
        return agent
    return msgspec.structs.replace(
        agent, health=msgspec.structs.replace(agent.health, status=HealthState(health)))
