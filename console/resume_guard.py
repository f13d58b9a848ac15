"""Keep a dropped terminal from restarting the console's screen.

Why: Textual's Linux driver answers every SIGCONT by starting application mode again, on
the assumption that a SIGCONT follows its own Ctrl+Z suspend. But when an SSH session
drops, the kernel sends the session leader SIGHUP *and* SIGCONT together. The stray
resume then opens a second key reader and writer on the hung-up terminal while the app
is shutting down, and the process died before the engine could stop (seen in CI: the
log ended at "demo fleet stopped", without "engine stopped"). This guard passes SIGCONT
on to Textual only when a SIGTSTP suspended the app first.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

Handler = Callable[[int, FrameType | None], Any]


class ResumeGuard:
    """An app service: wraps the driver's SIGTSTP/SIGCONT handlers once the driver exists."""

    def __init__(self) -> None:
        self.suspended = False
        self._originals: dict[signal.Signals, Any] = {}

    async def start(self) -> None:
        self.install()

    async def stop(self) -> None:
        self.uninstall()

    def install(self) -> None:
        """Wrap the handlers in place; a no-op when no driver installed them (headless)."""
        on_tstp = signal.getsignal(signal.SIGTSTP)
        on_cont = signal.getsignal(signal.SIGCONT)
        if not callable(on_tstp) or not callable(on_cont):
            return
        self._originals = {signal.SIGTSTP: on_tstp, signal.SIGCONT: on_cont}
        signal.signal(signal.SIGTSTP, self._wrap_suspend(on_tstp))
        signal.signal(signal.SIGCONT, self._wrap_resume(on_cont))

    def uninstall(self) -> None:
        for signum, handler in self._originals.items():
            signal.signal(signum, handler)
        self._originals.clear()

    def _wrap_suspend(self, handler: Handler) -> Handler:
        def on_suspend(signum: int, frame: FrameType | None) -> Any:
            self.suspended = True  # set before the handler stops the process
            return handler(signum, frame)

        return on_suspend

    def _wrap_resume(self, handler: Handler) -> Handler:
        def on_resume(signum: int, frame: FrameType | None) -> Any:
            if not self.suspended:
                return None  # a hangup's SIGCONT: nothing was suspended, nothing to restart
            self.suspended = False
            return handler(signum, frame)

        return on_resume
