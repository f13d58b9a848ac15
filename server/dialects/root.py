"""Seeds 002 and 003 at the root: their documented paths, served by the canonical routes.

Why no translation: seeds 002 and 003 already speak this API's vocabulary (P0-P3,
assigned/in_progress, ``{"detail": ...}``, 400 for invalid input); only their base URL
differs (``http://localhost:8001/generate``, ``https://.../tasks``). So each route below is
the canonical route itself, mounted a second time at the root, with its role, models,
rate-limit rule and OpenAPI entry.

The root never collides with the other bases: ``/api/...`` and ``/v1/...`` are their own
first segments, and ``/metrics`` at the root stays Prometheus (seed 001's JSON metrics are
at ``/api/v1/metrics`` and ``/v1/metrics``). ``/health`` and ``/stats`` are served at the
root by their own routes already.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from switchboard.server.routing import RouteSpec, RouteTable

TAG: Final = "seeds 002/003 (root)"

SEED002: Final = (
    ("GET", "/providers"), ("POST", "/providers/switch"),
    ("POST", "/generate"), ("POST", "/refine"), ("POST", "/execute"),
    ("GET", "/execute/runs/{run_id}/stream"), ("POST", "/orchestrate"),
    ("GET", "/templates"), ("GET", "/templates/{template_id}"),
    ("POST", "/templates/{template_id}/instantiate"),
    ("POST", "/sessions"), ("GET", "/sessions"), ("GET", "/sessions/{session_id}"),
    ("POST", "/sessions/{session_id}/continue"),
    ("POST", "/compose"),
)
"""Seed 002 (``http://localhost:8001/generate``...): providers, workflows, templates,
sessions, compose."""

SEED003: Final = (
    ("POST", "/auth/token"),
    ("POST", "/tasks"), ("GET", "/tasks"), ("GET", "/tasks/{task_id}"),
    ("PATCH", "/tasks/{task_id}/status"),
    ("POST", "/events/publish"),
    ("GET", "/approvals/pending"), ("GET", "/approvals/history"),
    ("GET", "/approvals/{approval_id}"),
    ("POST", "/approvals/{approval_id}/approve"), ("POST", "/approvals/{approval_id}/reject"),
)
"""Seed 003 (``https://morningai-orchestrator-api.onrender.com/tasks``...): tasks, events,
approvals, tokens. Its ``/health`` and ``/stats`` are already at the root."""

RESERVED_FIRST_SEGMENTS: Final = frozenset({"api", "v1", "metrics"})
"""Root paths that belong to another base or to Prometheus; no seed route may start so."""


def tables(canonical: list[RouteTable]) -> list[RouteTable]:
    """One table of root aliases of ``canonical``'s seed 002 and 003 routes."""
    specs = {(spec.method, spec.path): spec for table in canonical for spec in table
             if spec.base is None and not spec.root_only}
    root = RouteTable(tag=TAG, base="")
    for key in (*SEED002, *SEED003):
        spec = specs.get(key)
        if spec is None:  # a resource module that is not installed (see all_tables)
            continue
        first = key[1].strip("/").split("/")[0]
        if first in RESERVED_FIRST_SEGMENTS:
            raise ValueError(f"{key[0]} {key[1]} would collide with another base at the root")
        root.add(_at_root(spec))
    return [root]


def _at_root(spec: RouteSpec) -> RouteSpec:
    return dataclasses.replace(spec, base="", operation_id=f"{spec.operation_id}_root",
                               also_at_root=False, root_only=False)
