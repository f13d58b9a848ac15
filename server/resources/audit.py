"""The audit log over HTTP: read it (filtered, paged by seq) and verify its hash chain.

Why admin only: the log names every principal, request id and decision reason in the
system; it is the operators' record, not something an agent or a requester browses.

Why paged by ``seq`` (``after`` + ``next_after``) and not by page number: the log only grows,
so a seq cursor never skips or repeats a row while new ones are appended, exactly like
``GET /events``. An export tool walks it with ``after=next_after`` until a page is empty
(``switchboard audit export`` reads the database directly instead).
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from pydantic import Field

from switchboard.engine.audit import AuditQuery
from switchboard.server import contract, convert
from switchboard.server.contract.system import AuditHead
from switchboard.server.errors import RequestValidationError
from switchboard.server.jsonio import QueryModel
from switchboard.server.resources.common import engine_of
from switchboard.server.routing import RouteTable

routes = RouteTable(tag="audit")


# -- models -------------------------------------------------------------------------------


class AuditListQuery(QueryModel):
    object_type: str | None = Field(None, max_length=64, examples=["task"])
    object_id: str | None = Field(None, max_length=256)
    principal: str | None = Field(None, max_length=256)
    action: str | None = Field(
        None, max_length=128,
        description="An exact action (approval.reject) or a prefix ending in '.' (approval.)")
    since: datetime | None = Field(None, description="Rows at or after this time (ISO-8601)")
    until: datetime | None = Field(None, description="Rows strictly before this time")
    after: int = Field(0, ge=0, description="Return rows with seq greater than this")
    limit: int = Field(100, ge=1, le=1000)


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


# -- routes -------------------------------------------------------------------------------


@routes.get("/audit", role="admin", query=AuditListQuery, response=contract.AuditPage,
            summary="Read the audit log")
async def list_audit(request: web.Request, query: AuditListQuery) -> contract.AuditPage:
    """Audit rows after ``after``, oldest first, filtered by object, principal, action and
    time; page with ``next_after``."""
    since, until = _epoch(query.since), _epoch(query.until)
    if since is not None and until is not None and until < since:
        raise RequestValidationError("query.until: must not be before since")
    entries = await engine_of(request).audit.list(AuditQuery(
        object_type=query.object_type, object_id=query.object_id, principal=query.principal,
        action=query.action, since=since, until=until, after_seq=query.after,
        limit=query.limit))
    return contract.AuditPage(data=[convert.audit_entry(entry) for entry in entries],
                              next_after=entries[-1].seq if entries else query.after)


@routes.get("/audit/verify", role="admin", response=contract.AuditVerification,
            summary="Verify the audit log's hash chain")
async def verify_audit(request: web.Request) -> contract.AuditVerification:
    """Recompute every row's hash from the genesis; name the first row that does not match.

    ``ok: false`` is a finding, not an error (status 200). ``head`` is the last verified row:
    keep its hash somewhere else to notice a rewrite of the whole chain.
    """
    result = await engine_of(request).audit.verify()
    return contract.AuditVerification(
        ok=result.ok, rows=result.rows, broken_seq=result.broken_seq, problem=result.problem,
        head=AuditHead(seq=result.head_seq, hash=result.head_hash))
