"""server.sse: framing, the generic ``stream_events`` helper, keep-alive, disconnect, shutdown.

These use a small app of their own (no engine) so that the helper the orchestration streams
will use is tested apart from the event bus.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from switchboard.server.app import init_app, start_server
from switchboard.server.routing import RouteTable
from switchboard.server.sse import SSEItem, SSEStream, format_comment, format_event, stream_events
from switchboard.server.streams import install_stream_tracking, open_stream_count
from tests.server.streaming import SSEReader, stream_config

# -- framing ------------------------------------------------------------------------------


def test_format_event_fields_and_json() -> None:
    frame = format_event("step_start", {"step_id": "s1", "n": 2}, id=7)
    assert frame == b'id: 7\nevent: step_start\ndata: {"step_id":"s1","n":2}\n\n'


def test_format_event_text_is_split_per_line_and_bytes_kept() -> None:
    assert format_event(None, "a\nb\r\nc") == b"data: a\ndata: b\ndata: c\n\n"
    assert format_event("x", b'{"k":1}') == b'event: x\ndata: {"k":1}\n\n'
    assert format_event(None, "", retry_ms=1500) == b"retry: 1500\ndata: \n\n"


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\0b"])
def test_format_event_refuses_forged_fields(bad: str) -> None:
    with pytest.raises(ValueError):
        format_event(bad, {})
    with pytest.raises(ValueError):
        format_event("ok", {}, id=bad)


def test_format_comment() -> None:
    assert format_comment() == b": ping\n\n"
    assert format_comment("a\nb") == b": a\n: b\n\n"


# -- a small app using the helper -----------------------------------------------------------


class Probe:
    """What the producers report back to the test."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.finished = asyncio.Event()
        self.sent = 0


def make_app(tmp_path: Path, probe: Probe, keepalive: float = 15.0) -> web.Application:
    routes = RouteTable(tag="demo")

    @routes.get("/demo/finite", role=None, media_type="text/event-stream")
    async def finite(request: web.Request) -> web.StreamResponse:
        async def items() -> AsyncIterator[SSEItem]:
            for n in range(3):
                yield n + 1, "step", {"n": n}
            yield None, "done", "bye"

        return await stream_events(request, items())

    @routes.get("/demo/blocking", role=None, media_type="text/event-stream")
    async def blocking(request: web.Request) -> web.StreamResponse:
        async def items() -> AsyncIterator[SSEItem]:
            try:
                yield None, "hello", {}
                await probe.release.wait()  # nothing to send until the test says so
                yield None, "late", {}
            finally:
                probe.finished.set()

        return await stream_events(request, items(), keepalive=keepalive)

    @routes.get("/demo/manual", role=None, media_type="text/event-stream")
    async def manual(request: web.Request) -> web.StreamResponse:
        async with SSEStream(request, keepalive=keepalive, retry_ms=2000) as stream:
            await stream.send("one", {"ok": True}, id="a1")
            await stream.wait_closed()
        probe.finished.set()
        return stream.response

    app = init_app(stream_config(tmp_path), tables=[routes])
    install_stream_tracking(app)
    return app


async def start(app: web.Application) -> tuple[web.AppRunner, str]:
    runner, port = await start_server(app, "127.0.0.1", 0)
    return runner, f"http://127.0.0.1:{port}/api/v1"


async def test_stream_events_sends_items_then_ends(tmp_path: Path) -> None:
    runner, base = await start(make_app(tmp_path, Probe()))
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{base}/demo/finite") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            assert resp.headers["Cache-Control"] == "no-cache"
            assert "X-Request-ID" in resp.headers
            reader = SSEReader(resp)
            events = await reader.take(4)
            assert [(e.id, e.event) for e in events] == [
                ("1", "step"), ("2", "step"), ("3", "step"), (None, "done")
            ]
            assert [json.loads(e.data) for e in events[:3]] == [{"n": 0}, {"n": 1}, {"n": 2}]
            assert events[3].data == "bye"
            assert await reader.next() is None  # the iterator ended: so did the stream
    finally:
        await runner.cleanup()


async def test_keepalive_comments_while_idle(tmp_path: Path) -> None:
    probe = Probe()
    runner, base = await start(make_app(tmp_path, probe, keepalive=0.05))
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{base}/demo/blocking") as resp:
            reader = SSEReader(resp)
            assert (await reader.next()).event == "hello"
            await asyncio.sleep(0.3)
            probe.release.set()
            assert (await reader.next()).event == "late"
            assert reader.comments.count("ping") >= 2
    finally:
        await runner.cleanup()


async def test_client_leaving_closes_the_producer(tmp_path: Path) -> None:
    """A silent producer still learns the client left: the keep-alive write fails."""
    probe = Probe()
    app = make_app(tmp_path, probe, keepalive=0.05)
    runner, base = await start(app)
    try:
        async with aiohttp.ClientSession() as session:
            resp = await session.get(f"{base}/demo/blocking")
            assert (await SSEReader(resp).next()).event == "hello"
            assert open_stream_count(app) == 1
            resp.close()  # drop the connection
        await asyncio.wait_for(probe.finished.wait(), 2.0)
        for _ in range(50):
            if open_stream_count(app) == 0:
                break
            await asyncio.sleep(0.02)
        assert open_stream_count(app) == 0
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("path", ["/demo/blocking", "/demo/manual"])
async def test_shutdown_ends_open_streams_at_once(tmp_path: Path, path: str) -> None:
    probe = Probe()
    runner, base = await start(make_app(tmp_path, probe))
    async with aiohttp.ClientSession() as session:
        resp = await session.get(f"{base}{path}")
        reader = SSEReader(resp)
        first = await reader.next()
        assert first is not None
        started = time.monotonic()
        await runner.cleanup()
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, f"cleanup took {elapsed:.2f}s"
        assert probe.finished.is_set()
        assert await reader.next(timeout=2.0) is None  # the body ended cleanly
        resp.close()


async def test_manual_stream_sends_retry_and_custom_id(tmp_path: Path) -> None:
    probe = Probe()
    runner, base = await start(make_app(tmp_path, probe))
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{base}/demo/manual") as resp:
            raw = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 2.0)
            assert raw == b"retry: 2000\n\n"
            event = await SSEReader(resp).next()
            assert (event.id, event.event, event.json()) == ("a1", "one", {"ok": True})
    finally:
        await runner.cleanup()


async def test_send_after_close_raises_stream_closed(tmp_path: Path) -> None:
    from switchboard.server.sse import StreamClosed

    seen: dict[str, Any] = {}
    routes = RouteTable()

    @routes.get("/demo/closing", role=None, media_type="text/event-stream")
    async def closing(request: web.Request) -> web.StreamResponse:
        stream = SSEStream(request, keepalive=None)
        calls: list[str] = []
        stream.on_close(lambda: calls.append("closed"))
        await stream.prepare()
        await stream.send(None, "x")
        stream.close()
        stream.close()  # idempotent
        try:
            await stream.send(None, "y")
        except StreamClosed:
            seen["raised"] = True
        stream.on_close(lambda: calls.append("late"))  # runs at once when already closed
        seen["calls"] = calls
        return stream.response

    runner, base = await start(init_app(stream_config(tmp_path), tables=[routes]))
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{base}/demo/closing") as resp:
            assert await resp.read() == b"data: x\n\n"
        assert seen == {"raised": True, "calls": ["closed", "late"]}
    finally:
        await runner.cleanup()
