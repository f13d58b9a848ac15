"""Agents (seed 001): registry, heartbeats, health from heartbeat age, metrics from outcomes.

A worker process is an agent instance: it registers (or reuses a pre-created id),
heartbeats, and claims tasks of its type. Health is derived, not reported: the age of the
last heartbeat against the configured thresholds, re-evaluated by the maintenance loop so
that an agent that goes silent is seen going degraded -> unhealthy -> offline, with an
``agent.status_changed`` event at each step.

Ownership (issue 9): an agent id belongs to the principal that registered it
(``Agent.owner``); claims, heartbeats and re-registrations by anyone else are refused
inside the same write op (``engine.ownership.act_as_agent``). Admins create, change and
delete agents (each audited: ``agent.create``/``agent.update``/``agent.delete``) and may
set ``owner`` explicitly; an id created without one binds to its first agent principal.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from switchboard.engine import audit, ownership
from switchboard.engine.actors import SYSTEM, Actor
from switchboard.engine.clock import Clock
from switchboard.engine.config import Config
from switchboard.engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from switchboard.engine.ids import new_id
from switchboard.engine.models import AGENT_STATUSES, Agent
from switchboard.engine.ports import ClaimSlot, Peers
from switchboard.engine.rows import agent_from_row, agent_insert_params
from switchboard.engine.store.base import ReadConn, Store, Tx
from switchboard.engine.store.queries import F, Many, Q


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()
"""``update(owner=UNSET)`` leaves the owner alone; ``owner=None`` clears it."""


@dataclass(frozen=True)
class AgentQuery:
    status: str | None = None
    type: str | None = None
    health: str | None = None
    page: int = 1
    limit: int = 20


def load_agent(conn: ReadConn, agent_id: str) -> Agent:
    row = conn.one(Q.agent_by_id, {"id": agent_id})
    if row is None:
        raise NotFound(f"agent {agent_id!r} not found")
    return agent_from_row(row)


def _configuration(config: dict[str, Any] | None, base: Agent | None,
                   default_max: int) -> tuple[int, float, int]:
    cfg = dict(config or {})
    unknown = set(cfg) - {"max_concurrent_tasks", "timeout", "retry_attempts"}
    if unknown:
        raise ValidationFailed(f"configuration.{sorted(unknown)[0]}",
                               "unknown setting; use max_concurrent_tasks, timeout, retry_attempts")
    max_tasks = cfg.get("max_concurrent_tasks", base.max_concurrent_tasks if base else default_max)
    timeout = cfg.get("timeout", base.timeout if base else 300.0)
    retries = cfg.get("retry_attempts", base.retry_attempts if base else 3)
    if not isinstance(max_tasks, int) or isinstance(max_tasks, bool) or not 1 <= max_tasks <= 10_000:
        raise ValidationFailed("configuration.max_concurrent_tasks", "must be an integer 1..10000")
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise ValidationFailed("configuration.timeout", "must be a positive number of seconds")
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 100:
        raise ValidationFailed("configuration.retry_attempts", "must be an integer 0..100")
    return max_tasks, float(timeout), retries


def _audited_fields(agent: Agent) -> dict[str, Any]:
    """What ``agent.update`` rows compare and record."""
    return {"name": agent.name, "owner": agent.owner, "status": agent.status,
            "environment": agent.environment,
            "configuration": {"max_concurrent_tasks": agent.max_concurrent_tasks,
                              "timeout": agent.timeout, "retry_attempts": agent.retry_attempts}}


class AgentService:
    """Agent registry and health. Construct through ``engine.Engine``."""

    def __init__(self, store: Store, config: Config, clock: Clock, peers: Peers) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.peers = peers

    def health_for(self, last_heartbeat: float | None, now: float) -> str:
        if last_heartbeat is None:
            return "unknown"
        age = now - last_heartbeat
        cfg = self.config.agents
        if age < cfg.degraded_after_seconds:
            return "healthy"
        if age < cfg.unhealthy_after_seconds:
            return "degraded"
        if age < cfg.offline_after_seconds:
            return "unhealthy"
        return "offline"

    def _new_agent(self, name: str, type: str, configuration: dict[str, Any] | None,
                   environment: str | None) -> Callable[[Tx, str | None, str | None], Agent]:
        """Validate, then return an op-side function inserting the agent (id, owner)."""
        if not name or not name.strip():
            raise ValidationFailed("name", "must be a non-empty string")
        if not type or not type.strip():
            raise ValidationFailed("type", "must be a non-empty string")
        max_tasks, timeout, retries = _configuration(
            configuration, None, self.config.agents.default_max_concurrent_tasks)

        def insert(tx: Tx, agent_id: str | None, owner: str | None) -> Agent:
            new = agent_id or new_id("agent")
            if tx.one(Q.agent_exists, {"id": new}) is not None:
                raise Conflict(f"agent {new!r} already exists")
            agent = Agent(id=new, name=name.strip(), type=type.strip(),
                          max_concurrent_tasks=max_tasks, timeout=timeout,
                          retry_attempts=retries, environment=environment,
                          created_at=tx.now, updated_at=tx.now, owner=owner)
            tx.run(Q.agent_insert, agent_insert_params(agent))
            tx.emit("agent.registered", {"agent_id": agent.id, "name": agent.name,
                                         "type": agent.type, "status": agent.status},
                    agent_id=agent.id, source_agent=agent.id)
            return agent

        return insert

    async def create(self, name: str, type: str, *, configuration: dict[str, Any] | None = None,
                     environment: str | None = None, agent_id: str | None = None,
                     owner: str | None = None, actor: Actor = SYSTEM) -> Agent:
        """An admin creates an agent (seed 001's ``POST /agents``; audited ``agent.create``).

        Without ``owner`` the id is unowned until the first agent principal registers,
        heartbeats or claims with it (seed 001's pre-created id); with it, only that
        principal (or an admin) may act as the agent.
        """
        insert = self._new_agent(name, type, configuration, environment)
        if owner is not None and not owner.strip():
            raise ValidationFailed("owner", "must be a principal name or null")

        def op(tx: Tx) -> Agent:
            agent = insert(tx, agent_id, owner)
            audit.record(tx, actor, "agent.create", "agent", agent.id,
                         after={"name": agent.name, "type": agent.type, "owner": owner})
            return agent

        return await self.store.write(op)

    async def register(self, name: str, type: str, *, agent_id: str | None = None,
                       configuration: dict[str, Any] | None = None,
                       actor: Actor = SYSTEM) -> Agent:
        """Create an agent owned by ``actor``, or re-attach to an existing id (a worker
        restarting with its own id, or seed 001's pre-created one, which this binds).

        One write op, so two principals registering the same new or unowned id cannot both
        get it; an id another principal owns is refused (403) before its type is compared.
        The engine acting on its own (``SYSTEM``) creates unowned ids.
        """
        if not actor.at_least("agent"):
            raise Forbidden(f"registering an agent requires role agent; you have {actor.role}")
        insert = self._new_agent(name, type, configuration, None)
        owner = None if ownership.is_system(actor) else actor.name

        def op(tx: Tx) -> Agent:
            if agent_id is not None:
                row = tx.one(Q.agent_by_id, {"id": agent_id})
                if row is not None:
                    agent = agent_from_row(row)
                    agent.owner = self.act_as(tx, actor, agent_id, agent.owner, "register")
                    if agent.type != type:
                        raise ValidationFailed(
                            "type", f"agent {agent_id} is of type {agent.type}, not {type}")
                    return agent
            return insert(tx, agent_id, owner)

        return await self.store.write(op)

    async def get(self, agent_id: str) -> Agent:
        return await self.store.read(lambda c: load_agent(c, agent_id), inline=True)

    async def list(self, query: AgentQuery) -> tuple[list[Agent], int]:
        where: list[F] = []
        params: dict[str, Any] = {}
        if query.status:
            if query.status not in AGENT_STATUSES:
                raise ValidationFailed("status", f"use one of {', '.join(AGENT_STATUSES)}")
            where.append(F.agent_status)
            params["status"] = query.status
        if query.type:
            where.append(F.agent_type)
            params["type"] = query.type
        if query.health:
            where.append(F.agent_health)
            params["health"] = query.health
        if not 1 <= query.limit <= 100:
            raise ValidationFailed("limit", "must be between 1 and 100")
        if query.page < 1:
            raise ValidationFailed("page", "must be 1 or more")
        params["limit"], params["offset"] = query.limit, (query.page - 1) * query.limit

        def read(conn: ReadConn) -> tuple[list[Agent], int]:
            total = conn.one(Q.agent_count, params, where=where)
            rows = conn.all(Q.agent_page, params, where=where)
            return [agent_from_row(r) for r in rows], int(total[0] if total else 0)

        return await self.store.read(read)

    async def all(self) -> builtins.list[Agent]:
        def read(conn: ReadConn) -> list[Agent]:
            return [agent_from_row(r) for r in conn.all(Q.agent_all)]
        return await self.store.read(read)

    async def update(self, agent_id: str, *, name: str | None = None,
                     configuration: dict[str, Any] | None = None,
                     environment: str | None = None, status: str | None = None,
                     owner: str | _Unset | None = UNSET, actor: Actor = SYSTEM) -> Agent:
        """An admin changes an agent (audited ``agent.update`` with the fields that changed,
        before and after). ``owner`` rebinds the id to another principal; ``None`` unbinds
        it (the next agent principal to use it binds it again)."""
        if status is not None and status not in AGENT_STATUSES:
            raise ValidationFailed("status", f"use one of {', '.join(AGENT_STATUSES)}")
        if name is not None and not name.strip():
            raise ValidationFailed("name", "must be a non-empty string")
        if isinstance(owner, str) and not owner.strip():
            raise ValidationFailed("owner", "must be a principal name or null")

        def op(tx: Tx) -> Agent:
            agent = load_agent(tx, agent_id)
            max_tasks, timeout, retries = _configuration(
                configuration, agent, self.config.agents.default_max_concurrent_tasks)
            old = _audited_fields(agent)
            old_status = agent.status
            agent.name = name.strip() if name else agent.name
            agent.max_concurrent_tasks, agent.timeout, agent.retry_attempts = (
                max_tasks, timeout, retries)
            agent.environment = environment if environment is not None else agent.environment
            agent.status = status or agent.status
            if not isinstance(owner, _Unset):
                agent.owner = owner
            agent.updated_at = tx.now
            tx.run(Q.agent_update, {
                "id": agent_id, "name": agent.name, "max_concurrent_tasks": max_tasks,
                "timeout": timeout, "retry_attempts": retries, "environment": agent.environment,
                "status": agent.status, "owner": agent.owner, "now": tx.now})
            new = _audited_fields(agent)
            changed = [key for key in new if new[key] != old[key]]
            if changed:
                audit.record(tx, actor, "agent.update", "agent", agent_id,
                             before={k: old[k] for k in changed},
                             after={k: new[k] for k in changed})
            tx.emit("agent.updated", {"agent_id": agent_id, "name": agent.name,
                                      "status": agent.status}, agent_id=agent_id)
            if old_status != agent.status:
                tx.emit("agent.status_changed", {"agent_id": agent_id, "old_status": old_status,
                                                 "status": agent.status, "health": agent.health},
                        agent_id=agent_id)
            return agent

        return await self.store.write(op)

    async def delete(self, agent_id: str, *, actor: Actor = SYSTEM) -> float:
        """Remove an agent (audited ``agent.delete``); tasks it holds go back to the queue
        with no holder. Returns the deletion time."""
        def op(tx: Tx) -> float:
            agent = load_agent(tx, agent_id)
            before = {"name": agent.name, "type": agent.type, "owner": agent.owner,
                      "status": agent.status}
            requeued = self.peers.tasks.requeue_held_by(tx, agent_id, "agent deleted")
            audit.record(tx, actor, "agent.delete", "agent", agent_id, before=before,
                         after={"requeued": requeued})
            tx.run(Q.agent_delete, {"id": agent_id, "now": tx.now})
            tx.emit("agent.deleted", {"agent_id": agent_id}, agent_id=agent_id)
            return tx.now

        return await self.store.write(op)

    async def heartbeat(self, agent_id: str, *, cpu_usage: float | None = None,
                        memory_usage: float | None = None, status: str | None = None,
                        actor: Actor = SYSTEM) -> Agent:
        """Record a heartbeat: health becomes healthy and the agent's leases are extended.

        Only the agent's owner (or an admin, audited) may; an unowned id is bound to the
        first agent principal that heartbeats with it."""
        for field, value in (("cpu_usage", cpu_usage), ("memory_usage", memory_usage)):
            if value is not None and (not isinstance(value, int | float)
                                      or isinstance(value, bool) or not 0 <= value <= 100):
                raise ValidationFailed(field, "must be a percentage from 0 to 100")
        if status is not None and status not in ("active", "error", "inactive"):
            raise ValidationFailed("status", "use active, inactive or error")
        lease_seconds = self.config.tasks.lease_seconds

        def op(tx: Tx) -> Agent:
            agent = load_agent(tx, agent_id)
            agent.owner = self.act_as(tx, actor, agent_id, agent.owner, "heartbeat")
            now = tx.now
            old_health, old_status = agent.health, agent.status
            if agent.first_heartbeat is None or agent.health == "offline":
                agent.first_heartbeat = now
            agent.last_heartbeat = now
            agent.health = "healthy"
            agent.status = status or ("active" if agent.status in ("initializing", "inactive")
                                      else agent.status)
            agent.cpu_usage = cpu_usage if cpu_usage is not None else agent.cpu_usage
            agent.memory_usage = memory_usage if memory_usage is not None else agent.memory_usage
            tx.run(Q.agent_heartbeat, {
                "id": agent_id, "now": now, "first_heartbeat": agent.first_heartbeat,
                "status": agent.status, "cpu_usage": agent.cpu_usage,
                "memory_usage": agent.memory_usage})
            self.peers.tasks.extend_leases_of(tx, agent_id, now + lease_seconds)
            if old_health != "healthy" or old_status != agent.status:
                tx.emit("agent.status_changed", {
                    "agent_id": agent_id, "name": agent.name, "type": agent.type,
                    "old_health": old_health, "health": "healthy",
                    "old_status": old_status, "status": agent.status},
                    agent_id=agent_id, source_agent=agent_id)
            return agent

        return await self.store.write(op)

    def health_sweep_op(self, tx: Tx) -> int:
        """Re-derive health from heartbeat age; emit a change event per transition."""
        changed = 0
        rows = tx.all(Q.agent_health_rows)
        for agent_id, name, agent_type, health, status, last in rows:
            new_health = self.health_for(last, tx.now)
            if new_health == health:
                continue
            new_status = "inactive" if new_health == "offline" else status
            tx.run(Q.agent_set_health, {"id": agent_id, "health": new_health,
                                        "status": new_status})
            tx.emit("agent.status_changed", {
                "agent_id": agent_id, "name": name, "type": agent_type, "old_health": health,
                "health": new_health, "old_status": status, "status": new_status,
                "last_heartbeat_age": round(tx.now - last, 1)}, agent_id=agent_id)
            changed += 1
        return changed

    # -- in-transaction API for the other services (engine.ports.AgentPeer) ----------------
    def claim_slot(self, tx: Tx, agent_id: str) -> ClaimSlot:
        row = tx.one(Q.agent_claim_slot, {"id": agent_id})
        if row is None:
            raise NotFound(f"agent {agent_id!r} not found; register it first")
        return ClaimSlot(str(row[0]), int(row[1]), int(row[2]), row[3])

    def type_of(self, conn: ReadConn, agent_id: str) -> str | None:
        row = conn.one(Q.agent_type, {"id": agent_id})
        return None if row is None else str(row[0])

    def act_as(self, tx: Tx, actor: Actor, agent_id: str, owner: str | None, action: str, *,
               audit_override: bool = True) -> str | None:
        return ownership.act_as_agent(tx, actor, agent_id, owner, action,
                                      bind=_bind_owner, audit_override=audit_override)

    def owned_by(self, conn: ReadConn, agent_id: str, principal: str) -> bool:
        return conn.one(Q.agent_owned_by, {"id": agent_id, "owner": principal}) is not None

    def owners_of_type(self, conn: ReadConn, agent_type: str,
                       principals: Sequence[str]) -> int:
        row = conn.one(Q.agent_owners_of_type, {"type": agent_type,
                                                "principals": Many(principals)})
        return int(row[0]) if row is not None else 0

    def note_claimed(self, tx: Tx, agent_id: str) -> None:
        tx.run(Q.agent_note_claimed, {"id": agent_id})

    def note_released(self, tx: Tx, agent_id: str) -> None:
        tx.run(Q.agent_note_released, {"id": agent_id})

    def note_finished(self, tx: Tx, agent_id: str, status: str, *, duration_ms: float,
                      was_running: bool) -> None:
        held = int(was_running)
        if status == "completed":
            tx.run(Q.agent_note_completed, {"id": agent_id, "held": held, "ms": duration_ms})
        elif status == "failed":
            tx.run(Q.agent_note_failed, {"id": agent_id, "held": held})
        elif was_running:
            tx.run(Q.agent_note_released, {"id": agent_id})


def _bind_owner(tx: Tx, agent_id: str, principal: str) -> None:
    tx.run(Q.agent_bind_owner, {"id": agent_id, "owner": principal})
