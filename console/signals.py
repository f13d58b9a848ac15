"""Process signals through the running event loop, in one place for every command.

Why a helper: ``loop.add_signal_handler`` exists only on Unix and only in the main thread.
Where it cannot be used (Windows, or an embedding that runs us in another thread) the
command still runs, but a SIGTERM/SIGHUP would then end the process without an orderly
stop, so we say so in the log instead of failing silently.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Iterable

log = logging.getLogger("switchboard.signals")


def on_signals(signals: Iterable[signal.Signals],
               callback: Callable[[signal.Signals], None]) -> Callable[[], None]:
    """Call ``callback(sig)`` on the loop for each of ``signals``; returns the undo."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in signals:
        try:
            loop.add_signal_handler(sig, callback, sig)
        except (NotImplementedError, RuntimeError) as exc:  # no Unix signals / not main thread
            log.warning("cannot handle %s here (%s): it will end the process without an "
                        "orderly stop", sig.name, exc or type(exc).__name__)
            continue
        installed.append(sig)

    def remove() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)
        installed.clear()

    return remove
