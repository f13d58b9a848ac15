"""``Client``: the synchronous face of ``AsyncClient`` (seed 001's SDK example runs on it).

Why a private event loop in a thread instead of a second implementation: one code path
for retries, errors and typed results. Every coroutine method becomes a blocking call and
every async iterator (``tasks.watch``, ``events.stream``) a plain generator.

    client = Client(api_key=os.environ["SWITCHBOARD_TOKEN"], base_url="http://127.0.0.1:8000/api/v1")
    agents = client.agents.list(status="active")
    task = client.tasks.create(type="bugfix", payload={"issue": "123"}, priority="medium")
    for snapshot in client.tasks.watch(task.id):
        print(snapshot.progress)
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

from switchboard.server.sdk.client.client import AsyncClient

T = TypeVar("T")


async def _next(agen: AsyncIterator[T]) -> T:
    return await anext(agen)


class _LoopThread:
    """An event loop running in a daemon thread; ``run(coro)`` blocks for its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                        name="switchboard-client")
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result()

    def iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        try:
            while True:
                try:
                    yield self.run(_next(agen))
                except StopAsyncIteration:
                    return
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None and self.loop.is_running():
                self.run(aclose())

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
        if not self.loop.is_running():
            self.loop.close()


class _SyncResource:
    """Proxies a resource: coroutine functions block, async generators become generators."""

    def __init__(self, target: Any, portal: _LoopThread) -> None:
        self._target = target
        self._portal = portal

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr
        return self._wrap(attr)

    def _wrap(self, func: Callable[..., Any]) -> Callable[..., Any]:
        portal = self._portal

        def call(*args: Any, **kwargs: Any) -> Any:
            if inspect.iscoroutinefunction(func):
                return portal.run(func(*args, **kwargs))
            result = func(*args, **kwargs)
            if inspect.isasyncgen(result) or hasattr(result, "__anext__"):
                return portal.iterate(result)
            if inspect.iscoroutine(result):
                return portal.run(result)
            return result

        call.__name__ = getattr(func, "__name__", "call")
        call.__doc__ = getattr(func, "__doc__", None)
        return call

    def __repr__(self) -> str:
        return f"sync({self._target!r})"


class Client:
    """Blocking client with the same constructor and resources as ``AsyncClient``."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", **kwargs: Any) -> None:
        self._portal = _LoopThread()

        async def build() -> AsyncClient:
            return AsyncClient(base_url, **kwargs)

        try:
            self._async = self._portal.run(build())
        except BaseException:
            self._portal.stop()
            raise
        for name in ("agents", "tasks", "approvals", "events", "orchestrations", "runs",
                     "system", "auth", "views"):
            setattr(self, name, _SyncResource(getattr(self._async, name), self._portal))

    agents: Any
    tasks: Any
    approvals: Any
    events: Any
    orchestrations: Any
    runs: Any
    system: Any
    auth: Any
    views: Any

    @property
    def async_client(self) -> AsyncClient:
        return self._async

    @property
    def last_rate_limit(self) -> Any:
        return self._async.last_rate_limit

    def health(self) -> Any:
        return self._portal.run(self._async.health())

    def stats(self) -> Any:
        return self._portal.run(self._async.stats())

    def metrics(self, period: str = "24h", metric: str | None = None) -> Any:
        return self._portal.run(self._async.metrics(period, metric))

    def close(self) -> None:
        if self._portal.loop.is_running():
            self._portal.run(self._async.close())
        self._portal.stop()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self._async.base_url!r})"
