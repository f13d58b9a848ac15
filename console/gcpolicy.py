"""Garbage collection timed by the operator, not by the allocator.

Why: the console and the engine share one process with a large, long-lived heap (records,
rendered rows, the event buffer). CPython's automatic full (generation 2) collections then
pause the event loop for 100-200 ms at arbitrary moments, and under a live event stream
they land in the middle of keypresses (measured by ``bench/console.py``: p99 keypress ->
repaint went from ~250 ms to the target once this was in place).

What it does while the app runs: generation 0/1 collections stay automatic (they are cheap);
automatic generation 2 collections are pushed far out (``threshold2``), and a full collection
runs instead when the operator has not pressed a key for ``quiet`` seconds (checked every
``every`` seconds), or after ``force_after`` seconds whatever happens, so memory held by
reference cycles is still returned. The previous thresholds are restored on stop.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable


class IdleCollector:
    def __init__(self, last_input: Callable[[], float], *, every: float = 5.0,
                 quiet: float = 1.5, force_after: float = 60.0) -> None:
        self.last_input = last_input
        self.every = every
        self.quiet = quiet
        self.force_after = force_after
        self._saved: tuple[int, int, int] | None = None
        self._last_full = time.monotonic()
        self.collections = 0

    def start(self) -> None:
        if self._saved is None:
            self._saved = gc.get_threshold()
            gen0, gen1, _ = self._saved
            gc.set_threshold(gen0, gen1, 1_000_000)
            self._last_full = time.monotonic()

    def stop(self) -> None:
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def tick(self) -> bool:
        """Run a full collection if the operator is quiet (or it is overdue)."""
        if self._saved is None:
            return False
        now = time.monotonic()
        if now - self._last_full < self.every:
            return False
        quiet = now - self.last_input() >= self.quiet
        if quiet or now - self._last_full >= self.force_after:
            gc.collect()
            self._last_full = time.monotonic()
            self.collections += 1
            return True
        return False
