"""Approval action links: decide one approval, once, as one named person, from a phone.

Why: the person on call is not always at a terminal with SSH. A link delivered to them
(e.g. in a webhook message) opens a minimal confirm page and decides the approval with one
more tap. Off by default (``[approvals] action_links``).

A link is a capability, so it is narrow: the token names one approval, one principal (and
the role it acts with), an expiry and a random nonce, and is signed with a key derived from
the server's JWT secret (HMAC-SHA256, a purpose string keeps it from ever verifying as a
JWT or vice versa). It decides through the same rules as the API (self-approval, gates,
assignees), acting as that principal with auth method ``action_link``; the nonce is recorded
in the deciding transaction, so a second use (or a race of two) is refused. Minting a link
and every use are audited.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

import msgspec

from switchboard.engine import audit
from switchboard.engine.actors import ROLE_RANK, Actor
from switchboard.engine.approval_routing import principal_matches
from switchboard.engine.approvals import ApprovalService, load_approval
from switchboard.engine.clock import Clock
from switchboard.engine.config import Config
from switchboard.engine.errors import Conflict, EngineError, Forbidden, NotFound
from switchboard.engine.models import Approval
from switchboard.engine.store.base import ReadConn, Store, Tx
from switchboard.engine.store.queries import Q

PURPOSE: Final = b"switchboard approval action link v1"


class LinkRefused(Forbidden):
    """The link cannot be used (bad signature, expired, another approval, used)."""


@dataclass(frozen=True, slots=True)
class LinkClaims:
    approval_id: str
    principal: str
    role: str
    expires_at: float
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ActionLinks:
    """Mint and use action links. Attached as ``engine.action_links``."""

    def __init__(self, store: Store, config: Config, clock: Clock,
                 approvals: ApprovalService) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.approvals = approvals
        self._key = hmac.new(config.auth.jwt_secret.encode(), PURPOSE, hashlib.sha256).digest()

    @property
    def enabled(self) -> bool:
        return self.config.approvals.action_links

    def _require_enabled(self) -> None:
        if not self.enabled:
            raise NotFound("action links are off on this server ([approvals] action_links)")

    # -- tokens ------------------------------------------------------------------------------
    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key, payload, hashlib.sha256).digest())

    def encode(self, claims: LinkClaims) -> str:
        payload = msgspec.json.encode([claims.approval_id, claims.principal, claims.role,
                                       claims.expires_at, claims.nonce])
        return f"{_b64(payload)}.{self._sign(payload)}"

    def decode(self, token: str, approval_id: str) -> LinkClaims:
        """Check the signature, the approval and the expiry; LinkRefused says which failed."""
        body, dot, sig = token.partition(".")
        if not dot or len(token) > 2048:
            raise LinkRefused("this link is not a valid action link")
        try:
            payload = _unb64(body)
            good = hmac.compare_digest(self._sign(payload), sig)
            fields = msgspec.json.decode(payload) if good else None
        except (binascii.Error, ValueError, msgspec.DecodeError):
            raise LinkRefused("this link is not a valid action link") from None
        if not good or not isinstance(fields, list) or len(fields) != 5:
            raise LinkRefused("this link is not a valid action link")
        claims = LinkClaims(str(fields[0]), str(fields[1]), str(fields[2]), float(fields[3]),
                            str(fields[4]))
        if claims.approval_id != approval_id:
            raise LinkRefused("this link is for another approval")
        if claims.expires_at <= self.clock.now():
            raise LinkRefused("this link has expired; ask for a new one")
        return claims

    # -- minting -----------------------------------------------------------------------------
    async def mint(self, approval_id: str, principal: str, role: str, minted_by: Actor,
                   ttl_seconds: int | None = None) -> tuple[str, float]:
        """A token for ``principal`` to decide ``approval_id``; audited ``approval.link``."""
        self._require_enabled()
        if role not in ROLE_RANK:
            raise EngineError(f"role must be one of {', '.join(ROLE_RANK)}")
        ttl = ttl_seconds or self.config.approvals.action_link_ttl_seconds
        expires = self.clock.now() + ttl
        claims = LinkClaims(approval_id, principal, role, expires, secrets.token_urlsafe(16))

        def op(tx: Tx) -> None:
            approval = load_approval(tx, approval_id)
            if approval.status != "pending":
                raise Conflict(f"approval {approval_id} is already {approval.status}")
            if approval.assignees and not principal_matches(approval.assignees,
                                                            Actor(principal, role)):
                raise Forbidden(f"a link for approval {approval_id} must name one of its"
                                f" assignees ({', '.join(approval.assignees)}), not"
                                f" {principal} ({role})")
            audit.record(tx, minted_by, "approval.link", "approval", approval_id,
                         after={"principal": principal, "role": role, "expires_at": expires})
        await self.store.write(op)
        return self.encode(claims), expires

    # -- use ---------------------------------------------------------------------------------
    async def preview(self, approval_id: str, token: str) -> tuple[LinkClaims, Approval]:
        """What the confirm page shows; refuses a used link before anyone taps."""
        self._require_enabled()
        claims = self.decode(token, approval_id)

        def read(conn: ReadConn) -> bool:
            return conn.one(Q.action_link_used, {"nonce": claims.nonce}) is not None
        if await self.store.read(read):
            raise LinkRefused("this link was already used")
        return claims, await self.approvals.get(approval_id)

    async def use(self, approval_id: str, token: str, approve: bool, *,
                  reason: str | None = None, request_id: str | None = None) -> Approval:
        """Decide as the link's principal; the nonce is spent in the same transaction."""
        self._require_enabled()
        claims = self.decode(token, approval_id)
        actor = Actor(claims.principal, claims.role, "action_link", request_id)
        decide = self.approvals.decide_op(approval_id, approve, actor, reason=reason)

        def op(tx: Tx) -> Approval:
            if tx.one(Q.action_link_used, {"nonce": claims.nonce}) is not None:
                raise LinkRefused("this link was already used")
            tx.run(Q.action_link_spend, {"nonce": claims.nonce, "approval_id": approval_id,
                                         "principal": claims.principal, "now": tx.now})
            return decide(tx)
        return await self.store.write(op)
