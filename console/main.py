"""Entry points of the full-screen console: ``up`` (in-process) and ``attach`` (remote).

``up`` runs the console under ``console.supervisor`` (SIGTERM/SIGHUP handling, restart
after a console bug) and stops the demo fleet, the server and the engine in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import sys
from typing import Any

from switchboard.console.resume_guard import ResumeGuard
from switchboard.console.supervisor import install_exit_signals, supervise
from switchboard.engine.actors import Actor
from switchboard.engine.config import Config

log = logging.getLogger("switchboard.console")


def _operator_name() -> str:
    with contextlib.suppress(Exception):
        return getpass.getuser()
    return "operator"


async def run_up(config: Config, *, demo: bool, read_only: bool) -> int:
    """Engine + HTTP server + console on one event loop; the console restarts after a bug."""
    from switchboard.console.app import build_app
    from switchboard.console.backend import InProcessBackend
    from switchboard.console.runtime import Runtime

    try:
        runtime = Runtime(config, demo=demo)
        await runtime.start()
    except Exception as exc:  # a port in use, a bad secret: say so plainly
        print(f"switchboard: cannot start: {exc}", file=sys.stderr)
        return 2

    def make_app(notice: str | None) -> Any:
        backend = InProcessBackend(runtime.engine, Actor(_operator_name(), "admin", "console"),
                                   address=runtime.address)
        return build_app(backend, config=config.console, read_only=read_only,
                         server_address=runtime.address, services=[ResumeGuard()],
                         notice=notice)

    notice = ("The console hit an error and was restarted; the engine and the API kept "
              f"running. The traceback is in {config.log_path}.")
    try:
        return await supervise(make_app, restart_notice=notice)
    finally:
        await runtime.stop()


async def run_attach(config: Config, url: str, token: str, *, read_only: bool) -> int:
    """The console against a remote server through its HTTP API and event stream."""
    from switchboard.console.app import build_app
    from switchboard.console.remote import RemoteBackend

    backend = RemoteBackend(url, token)
    app = build_app(backend, config=config.console, read_only=read_only,
                    server_address=backend.address, services=[ResumeGuard()])
    remove = install_exit_signals(app, asyncio.Event())
    try:
        code = await app.run_async()
    finally:
        remove()
    return int(code or 0)
