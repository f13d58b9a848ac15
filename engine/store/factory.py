"""Which store a configuration names: SQLite (the default) or PostgreSQL.

Why a module of its own: the PostgreSQL store needs asyncpg (the ``postgres`` extra), so
it is imported only when a ``postgresql://`` URL asks for it; an SQLite install never
loads it.
"""

from __future__ import annotations

from switchboard.engine.clock import Clock
from switchboard.engine.config import Config
from switchboard.engine.errors import StartupError
from switchboard.engine.store.base import Store
from switchboard.engine.store.sqlite import SQLiteStore


def make_store(config: Config, clock: Clock) -> Store:
    """The store ``[storage] url`` names (``switchboard serve --store URL``)."""
    storage = config.storage
    if storage.kind == "postgres":
        try:
            from switchboard.engine.store.postgres import PostgresStore
        except ImportError as exc:
            raise StartupError(
                f"[storage] url names PostgreSQL but its driver is not installed ({exc}): "
                "pip install 'switchboard-console[postgres]'") from None
        return PostgresStore(storage.url, max_batch=storage.max_batch, clock=clock)
    return SQLiteStore(config.db_path, synchronous=storage.synchronous,
                       max_batch=storage.max_batch, clock=clock,
                       startup_check=storage.startup_check)
