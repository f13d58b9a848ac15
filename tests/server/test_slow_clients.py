"""Slow clients and floods: every connection is bounded, capacity is a 503, the log stays calm.

Before: 1,000 connections that never finished their headers were held for an hour (aiohttp's
keep-alive default), at 1,024 open files the API stopped answering and the log filled with
tracebacks. Real servers on 127.0.0.1 throughout; the flood runs ``switchboard serve`` as a
subprocess started with a soft open-file limit of 1,024 (the server raises it).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from switchboard.server.logfilters import ClientErrorFilter, RepeatFilter
from tests.server.conftest import start_live_api
from tests.server.serveproc import ServeProcess

SLOW = 1000
HEAD = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "  # never finished


def _raise_own_open_files(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))


async def _read_all(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.read()
    except ConnectionError:
        return b"<reset>"


async def test_a_thousand_slow_heads_are_held_then_closed_while_health_answers(
        tmp_path: Path) -> None:
    _raise_own_open_files(SLOW * 2 + 256)
    timeout = 4.0
    server_lines = (f"header_timeout_seconds = {timeout}\nmax_connections = 3000\n"
                    "max_connections_per_client = 3000\n")
    with ServeProcess(tmp_path / "data", server=server_lines, soft_open_files=1024) as srv:
        host, port = srv.host_port
        conns = []
        opened = time.monotonic()
        for _ in range(SLOW):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(HEAD)
            conns.append((reader, writer))
        opening = time.monotonic() - opened
        latencies = []
        async with aiohttp.ClientSession() as http:
            for _ in range(10):
                started = time.monotonic()
                async with http.get(srv.url + "/health",
                                    timeout=aiohttp.ClientTimeout(total=30)) as resp:
                    assert resp.status == 200, await resp.text()
                latencies.append((time.monotonic() - started) * 1000)
                await asyncio.sleep(0.05)
        held = sum(1 for reader, _ in conns if not reader.at_eof())
        answers = await asyncio.wait_for(
            asyncio.gather(*(_read_all(reader) for reader, _ in conns)), timeout + 60)
        closed_after = time.monotonic() - opened
        for _, writer in conns:
            writer.close()
        log = srv.log_text
    timed_out = sum(1 for a in answers if a.startswith(b"HTTP/1.1 408"))
    print(f"\nslow clients: {SLOW} opened in {opening:.2f} s, {held} held while /health answered "
          f"10 of 10 (latency ms: median {sorted(latencies)[5]:.1f}, max {max(latencies):.1f}); "
          f"all closed {closed_after:.1f} s after the first opened ({timed_out} with a 408)")
    assert held == SLOW
    assert timed_out == SLOW
    assert "Traceback" not in log
    assert "soft limit" in log and "(raised from 1024)" in log


async def _raw(host: str, port: int, data: bytes = b"", *, local: str | None = None,
               ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(
        host, port, local_addr=(local, 0) if local else None)
    if data:
        writer.write(data)
    return reader, writer


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else 0


async def _response(reader: asyncio.StreamReader) -> bytes:
    """One response (head and Content-Length body), without waiting for the connection's end."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    return head + await reader.readexactly(length)


@pytest.fixture
async def capped(tmp_path: Path) -> Any:
    live, runner = await start_live_api(tmp_path, server={
        "max_connections": 5, "max_connections_per_client": 3, "busy_retry_after_seconds": 7,
        "body_timeout_seconds": 0.5, "idle_timeout_seconds": 0.5, "header_timeout_seconds": 30})
    try:
        yield live, runner
    finally:
        await runner.cleanup()
        await live.engine.stop()


async def test_connections_over_a_cap_get_503_with_retry_after(capped: Any) -> None:
    live, runner = capped
    host, port = "127.0.0.1", live.port
    held = [await _raw(host, port) for _ in range(3)]
    await asyncio.sleep(0.1)
    reader, _ = await _raw(host, port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 5)
    assert _status(answer) == 503, answer
    assert b"Retry-After: 7" in answer
    assert b'{"detail":"too many connections from 127.0.0.1 (3); retry in 7 s"}' in answer
    # another address is still served, up to the overall cap
    other = await _raw(host, port, local="127.0.0.2")
    reader, writer = await _raw(host, port, b"GET /health HTTP/1.1\r\nHost: x\r\n"
                                b"Connection: close\r\n\r\n", local="127.0.0.2")
    assert _status(await asyncio.wait_for(reader.read(), 5)) == 200
    writer.close()
    await asyncio.sleep(0.1)
    last = await _raw(host, port, local="127.0.0.2")  # the fifth connection
    await asyncio.sleep(0.1)
    reader, _ = await _raw(host, port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", local="127.0.0.3")
    answer = await asyncio.wait_for(reader.read(), 5)
    assert _status(answer) == 503 and b"server at capacity (5 connections)" in answer
    for _, writer in [*held, other, last]:
        writer.close()
    await asyncio.sleep(0.2)
    reader, _ = await _raw(host, port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert _status(await asyncio.wait_for(reader.read(), 5)) == 200
    guard = next(iter(runner.sites)).guard
    assert guard.stats.refused == 2 and guard.active == 0


async def test_a_stalled_body_gets_408(capped: Any) -> None:
    live, _ = capped
    token = live.token("agent")
    head = (f"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n").encode()
    reader, writer = await _raw("127.0.0.1", live.port, head + b'{"type": "bu')
    answer = await asyncio.wait_for(_response(reader), 10)
    assert _status(answer) == 408, answer
    assert b"request body stalled" in answer
    writer.close()


async def test_an_idle_keep_alive_connection_is_closed(capped: Any) -> None:
    live, _ = capped
    reader, writer = await _raw("127.0.0.1", live.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert _status(first) == 200
    rest = await asyncio.wait_for(reader.read(), 10)  # EOF once the idle timeout closes it
    assert b"HTTP/1.1" not in rest
    writer.close()


async def test_an_overlong_request_line_is_400_and_one_log_line(
        capped: Any, caplog: pytest.LogCaptureFixture) -> None:
    live, _ = capped
    caplog.set_level(logging.INFO)
    line = b"GET /api/v1/tasks/" + b"x" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    reader, writer = await _raw("127.0.0.1", live.port, line)
    answer = await asyncio.wait_for(reader.read(), 5)
    assert _status(answer) == 400
    writer.close()
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert records and all(r.exc_info is None and r.levelno == logging.INFO for r in records)
    assert "bad request from 127.0.0.1 answered 400" in records[0].getMessage()


async def test_an_overlong_authorization_header_is_never_echoed(
        capped: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 11: aiohttp's 400 for a header over its limit repeated the header's first ~100
    bytes, i.e. the start of the caller's credential, in the body and in the log."""
    live, _ = capped
    caplog.set_level(logging.DEBUG)
    secret = b"SECRETCREDENTIAL" + b"A" * 9000
    request = (b"GET /api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + secret
               + b"\r\n\r\n")
    reader, writer = await _raw("127.0.0.1", live.port, request)
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert _status(answer) == 400
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"application/json" in head
    assert b"SECRETCREDENTIAL" not in answer and b"AAAA" not in answer
    assert b"longer than the server accepts" in body and body.startswith(b'{"detail":')
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    assert "SECRETCREDENTIAL" not in logged and "AAAA" not in logged


def test_repeat_filter_lets_a_burst_through_then_counts_what_it_dropped() -> None:
    now = [0.0]
    flt = RepeatFilter(burst=3, window=60, clock=lambda: now[0])

    def record(msg: str = "commit failed: %s", level: int = logging.ERROR) -> logging.LogRecord:
        return logging.LogRecord("switchboard.store", level, __file__, 1, msg, ("disk",), None)

    passed = [flt.filter(record()) for _ in range(100)]
    assert passed.count(True) == 3
    assert flt.filter(record("another error")) and flt.filter(record(level=logging.INFO))
    now[0] = 61.0
    first = record()
    assert flt.filter(first)
    assert "[97 more like this dropped in the last 60 s]" in first.getMessage()


def test_client_error_filter_removes_the_traceback() -> None:
    from aiohttp.http_exceptions import LineTooLong

    try:
        raise LineTooLong(b"x" * 500, 8190)
    except LineTooLong:
        import sys

        rec = logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1,
                                "Error handling request from %s", ("10.0.0.9",), sys.exc_info())
    assert ClientErrorFilter().filter(rec)
    assert rec.exc_info is None and rec.levelno == logging.INFO
    assert rec.getMessage() == ("bad request from 10.0.0.9 answered 400: a request line or "
                                "header is longer than the server accepts (8190 bytes)")
    assert "xxx" not in rec.getMessage()
