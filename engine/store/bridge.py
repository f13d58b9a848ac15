"""Run the services' synchronous ops against an async driver, on the event loop.

Why: a write or read op is a plain function (``op(tx)``) that calls ``tx.one``/``tx.run``
and gets rows back at once; the SQLite store runs it on its writer thread. asyncpg is
async. Rather than a thread per connection hopping to the loop for every statement, the
op runs in a greenlet: when it needs a statement's result, ``await_`` switches back to the
coroutine in ``run_sync``, which awaits the driver and switches the result back in. The
same technique SQLAlchemy's asyncio support uses; a switch costs about a microsecond, and
the op never leaves the loop's thread, so it sees the loop's state as any coroutine does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import greenlet

T = TypeVar("T")


class _OpGreenlet(greenlet.greenlet):  # type: ignore[misc]  # greenlet's class is untyped
    """Marks a greenlet started by ``run_sync`` (``await_`` refuses to switch from others)."""

    bridged = True


class NotInBridge(RuntimeError):
    """``await_`` was called outside an op started by ``run_sync``."""


def await_(awaitable: Awaitable[T]) -> T:
    """Inside an op run by ``run_sync``: wait for ``awaitable`` and return its result."""
    current = greenlet.getcurrent()
    if not getattr(current, "bridged", False):
        raise NotInBridge("a store statement ran outside the store's op runner")
    return cast(T, current.parent.switch(awaitable))


async def run_sync(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` in a greenlet, awaiting for it whatever it hands to ``await_``."""
    child = _OpGreenlet(fn)
    result = child.switch(*args)
    while not child.dead:
        try:
            value = await result
        except BaseException as exc:  # the driver's error is raised inside the op
            result = child.throw(exc)
        else:
            result = child.switch(value)
    return cast(T, result)
