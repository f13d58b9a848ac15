"""The seeds' own base paths and words, as thin translations over the canonical API.

``/api/v1`` is the canonical API (seed 000, and this project's own vocabulary). Each seed
also documents its own base URL, and its clients must work there unchanged:

- ``seed001``: ``/v1/...`` in seed 001's words (task statuses pending/running/completed/
  failed, priorities low..critical, its WebSocket channels), ``/oauth/token`` at the root;
- ``root``: seeds 002 and 003 at the root (``/generate``, ``/tasks``, ``/approvals/...``).

``tables(canonical)`` builds every dialect's route tables from the canonical tables, so a
dialect route always has its canonical route's role, models and rate limit.
"""

from __future__ import annotations

from switchboard.server.routing import RouteTable


def tables(canonical: list[RouteTable]) -> list[RouteTable]:
    """Every dialect's route tables for an app serving ``canonical``."""
    from switchboard.server.dialects import root, seed001

    return [*seed001.tables(canonical), *root.tables(canonical)]
