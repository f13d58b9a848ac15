"""Revoked tokens: the list the server consults on every authenticated request.

Why in the store: a revocation must survive a restart (a leaked token stays refused until it
expires), and it is a privileged act that belongs in the audit log, committed together.
Two kinds: ``jti`` refuses one token (by its JWT id) until its own expiry; ``subject``
refuses every token of a principal issued at or before the revocation (``iat`` <=
``not_before``), kept for the server's maximum token lifetime, after which every such token
has expired anyway. API keys are configuration, not tokens: remove them from the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from switchboard.engine import audit
from switchboard.engine.actors import Actor
from switchboard.engine.clock import Clock
from switchboard.engine.store.base import ReadConn, Store, Tx
from switchboard.engine.store.queries import Q

RevocationKind = Literal["jti", "subject"]


@dataclass(frozen=True, slots=True)
class Revocation:
    kind: RevocationKind
    value: str
    until: float
    revoked_at: float
    revoked_by: str
    not_before: float | None = None
    reason: str | None = None


class RevocationService:
    """Write and read revocations. Attached as ``engine.revocations``."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def revoke(self, actor: Actor, kind: RevocationKind, value: str, *, until: float,
                     reason: str | None = None) -> Revocation:
        """Record a revocation (replacing an older one of the same kind and value) and its
        ``token.revoke`` audit row in one transaction."""
        def op(tx: Tx) -> Revocation:
            now = float(tx.now)
            item = Revocation(kind, value, max(until, now), now, actor.name,
                              not_before=now if kind == "subject" else None, reason=reason)
            tx.run(Q.revocation_put, {"kind": kind, "value": value,
                                      "not_before": item.not_before, "until": item.until,
                                      "revoked_at": now, "revoked_by": actor.name,
                                      "reason": reason})
            audit.record(tx, actor, "token.revoke", "token" if kind == "jti" else "principal",
                         value, after={"kind": kind, "until": item.until}, reason=reason)
            return item

        return await self.store.write(op)

    async def active(self) -> list[Revocation]:
        """Revocations still refusing something (expired ones are left out)."""
        now = self.clock.now()

        def read(conn: ReadConn) -> list[Revocation]:
            rows = conn.all(Q.revocation_active, {"now": now})
            return [Revocation(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]

        return await self.store.read(read)

    def prune_op(self, tx: Tx) -> int:
        """Forget revocations whose tokens have all expired (part of maintenance)."""
        return tx.run(Q.revocation_prune, {"now": tx.now})
