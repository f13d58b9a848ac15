"""Entry points of the full-screen console: ``up`` (in-process) and ``attach`` (remote).

Why signal handlers here: Textual turns off ISIG and installs no SIGHUP/SIGTERM handlers,
so a dropped SSH session or a service manager's stop would kill the process without the
engine committing and closing. Both end the app; the engine and server then stop in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import signal
import sys
from typing import Any

from console.resume_guard import ResumeGuard
from engine.config import Config
from engine.tasks import Actor

log = logging.getLogger("switchboard.console")


def _operator_name() -> str:
    with contextlib.suppress(Exception):
        return getpass.getuser()
    return "operator"


def _install_exit_signals(app: Any) -> None:
    loop = asyncio.get_running_loop()

    def stop(sig: signal.Signals) -> None:
        log.info("received %s: closing the console, then the engine", sig.name)
        app.exit(0)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop, sig)


async def run_up(config: Config, *, demo: bool, read_only: bool) -> int:
    """Engine + HTTP server + console on one event loop."""
    from console.app import build_app
    from console.backend import InProcessBackend
    from console.runtime import Runtime

    runtime = Runtime(config, demo=False)
    try:
        await runtime.start()
    except Exception as exc:  # a port in use, a bad secret: say so plainly
        print(f"switchboard: cannot start: {exc}", file=sys.stderr)
        return 2
    services: list[Any] = [ResumeGuard()]
    if demo:  # started by the app once it shows, so the fleet's arrival is visible
        from console.demo import build_demo_fleet

        services.append(build_demo_fleet(config, runtime.address))
    backend = InProcessBackend(runtime.engine, Actor(_operator_name(), "admin"),
                               address=runtime.address)
    app = build_app(backend, config=config.console, read_only=read_only,
                    server_address=runtime.address, services=services)
    _install_exit_signals(app)
    try:
        code = await app.run_async()
    finally:
        await runtime.stop()
    return int(code or 0)


async def run_attach(config: Config, url: str, token: str, *, read_only: bool) -> int:
    """The console against a remote server through its HTTP API and event stream."""
    from console.app import build_app
    from console.remote import RemoteBackend

    backend = RemoteBackend(url, token)
    app = build_app(backend, config=config.console, read_only=read_only,
                    server_address=backend.address, services=[ResumeGuard()])
    _install_exit_signals(app)
    code = await app.run_async()
    return int(code or 0)
