"""API load: our server against a bare aiohttp handler doing the same JSON work, in one run.

Starts `switchboard serve` (rate limits off through its config, never a code path of its own;
durable SQLite, synchronous=FULL) and bench/bare_server.py as subprocesses on 127.0.0.1, and
drives both from this process:
  1. POST /api/v1/tasks (authenticated, validated, committed) with N connections for T s;
  2. GET /api/v1/tasks/{id} the same way;
  3. SSE fan-out: S subscribers, E events published, delivered/s and publish->receive p50/p99.

    python bench/api_load.py                       # 50 connections, 10 s, 100 x 10,000 events
    python bench/api_load.py --connections 50 --seconds 10 --subscribers 100 --events 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


async def wait_ready(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(url) as r:
                    if r.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


async def hammer(make_request, connections: int, seconds: float) -> tuple[int, list[float]]:
    """Closed loop: each connection sends the next request when the previous answered."""
    connector = aiohttp.TCPConnector(limit=connections)
    latencies: list[float] = []
    count = 0
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + seconds

        async def loop(worker: int) -> None:
            nonlocal count
            i = 0
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with make_request(session, worker, i) as r:
                    await r.read()
                    assert r.status < 300, r.status
                latencies.append(time.perf_counter() - started)
                count += 1
                i += 1

        await asyncio.gather(*(loop(w) for w in range(connections)))
    return count, latencies


async def fanout(stream_url: str, publish_url: str, headers: dict[str, str], subscribers: int,
                 events: int, event_type: str) -> tuple[float, list[float]]:
    received = 0
    latencies: list[float] = []
    all_in = asyncio.Event()
    expected = subscribers * events
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    # separate, unlimited pools: 100 open streams must not starve the publisher of sockets
    async with aiohttp.ClientSession(timeout=timeout,
                                     connector=aiohttp.TCPConnector(limit=0)) as session, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as publisher:
        ready = 0
        ready_event = asyncio.Event()

        async def subscriber() -> None:
            nonlocal received, ready
            async with session.get(stream_url, headers=headers) as r:
                ready += 1
                if ready == subscribers:
                    ready_event.set()
                async for line in r.content:
                    if line.startswith(b"data: "):
                        data = json.loads(line[6:])
                        sent = (data.get("payload") or data).get("t")
                        if sent is None:
                            continue
                        latencies.append(time.time() - sent)
                        received += 1
                        if received >= expected:
                            all_in.set()
                            return

        tasks = [asyncio.create_task(subscriber()) for _ in range(subscribers)]
        await asyncio.wait_for(ready_event.wait(), 30)
        await asyncio.sleep(0.3)
        started = time.perf_counter()
        sem = asyncio.Semaphore(8)

        async def publish(i: int) -> None:
            async with sem:
                body = {"event_type": event_type, "source_agent": "bench",
                        "payload": {"i": i, "t": time.time()}}
                async with publisher.post(publish_url, json=body, headers=headers) as r:
                    await r.read()

        await asyncio.gather(*(publish(i) for i in range(events)))
        try:
            await asyncio.wait_for(all_in.wait(), 120)
        except TimeoutError:
            pass
        elapsed = time.perf_counter() - started
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return received / elapsed, latencies


def row(name: str, ours: float, bare: float, unit: str) -> str:
    return f"{name:<34} {ours:>10.0f} {bare:>10.0f} {unit:<8} {100 * ours / bare:>6.1f}%"


async def main(args: argparse.Namespace) -> None:
    data_dir = tempfile.mkdtemp(prefix="sb-apiload-")
    ours_port, bare_port = free_port(), free_port()
    secret = secrets.token_urlsafe(48)
    env = {**os.environ, "ORCHESTRATOR_JWT_SECRET": secret,
           "SWITCHBOARD_RATE_LIMITS_ENABLED": "false", "SWITCHBOARD_LOGGING_LEVEL": "WARNING",
           "SWITCHBOARD_ORCHESTRATIONS_WATCH": "false"}
    ours = subprocess.Popen([str(BIN / "switchboard"), "serve", "--data-dir", data_dir,
                             "--port", str(ours_port)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bare = subprocess.Popen([sys.executable, str(ROOT / "bench/bare_server.py"), str(bare_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await wait_ready(f"http://127.0.0.1:{ours_port}/health")
        await wait_ready(f"http://127.0.0.1:{bare_port}/api/v1/tasks/x")
        token = subprocess.run([str(BIN / "switchboard"), "token", "--role", "agent", "--sub",
                                "bench"], env=env, capture_output=True, text=True,
                               check=True).stdout.strip()
        auth = {"Authorization": f"Bearer {token}"}
        body = {"type": "bugfix", "payload": {"issue": "123", "description": "Fix login bug"},
                "priority": "P2", "source": "bench"}
        results: dict[str, tuple[float, float, list[float], list[float]]] = {}
        for name, method in (("POST /tasks", "post"), ("GET /tasks/{id}", "get")):
            ids: dict[str, list[str]] = {}
            for label, port in (("ours", ours_port), ("bare", bare_port)):
                base = f"http://127.0.0.1:{port}/api/v1/tasks"
                if method == "post":
                    def make(session, w, i, base=base):
                        return session.post(base, json=body, headers=auth)
                else:
                    async with aiohttp.ClientSession() as s:
                        async with s.post(base, json=body, headers=auth) as r:
                            one = (await r.json())["task_id"]
                    ids[label] = [one]

                    def make(session, w, i, base=base, one=one):
                        return session.get(f"{base}/{one}", headers=auth)
                count, lat = await hammer(make, args.connections, args.seconds)
                results.setdefault(name, (0, 0, [], []))
                o, b, lo, lb = results[name]
                if label == "ours":
                    results[name] = (count / args.seconds, b, lat, lb)
                else:
                    results[name] = (o, count / args.seconds, lo, lat)
        sse_ours = await fanout(
            f"http://127.0.0.1:{ours_port}/api/v1/events/stream?type=bench.",
            f"http://127.0.0.1:{ours_port}/api/v1/events/publish", auth,
            args.subscribers, args.events, "bench.tick")
        sse_bare = await fanout(f"http://127.0.0.1:{bare_port}/stream",
                                f"http://127.0.0.1:{bare_port}/publish", {},
                                args.subscribers, args.events, "bench.tick")
    finally:
        ours.terminate()  # switchboard closes its open streams at once on SIGTERM
        bare.kill()  # run_app would wait for its open streams
        for proc in (ours, bare):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"# reproduce: python bench/api_load.py --connections {args.connections} --seconds "
          f"{args.seconds} --subscribers {args.subscribers} --events {args.events}")
    print(f"{'':<34} {'switchboard':>10} {'bare':>10} {'':<8} {'ratio':>7}")
    for name, (o, b, lo, lb) in results.items():
        print(row(name + " req/s", o, b, "req/s"))
        print(f"{'  p50 / p99 ms':<34} {pct(lo, .5) * 1000:>5.1f}/{pct(lo, .99) * 1000:<5.1f}"
              f"{pct(lb, .5) * 1000:>5.1f}/{pct(lb, .99) * 1000:<5.1f}")
    print(row(f"SSE {args.subscribers} x {args.events} delivered/s", sse_ours[0], sse_bare[0],
              "events/s"))
    print(f"{'  publish->receive p50 / p99 ms':<34} {pct(sse_ours[1], .5) * 1000:>5.1f}/"
          f"{pct(sse_ours[1], .99) * 1000:<5.1f}{pct(sse_bare[1], .5) * 1000:>5.1f}/"
          f"{pct(sse_bare[1], .99) * 1000:<5.1f}")
    print(f"  delivered: ours {len(sse_ours[1])} bare {len(sse_bare[1])} of "
          f"{args.subscribers * args.events}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--events", type=int, default=10_000)
    asyncio.run(main(parser.parse_args()))
