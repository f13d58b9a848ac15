"""The audit log: an append-only, hash-chained record of every decision and privileged act.

Why in the engine and in the same transaction as the change: an audit row written after
the fact can be lost to a crash between the two, and one written before can record a change
that then failed. ``record`` runs inside the caller's write op, so the row commits if and
only if the change does.

Why a hash chain: the table refuses UPDATE and DELETE (triggers), but anyone holding the
database file can edit it with another tool. Each row's ``hash`` is
``sha256(prev_hash || canonical row)``, so changing, removing or reordering any row breaks
every hash after it; ``verify`` recomputes the chain and names the first row that does not
match (``switchboard audit verify``). The genesis ``prev_hash`` is 64 zeros.

The canonical row is the JSON array of the stored column values in a fixed order (compact,
UTF-8, floats as Python's shortest repr). ``before``/``after``/``detail`` are stored as the
JSON text that was hashed, so verification never re-encodes a value.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from switchboard.engine.actors import Actor
from switchboard.engine.store.base import ReadConn, Store, Tx
from switchboard.engine.store.queries import F, Q

GENESIS: Final = "0" * 64

ACTIONS: Final = (
    # approvals and gates
    "approval.approve", "approval.reject", "approval.expire", "approval.cancel",
    "approval.self_approve", "approval.break_glass", "approval.reassign", "approval.vote",
    "approval.overdue", "approval.escalate",
    "gate.answer", "run.resume",
    # tasks and runs
    "task.cancel", "task.retry", "task.priority", "task.override",
    "run.cancel", "run.retry",
    # agents
    "agent.create", "agent.update", "agent.delete", "agent.override",
    # privileged
    "approval.link", "token.mint", "token.revoke", "webhook.redeliver", "provider.switch", "event.publish_as",
    "workflow.execute_privileged", "workflow.validate_privileged",
)
"""Known actions (documentation and filter hints; ``record`` accepts any dotted name)."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of the audit log, as stored."""

    seq: int
    at: float
    principal: str
    role: str
    auth_method: str
    action: str
    object_type: str
    object_id: str | None
    before: str | None
    after: str | None
    reason: str | None
    request_id: str | None
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        from switchboard.engine.clock import iso

        return {
            "seq": self.seq, "at": iso(self.at), "timestamp": self.at,
            "principal": self.principal, "role": self.role, "auth_method": self.auth_method,
            "action": self.action, "object_type": self.object_type, "object_id": self.object_id,
            "before": _loads(self.before), "after": _loads(self.after), "reason": self.reason,
            "request_id": self.request_id, "prev_hash": self.prev_hash, "hash": self.hash,
        }


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _dumps(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def canonical(seq: int, at: float, principal: str, role: str, auth_method: str, action: str,
              object_type: str, object_id: str | None, before: str | None, after: str | None,
              reason: str | None, request_id: str | None) -> bytes:
    """The bytes a row's hash covers (everything but the two hashes)."""
    return json.dumps(
        [seq, at, principal, role, auth_method, action, object_type, object_id, before, after,
         reason, request_id],
        separators=(",", ":"), ensure_ascii=False,
    ).encode("utf-8")


def chain_hash(prev_hash: str, row: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + row).hexdigest()


def record(tx: Tx, actor: Actor, action: str, object_type: str, object_id: str | None, *,
           before: Any = None, after: Any = None, reason: str | None = None) -> None:
    """Append one audit row inside the caller's transaction.

    ``before``/``after`` are JSON-encodable snapshots of what changed (a status, a priority,
    an answer); keep them small: the log is kept forever.

    The row is appended in ``tx.numbered`` (SQLite: at once; PostgreSQL: at the end of the
    group commit, under the audit lock, taken just before the events lock). Why: the chain
    is extended under a lock held to commit; taken in the middle of a batch, that lock
    would deadlock with replicas' row locks the way the events lock once did (see
    ``engine.store.postgres``), and hold every other replica's audited writes meanwhile.
    """
    before_text, after_text = _dumps(before), _dumps(after)
    tx.numbered(lambda: _append(tx, actor, action, object_type, object_id, before_text,
                                after_text, reason))


def _append(tx: Tx, actor: Actor, action: str, object_type: str, object_id: str | None,
            before_text: str | None, after_text: str | None, reason: str | None) -> None:
    last = tx.one(Q.audit_head)
    seq, prev = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
    at = float(tx.now)
    digest = chain_hash(prev, canonical(seq, at, actor.name, actor.role, actor.kind, action,
                                        object_type, object_id, before_text, after_text, reason,
                                        actor.request_id))
    entry = AuditEntry(seq, at, actor.name, actor.role, actor.kind, action, object_type,
                       object_id, before_text, after_text, reason, actor.request_id, prev, digest)
    tx.run(Q.audit_insert, {
        "seq": seq, "at": at, "principal": entry.principal, "role": entry.role,
        "auth_method": entry.auth_method, "action": action, "object_type": object_type,
        "object_id": object_id, "before": before_text, "after": after_text, "reason": reason,
        "request_id": entry.request_id, "prev_hash": prev, "hash": digest})


def entry_from_row(row: Sequence[Any]) -> AuditEntry:
    return AuditEntry(int(row[0]), float(row[1]), *row[2:])


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters for ``GET /api/v1/audit`` and ``switchboard audit export``."""

    object_type: str | None = None
    object_id: str | None = None
    principal: str | None = None
    action: str | None = None
    since: float | None = None
    until: float | None = None
    after_seq: int = 0
    limit: int = 100


def query_entries(conn: ReadConn, query: AuditQuery) -> list[AuditEntry]:
    """Rows matching ``query`` in seq order, after ``after_seq``, at most ``limit``."""
    where: list[F] = []
    params: dict[str, Any] = {"after": query.after_seq, "limit": query.limit}
    for name, flt, value in (("object_type", F.audit_object_type, query.object_type),
                             ("object_id", F.audit_object_id, query.object_id),
                             ("principal", F.audit_principal, query.principal),
                             ("since", F.audit_since, query.since),
                             ("until", F.audit_until, query.until)):
        if value is not None:
            where.append(flt)
            params[name] = value
    if query.action is not None:
        if query.action.endswith("."):
            where.append(F.audit_action_prefix)
            params["action_prefix"] = query.action
        else:
            where.append(F.audit_action)
            params["action"] = query.action
    rows = conn.all(Q.audit_query, params, where=where)
    return [entry_from_row(r) for r in rows]


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """``ok`` with the number of rows checked, or the first broken row and why.

    ``head_seq``/``head_hash`` name the last row whose hash verified (the newest row when
    ``ok``; ``0`` and the genesis hash when none did): the point up to which the log can be
    trusted, and the value to publish elsewhere to detect a rewrite of the whole chain.
    """

    ok: bool
    rows: int
    broken_seq: int | None = None
    problem: str | None = None
    head_seq: int = 0
    head_hash: str = GENESIS


def verify_rows(rows: Iterable[Sequence[Any]]) -> VerifyResult:
    """Recompute the chain over rows in seq order; stop at the first mismatch."""
    prev = GENESIS
    expected_seq = 1
    count = 0
    for row in rows:
        try:
            entry = entry_from_row(row)
        except (TypeError, ValueError):
            return VerifyResult(False, count, _seq_or_none(row),
                                "the row's values have the wrong types (the row was altered)",
                                expected_seq - 1, prev)
        if entry.seq != expected_seq:
            return VerifyResult(False, count, entry.seq,
                                f"expected row {expected_seq} next, found row {entry.seq}"
                                " (a row was removed or renumbered)", expected_seq - 1, prev)
        if entry.prev_hash != prev:
            return VerifyResult(False, count, entry.seq,
                                "prev_hash does not match the previous row's hash",
                                expected_seq - 1, prev)
        try:
            digest = chain_hash(prev, canonical(
                entry.seq, entry.at, entry.principal, entry.role, entry.auth_method,
                entry.action, entry.object_type, entry.object_id, entry.before, entry.after,
                entry.reason, entry.request_id))
        except (TypeError, ValueError):  # e.g. a text column turned into a blob
            digest = ""
        if digest != entry.hash:
            return VerifyResult(False, count, entry.seq,
                                "hash does not match the row's contents (the row was altered)",
                                expected_seq - 1, prev)
        prev = entry.hash
        expected_seq += 1
        count += 1
    return VerifyResult(True, count, head_seq=expected_seq - 1, head_hash=prev)


def _seq_or_none(row: Sequence[Any]) -> int | None:
    try:
        return int(row[0])
    except (TypeError, ValueError, IndexError):
        return None


def iter_all_rows(conn: ReadConn, batch: int = 5000) -> Iterator[Sequence[Any]]:
    """Every audit row in seq order, read in batches (the log can be long)."""
    after = 0
    while True:
        rows = conn.all(Q.audit_rows_after, {"after": after, "limit": batch})
        if not rows:
            return
        yield from rows
        after = int(rows[-1][0])


class AuditService:
    """Reads and verifies the audit log. Writes go through ``record`` inside each service's
    own write op. Attached as ``engine.audit``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def record_action(self, actor: Actor, action: str, object_type: str,
                            object_id: str | None, *, before: Any = None, after: Any = None,
                            reason: str | None = None) -> None:
        """Append one row in a write op of its own, committed when this returns.

        For privileged acts that change no stored state of their own (minting a token,
        switching the in-memory default provider, authorizing a privileged inline run): the
        route awaits this before it answers, so no 2xx goes out for an unrecorded act."""
        return await self.store.write(lambda tx: record(
            tx, actor, action, object_type, object_id, before=before, after=after,
            reason=reason))

    async def list(self, query: AuditQuery) -> list[AuditEntry]:
        from switchboard.engine.errors import ValidationFailed

        if not 1 <= query.limit <= 1000:
            raise ValidationFailed("limit", "must be between 1 and 1000")
        return await self.store.read(lambda conn: query_entries(conn, query))

    async def verify(self) -> VerifyResult:
        """Recompute the whole chain (off the event loop, on a read connection)."""
        return await self.store.read(lambda conn: verify_rows(iter_all_rows(conn)))

    async def head(self) -> tuple[int, str]:
        """The newest row's seq and hash (0 and the genesis hash when empty): publish it
        elsewhere to detect a rewrite of the whole chain."""
        row = await self.store.read(lambda conn: conn.one(Q.audit_head), inline=True)
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)
