"""Turn what an operator typed (a full id or the short tail shown in tables) into an id."""

from __future__ import annotations

from switchboard.console.backend import Backend, BackendError, NotAvailable
from switchboard.console.formatting import short_id


def _match(ident: str, candidates: list[str], kind: str) -> str:
    text = ident.strip().lower()
    exact = [c for c in candidates if c.lower() == text]
    if exact:
        return exact[0]
    found = [c for c in candidates
             if c.lower().endswith(text) or short_id(c).lower() == text or c.lower().startswith(text)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise BackendError(f"no {kind} matches {ident!r}", status=404)
    raise BackendError(f"{ident!r} matches {len(found)} {kind}s; type more of the id",
                       status=409)


async def resolve_id(backend: Backend, kind: str, ident: str) -> str:
    """The full id of the ``kind`` record the operator means. Raises BackendError (404/409)."""
    try:
        if kind == "run":
            return (await backend.run(ident)).run_id
        if kind == "task":
            return (await backend.task(ident)).id
        if kind == "agent":
            return (await backend.agent(ident)).id
        if kind == "approval":
            return (await backend.approval(ident)).approval_id
    except NotAvailable:
        raise
    except BackendError as exc:
        if exc.status not in (400, 404, 422):  # a short id is no valid full id: search
            raise
    if kind == "agent":
        by_name = [a.id for a in await backend.agents() if a.name.lower() == ident.lower()]
        if len(by_name) == 1:
            return by_name[0]
    if kind not in ("run", "task", "agent", "approval"):
        raise BackendError(f"unknown kind {kind!r}")
    found = await backend.find(kind, ident)  # the whole store, by any part of the id
    if len(found.ids) == 1 and not found.more:
        return found.ids[0]
    try:
        return _match(ident, found.ids, kind)  # several: the one it is the tail or head of
    except BackendError as exc:
        if exc.status != 404 or not found.ids:
            raise
        more = "+" if found.more else ""
        raise BackendError(f"{ident!r} matches {len(found.ids)}{more} {kind}s; type more of "
                           "the id", status=409) from None
