"""The store interface the engine's services are written against.

A service expresses a change as a *write op*: a plain function that receives a ``Tx`` and
runs named queries through it. The store runs ops from many callers in one transaction
(group commit) and only then resolves each caller's awaitable, so an acknowledged change is
a committed change. Events an op emits are persisted in that same transaction and handed to
the event bus only after the commit. Reads run on separate connections and never wait for
the writer; each read op sees one snapshot (all its statements read the same commit).

Services never hold SQL: they name a statement (``engine.store.queries.Q``) and pass named
parameters; each store resolves the name in its own query file (``sqlite.sql``, ``postgres.sql``).
That is the whole surface a second store implements.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from switchboard.engine.errors import StorageFailure
from switchboard.engine.models import Event
from switchboard.engine.store.queries import NO_PARAMS, F, Params, Q, Row

R = TypeVar("R")


class ReadConn(Protocol):
    """What a read op may do: run named read statements (one snapshot per op)."""

    def one(self, query: Q, params: Params = NO_PARAMS, *,
            where: Sequence[F] = ()) -> Row | None:
        """The first row, or None."""
        ...

    def all(self, query: Q, params: Params = NO_PARAMS, *,
            where: Sequence[F] = ()) -> list[Row]:
        """Every row."""
        ...


class Tx(ReadConn, Protocol):
    """What a write op may do inside the group transaction."""

    now: float

    def run(self, query: Q, params: Params = NO_PARAMS, *, where: Sequence[F] = ()) -> int:
        """Run a changing statement; returns how many rows it changed."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested step: what it changed is undone if the block raises (and re-raised)."""
        ...

    def emit(
        self,
        event_type: str,
        payload: dict[str, Any] | None = None,
        *,
        source_agent: str | None = None,
        task_id: str | None = None,
        run_id: str | None = None,
        agent_id: str | None = None,
        trace_id: str | None = None,
        priority: str | None = None,
    ) -> Event:
        """Record an event in this transaction. Its ``seq`` is final once the write has
        committed; inside the op only in ``numbered`` (PostgreSQL numbers at the batch's end)."""
        ...

    def after_commit(self, callback: Callable[[], object]) -> None: ...

    def numbered(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` inside the transaction once the events emitted so far have
        their seqs.

        Why: a store may number a group commit's events only at its end, in a serialized
        step just before COMMIT (PostgreSQL: seqs in commit order across replicas), so an
        ``Event.seq`` is not known while the op runs there. An op that must write the seq
        (an audit row naming the event) does it here. SQLite numbers at ``emit``: the
        callback runs at once. It may write rows and audit records, but must not lock
        existing rows (on PostgreSQL it runs while the events lock is held)."""
        ...


WriteOp = Callable[[Tx], R]

_REPLAYABLE = "_switchboard_replayable"


def replayable(op: Callable[[Tx], R]) -> Callable[[Tx], R]:
    """Mark a write op as safe to run again from the start after a rolled-back attempt.

    Why: a store may run a group of such ops without a savepoint around each (two statements
    per op saved on the hot path); if one of them raises, it rolls the whole group back and
    runs it again op by op with savepoints. So an op marked here must keep everything it
    changes inside the transaction (statements, ``emit``, ``after_commit``) and must not
    mutate objects it closed over: a second run has to start from what the first saw.
    Unmarked ops always run under their own savepoint."""
    setattr(op, _REPLAYABLE, True)
    return op


def is_replayable(op: Callable[..., Any]) -> bool:
    return getattr(op, _REPLAYABLE, False) is True

EmitHook = Callable[[Tx, Event], None]
"""Called inside the transaction for every event an op emits (e.g. the webhook outbox),
once the event has its seq: at ``emit`` on SQLite, in the numbering step before COMMIT on
PostgreSQL (so, like ``Tx.numbered``, it may insert rows but must not lock existing ones)."""
ReadOp = Callable[[ReadConn], R]


class Store(abc.ABC):
    """Durable storage with group-committed writes and non-blocking reads."""

    kind: str = "store"
    """Which store this is (``sqlite``, ``postgres``): ``/health`` reports it."""

    location: str = ""
    """Where its data is (a file path, a URL without its password), for logs and health."""

    write_failure: StorageFailure | None = None
    """The storage failure that refused the last write, until a write commits again
    (``/health`` reports ``degraded`` with its detail meanwhile)."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Create or migrate the schema and start the writer."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish queued writes, stop the writer, close connections."""

    @abc.abstractmethod
    async def write(self, op: WriteOp[R], *,
                    on_abandoned: Callable[[R], None] | None = None) -> R:
        """Run ``op`` in the next group transaction; return its result once committed.

        A caller cancelled while its op is queued cannot stop the op from committing;
        ``on_abandoned(result)`` is then called (on the loop) so the caller's side can undo
        what nobody will receive (a claim's lease, for one)."""

    @abc.abstractmethod
    async def read(self, op: ReadOp[R], *, inline: bool = False, single: bool = False) -> R:
        """Run ``op`` against a read connection, in one read transaction: every statement
        of ``op`` sees the same committed state (a consistent overview, a page and its count).

        ``inline`` marks a tiny point lookup the store may run without leaving the loop.
        ``single`` promises that ``op`` runs exactly one statement: one statement is one
        snapshot already, so the store may skip the transaction around it (BEGIN and COMMIT
        were half the cost of a task read)."""

    @abc.abstractmethod
    def set_event_sink(self, sink: Callable[[list[Event]], None]) -> None:
        """Where committed events go (the bus), in seq order, after each commit."""

    @abc.abstractmethod
    def add_emit_hook(self, hook: EmitHook) -> None:
        """Run ``hook(tx, event)`` inside the emitting transaction for every event, so that
        what it writes (an outbox row) commits if and only if the event does."""

    @abc.abstractmethod
    async def ping(self) -> float:
        """Round-trip a trivial query; returns milliseconds (for health)."""

    @abc.abstractmethod
    async def integrity_check(self) -> str:
        """The storage engine's own consistency check ("ok" when healthy)."""

    async def lead(self, role: str) -> bool:
        """Whether this process should run the once-per-deployment job ``role`` now (the
        maintenance loop, recovering runs). One process owns an SQLite file, so always;
        a store shared by replicas elects one holder per role and moves it on failure."""
        return True

    async def resign(self, role: str) -> None:
        """Give up ``role`` (a run this process finished driving); a no-op where ``lead``
        is always true."""
        return None

    shared: bool = False
    """Whether other processes may use this store at once (replicas): the engine then
    polls for work a dead replica left (runs to take over)."""

    def pool_stats(self) -> dict[str, int]:
        """Connection figures for ``/metrics`` (empty where there is no pool)."""
        return {}
