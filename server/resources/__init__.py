"""One module per API resource, each exposing ``routes`` (a RouteTable)."""

from __future__ import annotations

from switchboard.server.routing import RouteTable


def all_tables() -> list[RouteTable]:
    """Every resource's route table, in the order they appear in the OpenAPI document."""
    import importlib

    names = ["system", "auth_tokens", "agents", "tasks", "approvals", "approval_links", "events", "workflows",
             "orchestrations", "providers", "compose", "audit", "webhooks", "ws", "views"]
    tables = []
    for name in names:
        try:
            module = importlib.import_module(f"switchboard.server.resources.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"switchboard.server.resources.{name}":
                raise
            continue
        tables.append(module.routes)
        if hasattr(module, "root_routes"):
            tables.append(module.root_routes)
    from switchboard.server.dialects import tables as dialect_tables

    return tables + dialect_tables(tables)
