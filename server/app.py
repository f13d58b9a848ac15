"""The aiohttp application factory and a console-friendly way to start it.

Why a factory taking the config (not globals): tests build many apps with different secrets,
limits and clocks in one process, and ``switchboard up`` runs the server on the console's
event loop. ``init_app`` validates auth eagerly, so a bad secret stops ``serve``/``up`` with
``AuthSetupError`` before a port is opened.

Resource modules each expose a ``RouteTable`` and are mounted with ``tables=[...]`` (or
``add_routes`` before the app starts). Engine resources go in ``app.cleanup_ctx``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiohttp import web

from switchboard.engine.clock import Clock, SystemClock
from switchboard.engine.config import Config, ServerConfig
from switchboard.server import openapi
from switchboard.server.app_keys import (
    AUTH_KEY,
    CLOCK_KEY,
    CONFIG_KEY,
    LIMITER_KEY,
    OPENAPI_KEY,
    ROUTES_KEY,
    DocumentCache,
)
from switchboard.server.auth import Authenticator
from switchboard.server.connections import (
    ConnectionGuard,
    ConnectionLimits,
    GuardedTCPSite,
    fit_limits,
    raise_open_file_limit,
)
from switchboard.server.logfilters import install_client_error_filter, install_query_token_filter
from switchboard.server.middlewares import add_response_headers, build_middlewares
from switchboard.server.ratelimit import RateLimiter
from switchboard.server.routing import RouteRegistry, RouteTable

log = logging.getLogger("switchboard.server")


def init_app(
    config: Config,
    *,
    tables: Iterable[RouteTable] = (),
    clock: Clock | None = None,
) -> web.Application:
    """Build the app: middlewares, body limit, typed state, OpenAPI/docs routes, ``tables``.

    Raises ``server.auth.AuthSetupError`` (secret missing/short, duplicate keys) and
    ValueError (bad rate-limit key, duplicate operation id) with the fix in the message.
    """
    clock = clock or SystemClock()
    authenticator = Authenticator(config.auth)
    limiter = RateLimiter(config.rate_limits, clock=clock)
    app = web.Application(
        client_max_size=config.server.max_body_bytes,
        middlewares=build_middlewares(authenticator, limiter),
    )
    app[CONFIG_KEY] = config
    app[CLOCK_KEY] = clock
    app[AUTH_KEY] = authenticator
    app[LIMITER_KEY] = limiter
    app[ROUTES_KEY] = RouteRegistry()
    app[OPENAPI_KEY] = DocumentCache()
    app.on_response_prepare.append(add_response_headers)
    add_routes(app, openapi.routes, *tables)
    return app


def add_routes(app: web.Application, *tables: RouteTable) -> None:
    """Mount more route tables (before the app starts; the router is frozen after)."""
    app[ROUTES_KEY].mount(app.router, *tables)


async def start_server(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start on ``host:port`` without signal handlers or banner; returns (runner, bound port).

    ``port=0`` picks a free port (tests, benchmarks). Stop with ``await runner.cleanup()``.
    Access logging is left to aiohttp's ``aiohttp.access`` logger, which the caller routes
    to a file: nothing may write to the terminal the console draws on.

    Every connection is bounded (``server.connections``): the soft open-file limit is raised
    to the hard one, connections are capped overall and per client address (503 with
    ``Retry-After`` past a cap), request heads must arrive within ``header_timeout_seconds``
    and idle keep-alive connections close after ``idle_timeout_seconds``. Tests reach the
    guard (its counters) as ``next(iter(runner.sites)).guard``.
    """
    config = app.get(CONFIG_KEY)
    server = config.server if config is not None else ServerConfig()
    before, open_files, hard = raise_open_file_limit()
    limits = fit_limits(ConnectionLimits.from_config(server), open_files)
    install_client_error_filter()
    install_query_token_filter()
    log.info("open files: soft limit %d%s (hard %d); connections: at most %d, %d per client "
             "address; timeouts: request head %g s, body %g s, idle %g s", open_files,
             f" (raised from {before})" if open_files != before else "", hard,
             limits.max_connections, limits.max_per_client, limits.header_timeout,
             server.body_timeout_seconds, server.idle_timeout_seconds)
    runner = web.AppRunner(app, handle_signals=False,
                           keepalive_timeout=server.idle_timeout_seconds)
    await runner.setup()
    site = GuardedTCPSite(runner, host, port, guard=ConnectionGuard(limits))
    try:
        await site.start()
    except BaseException:  # the port is taken: undo setup (its cleanup contexts) too
        await runner.cleanup()
        raise
    addresses = runner.addresses
    return runner, (addresses[0][1] if addresses else port)
