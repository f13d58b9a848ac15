"""Keep the console up under ``switchboard up``: a screen's bug must not stop the engine.

Why: in ``up`` the engine, the API and the console share one process. Textual ends the app
on any unhandled error; without this, one bad render on an operator's screen would also end
every run, stream and worker connection the process serves. The supervisor starts a fresh
console instead (with a notice saying so and where the traceback is), a bounded number of
times: a console that keeps failing is stopped for real, and the engine with it, in order.

SIGTERM and SIGHUP (a service manager's stop, a dropped SSH session) end the console and
are never followed by a restart.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from typing import Any

from switchboard.console.signals import on_signals

log = logging.getLogger("switchboard.console")

EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def install_exit_signals(app: Any, stopped: asyncio.Event) -> Callable[[], None]:
    """SIGTERM/SIGHUP end ``app`` (Textual installs no handlers for them) and set
    ``stopped``; returns the function that removes the handlers."""

    def stop(sig: signal.Signals) -> None:
        log.info("received %s: closing the console, then the engine", sig.name)
        stopped.set()
        app.exit(0)

    return on_signals(EXIT_SIGNALS, stop)


async def supervise(make_app: Callable[[str | None], Any], *, restart_notice: str,
                    max_failures: int = 3, window_seconds: float = 300.0,
                    headless: bool = False, signals: bool = True) -> int:
    """Run consoles made by ``make_app(notice)`` until one ends normally; returns its code.

    A console that fails (Textual's return code 1) is replaced by a new one shown with
    ``restart_notice``, unless ``max_failures`` failures fell within ``window_seconds``.
    """
    failures: list[float] = []
    notice: str | None = None
    stopped = asyncio.Event()
    while True:
        app = make_app(notice)
        remove = install_exit_signals(app, stopped) if signals else None
        try:
            code = await app.run_async(headless=headless)
        finally:
            if remove is not None:
                remove()
        if app.return_code != 1 or stopped.is_set():
            return int(code or 0)
        now = time.monotonic()
        failures = [t for t in failures if now - t < window_seconds] + [now]
        if len(failures) >= max_failures:
            log.error("the console failed %d times in %.0f s; stopping", len(failures),
                      window_seconds)
            return 1
        log.warning("the console failed; starting a new one (the engine and API kept running)")
        notice = restart_notice
