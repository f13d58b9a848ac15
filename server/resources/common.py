"""Small helpers every resource module uses: the engine, the acting principal, pagination."""

from __future__ import annotations

import math

from aiohttp import web
from pydantic import Field

from switchboard.engine.actors import Actor
from switchboard.engine.engine import Engine
from switchboard.server.app_keys import ENGINE_KEY, principal_of, request_id_of
from switchboard.server.contract import Pagination
from switchboard.server.jsonio import QueryModel


def engine_of(request: web.Request) -> Engine:
    return request.app[ENGINE_KEY]


def actor_of(request: web.Request) -> Actor:
    """The caller as the engine records it (``approved_by``, ``created_by``)."""
    principal = principal_of(request)
    request_id = request_id_of(request)
    if principal is None:
        return Actor("anonymous", "user", "none", request_id)
    return Actor(principal.subject, principal.role, principal.kind, request_id)


def now_of(request: web.Request) -> float:
    return engine_of(request).clock.now()


MAX_PAGE = 1_000_000_000
"""Far past any real list, and small enough that ``(page - 1) * limit`` (the SQL OFFSET) fits
in 64 bits: a page near 2^63 once reached SQLite as an OverflowError (a 500)."""


class PageQuery(QueryModel):
    """Seed 001 paging: ``page`` from 1 (at most ``MAX_PAGE``), ``limit`` 1..100 (default 20)."""

    page: int = Field(1, ge=1, le=MAX_PAGE, description="Page number, from 1.")
    limit: int = Field(20, ge=1, le=100, description="Items per page (max 100).")


def pagination(page: int, limit: int, total: int) -> Pagination:
    """Seed 001's pagination block for a page of ``limit`` items out of ``total``."""
    return Pagination(page=page, limit=limit, total=total,
                      pages=max(math.ceil(total / limit), 1) if total else 0)
