"""Retry policy and error mapping, against a scripted aiohttp server on 127.0.0.1.

A scripted server (not the real API) because the cases are the server misbehaving: 429s
with Retry-After, 503s, dropped connections, non-JSON error bodies.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from switchboard.server.sdk.client import (
    AsyncClient,
    RateLimited,
    RetryPolicy,
    ServerError,
    TransportError,
)
from tests.server.conftest import start_live_api

Script = list[Callable[[web.Request], web.StreamResponse]]


TASK = {"id": "t1", "task_id": "t1", "type": "bugfix", "status": "assigned", "priority": "P2"}
"""A task as the server sends it (the fields the contract requires)."""


class Scripted:
    """Answers each request with the next scripted response (the last one repeats)."""

    def __init__(self) -> None:
        self.script: Script = []
        self.calls: list[tuple[str, str, float]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.calls.append((request.method, request.path, time.monotonic()))
        step = self.script[min(len(self.calls) - 1, len(self.script) - 1)]
        return step(request)


def reply(status: int, body: Any = None, headers: dict[str, str] | None = None
          ) -> Callable[[web.Request], web.StreamResponse]:
    def make(_: web.Request) -> web.StreamResponse:
        if isinstance(body, str):
            return web.Response(status=status, text=body, headers=headers)
        return web.json_response(body if body is not None else {}, status=status, headers=headers)
    return make


@pytest.fixture
async def scripted() -> AsyncIterator[Scripted]:
    server = Scripted()
    app = web.Application()

    async def dispatch(request: web.Request) -> web.StreamResponse:
        return await server.handle(request)  # looked up per request: tests may replace it

    app.router.add_route("*", "/{tail:.*}", dispatch)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield server
    finally:
        await runner.cleanup()


FAST = RetryPolicy(max_retries=3, backoff=0.01, max_backoff=0.05, max_retry_wait=5.0)


async def test_429_is_retried_for_any_method_after_retry_after(scripted: Scripted) -> None:
    scripted.script = [
        reply(429, {"detail": "Rate limit exceeded. Try again in 1 seconds."},
              {"Retry-After": "0.3", "X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0"}),
        reply(201, {"success": True, "task_id": "t1", "task": TASK, "data": TASK}),
    ]
    async with AsyncClient(scripted.url, token="k" * 20, retry=FAST) as client:
        task = await client.tasks.create("bugfix")
    assert task.id == "t1"
    (_, _, first), (_, _, second) = scripted.calls
    assert second - first >= 0.3


async def test_429_beyond_max_wait_raises_with_headers(scripted: Scripted) -> None:
    scripted.script = [reply(429, {"detail": "Rate limit exceeded. Try again in 45 seconds."},
                             {"Retry-After": "45", "X-RateLimit-Limit": "10",
                              "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1700000000",
                              "X-Request-ID": "req-1"})]
    async with AsyncClient(scripted.url, token="k" * 20, retry=FAST) as client:
        with pytest.raises(RateLimited) as refused:
            await client.tasks.get("t1")
    error = refused.value
    assert error.status == 429 and error.retry_after == 45.0
    assert error.detail.startswith("Rate limit exceeded")
    assert error.rate_limit is not None and error.rate_limit.limit == 10
    assert error.rate_limit.remaining == 0 and error.rate_limit.reset == 1700000000
    assert error.request_id == "req-1" and len(scripted.calls) == 1


async def test_5xx_retried_only_when_idempotent(scripted: Scripted) -> None:
    ok_task = {"success": True, "task_id": "t1", "task": TASK, "data": TASK}
    scripted.script = [reply(503, {"detail": "store unavailable"}), reply(200, ok_task)]
    async with AsyncClient(scripted.url, token="k" * 20, retry=FAST) as client:
        assert (await client.tasks.get("t1")).id == "t1"
        assert len(scripted.calls) == 2
        scripted.calls.clear()
        scripted.script = [reply(503, {"detail": "store unavailable"}), reply(201, ok_task)]
        with pytest.raises(ServerError) as failed:
            await client.tasks.create("bugfix")  # a plain POST may have happened: no retry
        assert failed.value.status == 503 and failed.value.detail == "store unavailable"
        assert len(scripted.calls) == 1
        scripted.calls.clear()
        created = await client.tasks.create("bugfix", idempotency_key="k-1")  # now safe
        assert created.id == "t1" and len(scripted.calls) == 2
        scripted.calls.clear()
        scripted.script = [reply(500, "<html>oops</html>")]
        with pytest.raises(ServerError) as html:
            await client.tasks.get("t1")
        assert "oops" in html.value.detail and len(scripted.calls) == 4  # 1 + 3 retries


async def test_unreachable_server_is_a_transport_error() -> None:
    with socket.socket() as sock:  # bound, never listening: connections are refused, and no
        sock.bind(("127.0.0.1", 0))  # other test (in parallel) can take the port meanwhile
        port = sock.getsockname()[1]
        async with AsyncClient(f"http://127.0.0.1:{port}", token="k" * 20,
                               retry=FAST) as client:
            started = time.monotonic()
            with pytest.raises(TransportError):
                await client.tasks.get("t1")
            with pytest.raises(TransportError):
                await client.tasks.create("bugfix")
            assert time.monotonic() - started < 2


async def test_real_rate_limits_surface_as_rate_limited(tmp_path: Any) -> None:
    live, runner = await start_live_api(
        tmp_path, rate_limits={"enabled": True, "endpoints": {"GET /tasks/{id}": "2/minute"}})
    try:
        async with AsyncClient(live.base, token=live.token("agent"),
                               retry=RetryPolicy(max_retries=2, max_retry_wait=1.0)) as client:
            task = await client.tasks.create("bugfix")
            await client.tasks.get(task.id)
            assert client.last_rate_limit is not None and client.last_rate_limit.limit == 2
            await client.tasks.get(task.id)
            with pytest.raises(RateLimited) as limited:
                await client.tasks.get(task.id)
            assert limited.value.retry_after and limited.value.retry_after > 1
            assert "Rate limit exceeded" in limited.value.detail
    finally:
        await runner.cleanup()
        await live.engine.stop()


async def test_sse_stream_reconnects_after_broken_connections(scripted: Scripted) -> None:
    """The stream resends Last-Event-ID after every break and never repeats an event."""
    sent_ids: list[str | None] = []

    async def stream(request: web.Request) -> web.StreamResponse:
        sent_ids.append(request.headers.get("Last-Event-ID"))
        after = int(request.headers.get("Last-Event-ID") or 0)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for seq in range(after + 1, after + 3):
            data = f'{{"seq": {seq}, "event_type": "demo", "payload": {{}}}}'
            await response.write(f"id: {seq}\nevent: demo\ndata: {data}\n\n".encode())
        await response.write(b": ping\n\n")
        return response  # the connection ends after two events

    calls = 0

    async def route(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            return web.json_response({"detail": "starting"}, status=503)
        return await stream(request)

    scripted.handle = route  # type: ignore[method-assign]
    async with AsyncClient(scripted.url, token="k" * 20) as client:
        seqs = []
        async for event in client.events.stream(0):
            seqs.append(event.seq)
            if len(seqs) == 6:
                break
    assert seqs == [1, 2, 3, 4, 5, 6]
    assert sent_ids == ["0", "2", "4"]
    await asyncio.sleep(0)


async def test_sse_parser_handles_huge_lines_and_split_crlf(scripted: Scripted) -> None:
    big = "x" * 300_000  # one data line far over aiohttp's 128 KiB line limit

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        frame = ('id: 1\r\nevent: demo\r\ndata: {"seq": 1, "event_type": "demo", '
                 f'"payload": {{"big": "{big}"}}}}\r\n\r\n').encode()
        for cut in range(0, len(frame), 65_536):
            await response.write(frame[cut:cut + 65_536])
            await asyncio.sleep(0)
        await response.write(b"id: 2\r")  # CR now, LF in the next chunk
        await asyncio.sleep(0.05)
        await response.write(b'\ndata: {"seq": 2, "event_type": "demo", "payload": {}}\r\n\r\n')
        await asyncio.sleep(0.3)  # hold the stream open while the client reads
        return response

    scripted.handle = stream  # type: ignore[method-assign]
    async with AsyncClient(scripted.url, token="k" * 20) as client:
        got = []
        async for event in client.events.stream(0):
            got.append(event)
            if len(got) == 2:
                break
    assert [e.seq for e in got] == [1, 2] and len(got[0].payload["big"]) == 300_000
