"""What each engine service lets the others do inside a write op: the owners' API.

Why: each service owns its tables (tasks and task_logs: ``TaskService``; agents:
``AgentService``; approvals: ``ApprovalService``; runs: ``RunService``; metrics_minute:
``StatsService``), and only the owner writes them, so a second store implements each
table's statements once and a table's rules live in one place. A change that spans
services (a claim bumps its agent's running count; a P0 task opens an approval) stays ONE
write op: the caller passes its ``Tx`` to the owner's in-transaction method below, which
runs its statement in the same transaction. No extra round trip, no extra statement.

Services import this module, never each other (``tasks`` and ``approvals`` call each other
both ways); ``engine.Engine`` builds the services and wires them into one ``Peers``. mypy
checks at that wiring that each service implements its protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from switchboard.engine.actors import Actor
from switchboard.engine.models import Approval, Task
from switchboard.engine.store.base import ReadConn, Tx


class ClaimSlot(NamedTuple):
    """What a claim needs of its agent, read in the claim's own transaction."""

    type: str
    running: int
    max_running: int
    owner: str | None


class TaskPeer(Protocol):
    """``engine.tasks.TaskService``: tasks and their logs."""

    def load(self, conn: ReadConn, task_id: str) -> Task:
        """The task (NotFound if there is none)."""
        ...

    def approved(self, tx: Tx, task: Task, actor: Actor) -> Task:
        """Its approval was granted: queue it (``assigned``, or ``pending`` until its time)."""
        ...

    def rejected(self, tx: Tx, task: Task, actor: Actor, reason: str | None) -> Task:
        """Its approval was refused: the task ends ``rejected``."""
        ...

    def requeue_held_by(self, tx: Tx, agent_id: str, reason: str) -> list[str]:
        """Put every task ``agent_id`` holds back in the queue; returns their ids."""
        ...

    def extend_leases_of(self, tx: Tx, agent_id: str, expires_at: float) -> None:
        """Push out the leases of every task ``agent_id`` holds (its heartbeat)."""
        ...


class AgentPeer(Protocol):
    """``engine.agents.AgentService``: the agent registry and its counters."""

    def claim_slot(self, tx: Tx, agent_id: str) -> ClaimSlot:
        """The agent's type, load and owner (NotFound if there is none)."""
        ...

    def type_of(self, conn: ReadConn, agent_id: str) -> str | None:
        """The type of a live agent, or None."""
        ...

    def act_as(self, tx: Tx, actor: Actor, agent_id: str, owner: str | None, action: str, *,
               audit_override: bool = True) -> str | None:
        """``engine.ownership.act_as_agent``, binding an unowned id in this transaction."""
        ...

    def owned_by(self, conn: ReadConn, agent_id: str, principal: str) -> bool:
        """Whether ``principal`` registered the live agent ``agent_id``."""
        ...

    def owners_of_type(self, conn: ReadConn, agent_type: str,
                       principals: Sequence[str]) -> int:
        """How many of ``principals`` own live agents of ``agent_type``."""
        ...

    def note_claimed(self, tx: Tx, agent_id: str) -> None:
        """One more task running on the agent."""
        ...

    def note_released(self, tx: Tx, agent_id: str) -> None:
        """One task fewer running (handed back or requeued, no outcome)."""
        ...

    def note_finished(self, tx: Tx, agent_id: str, status: str, *, duration_ms: float,
                      was_running: bool) -> None:
        """A task the agent claimed ended with ``status``: its counters, in one statement."""
        ...


class ApprovalPeer(Protocol):
    """``engine.approvals.ApprovalService``: the one inbox."""

    def open_for_task(self, tx: Tx, task: Task, *, requested_by: str | None,
                      reason: str) -> Approval:
        """Open the approval ``task.approval_id`` names (the task row is written first)."""
        ...

    def cancel_for_task(self, tx: Tx, task: Task, actor: Actor, reason: str | None) -> bool:
        """Cancel the task's approval if it is still pending (audited); True if it was."""
        ...


class RunPeer(Protocol):
    """``engine.orchestrations.runs.RunService``: orchestration runs."""

    def status_of(self, conn: ReadConn, run_id: str) -> str | None:
        """The run's status, or None if there is no such run."""
        ...

    def starter_of(self, conn: ReadConn, run_id: str) -> str | None:
        """The principal that started the run (None: unknown or the engine)."""
        ...


class MetricsPeer(Protocol):
    """``engine.stats.StatsService``: the per-minute series."""

    def note_created(self, tx: Tx) -> None: ...

    def note_finished(self, tx: Tx, status: str, *, duration_ms: float) -> None:
        """A task ended ``completed`` or ``failed`` (others are not counted)."""
        ...


class Peers:
    """The services, as each other sees them. Filled once by ``engine.Engine``."""

    tasks: TaskPeer
    agents: AgentPeer
    approvals: ApprovalPeer
    runs: RunPeer
    metrics: MetricsPeer

    def wire(self, *, tasks: TaskPeer, agents: AgentPeer, approvals: ApprovalPeer,
             runs: RunPeer, metrics: MetricsPeer) -> None:
        self.tasks, self.agents, self.approvals = tasks, agents, approvals
        self.runs, self.metrics = runs, metrics
