"""The full API application: the infrastructure of ``server.app`` plus every resource.

Why separate from ``server.app``: ``init_app`` is engine-free (tests of auth and limits build
it alone); this module binds it to a running engine.
"""

from __future__ import annotations

from aiohttp import web

from switchboard.engine.engine import Engine
from switchboard.server.app import init_app
from switchboard.server.app_keys import AUTH_KEY, ENGINE_KEY
from switchboard.server.resources import all_tables
from switchboard.server.streams import install_stream_tracking


def build_api_app(engine: Engine) -> web.Application:
    """An app serving ``engine`` under /api/v1 (and /health, /stats, /metrics at the root)."""
    app = init_app(engine.config, tables=all_tables(), clock=engine.clock)
    app[ENGINE_KEY] = engine
    install_stream_tracking(app)  # open SSE streams and WebSockets end at shutdown
    app.on_startup.append(_load_revocations)
    return app


async def _load_revocations(app: web.Application) -> None:
    """Revoked tokens stay refused across restarts: load the store's list before serving."""
    revoked = app[AUTH_KEY].revoked
    for item in await app[ENGINE_KEY].revocations.active():
        revoked.add(item.kind, item.value, item.until, item.not_before)
