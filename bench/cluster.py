"""Task cycles through 1, 2 and 3 ``switchboard serve`` replicas on one PostgreSQL, and the
same workload on Procrastinate and PgQueuer against the same server, in one run (issue 16).

A cycle is create -> claim -> complete over HTTP, every state change durable (PostgreSQL's
default ``synchronous_commit = on``). ``--clients`` concurrent clients spread round-robin
over the replicas; each creates a task, claims (long poll) and completes it. Dispatch is the
time from the create's answer to the claim's answer. Procrastinate and PgQueuer (if
installed: ``pip install procrastinate pgqueuer``) defer the same number of jobs and run
them with a no-op task and the same concurrency, in this process; their jobs/s is jobs
done / seconds from the first defer to the last completion.

    .venv/bin/python bench/cluster.py --seconds 8 --clients 16

Every process shares the machine's cores with PostgreSQL and this client: the figures say
how the work shares them, not what a replica on a machine of its own does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
AGENT_KEY = "bench-agent-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


async def replicas_run(pg: str, count: int, seconds: float, clients: int) -> dict[str, float]:
    schema = f"bench{uuid.uuid4().hex[:8]}"
    url = f"{pg}?schema={schema}"
    env = {**os.environ, "ORCHESTRATOR_JWT_SECRET": secrets.token_urlsafe(48),
           "SWITCHBOARD_RATE_LIMITS_ENABLED": "false", "SWITCHBOARD_LOGGING_LEVEL": "WARNING",
           "SWITCHBOARD_ORCHESTRATIONS_WATCH": "false",
           "ORCHESTRATOR_API_KEY_BENCH": f"{AGENT_KEY}:agent"}
    procs, bases = [], []
    data = Path(tempfile.mkdtemp(prefix="sb-cluster-"))
    try:
        for n in range(count):
            port = free_port()
            procs.append(subprocess.Popen(
                [str(BIN / "switchboard"), "serve", "--data-dir", str(data / str(n)),
                 "--store", url, "--port", str(port)], env=env, cwd=ROOT,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            bases.append(f"http://127.0.0.1:{port}/api/v1")
            await wait_ready(f"http://127.0.0.1:{port}/health")  # one at a time: one migrates
        headers = {"X-API-Key": AGENT_KEY}
        done = 0
        dispatch: list[float] = []
        connector = aiohttp.TCPConnector(limit=clients * 2)
        async with aiohttp.ClientSession(connector=connector, headers=headers) as http:
            agents = []
            for n in range(clients):
                async with http.post(f"{bases[n % count]}/agents/register",
                                     json={"name": f"b{n}", "type": "dev_agent"}) as r:
                    agents.append((await r.json())["data"]["id"])
            stop = time.perf_counter() + seconds

            async def client(n: int) -> None:
                nonlocal done
                base, agent = bases[n % count], agents[n]
                while time.perf_counter() < stop:
                    async with http.post(f"{base}/tasks", json={"type": "bugfix"}) as r:
                        assert r.status == 201, await r.text()
                    created = time.perf_counter()
                    async with http.post(f"{base}/tasks/claim",
                                         json={"agent_id": agent, "wait": 2}) as r:
                        if r.status != 200:
                            continue
                        claimed = await r.json()
                    dispatch.append(time.perf_counter() - created)
                    async with http.post(f"{base}/tasks/{claimed['task_id']}/complete",
                                         json={"lease_id": claimed["lease_id"]}) as r:
                        assert r.status == 200, await r.text()
                    done += 1

            began = time.perf_counter()
            await asyncio.gather(*(client(n) for n in range(clients)))
            elapsed = time.perf_counter() - began
        return {"rate": done / elapsed, "p50": pct(dispatch, 0.5) * 1000,
                "p99": pct(dispatch, 0.99) * 1000}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
        conn = await asyncpg.connect(pg)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


async def procrastinate_run(pg: str, jobs: int, concurrency: int) -> float | None:
    try:
        import procrastinate
    except ImportError:
        return None
    db = f"bench_procrastinate_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg)
    await admin.execute(f'CREATE DATABASE "{db}"')
    try:
        dsn = pg.rsplit("/", 1)[0] + f"/{db}"
        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))
        left = jobs
        finished = asyncio.Event()

        @app.task(name="noop")
        async def noop() -> None:
            nonlocal left
            left -= 1
            if left == 0:
                finished.set()

        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            began = time.perf_counter()
            worker = asyncio.create_task(app.run_worker_async(concurrency=concurrency,
                                                              install_signal_handlers=False))
            for _ in range(jobs):
                await noop.defer_async()
            await finished.wait()
            elapsed = time.perf_counter() - began
            worker.cancel()
            try:
                await worker
            except (asyncio.CancelledError, Exception):
                pass
        return jobs / elapsed
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()


async def pgqueuer_run(pg: str, jobs: int, concurrency: int) -> float | None:
    try:
        from pgqueuer import PgQueuer
        from pgqueuer.db import AsyncpgDriver
        from pgqueuer.queries import Queries
    except ImportError:
        return None
    db = f"bench_pgqueuer_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg)
    await admin.execute(f'CREATE DATABASE "{db}"')
    try:
        dsn = pg.rsplit("/", 1)[0] + f"/{db}"
        install = subprocess.run([str(BIN / "pgq"), "install", "--pg-dsn", dsn],
                                 capture_output=True, text=True)
        if install.returncode != 0:
            conn = await asyncpg.connect(dsn)
            await Queries(AsyncpgDriver(conn)).install()
            await conn.close()
        conn = await asyncpg.connect(dsn)
        driver = AsyncpgDriver(conn)
        pgq = PgQueuer(driver)
        left = jobs
        began = 0.0

        @pgq.entrypoint("noop", concurrency_limit=concurrency)
        async def noop(job: Any) -> None:
            nonlocal left
            left -= 1
            if left == 0:
                pgq.shutdown.set()

        producer = await asyncpg.connect(dsn)
        queries = Queries(AsyncpgDriver(producer))
        began = time.perf_counter()
        runner = asyncio.create_task(pgq.run(batch_size=concurrency))
        for _ in range(jobs):
            await queries.enqueue(["noop"], [None], [0])
        await asyncio.wait_for(runner, 300)
        elapsed = time.perf_counter() - began
        await producer.close()
        await conn.close()
        return jobs / elapsed
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--replicas", default="1,2,3")
    parser.add_argument("--pg", default="postgresql://127.0.0.1:5432/postgres")
    args = parser.parse_args()
    results = {}
    for count in (int(n) for n in args.replicas.split(",")):
        results[count] = await replicas_run(args.pg, count, args.seconds, args.clients)
    jobs = max(500, int(results[min(results)]["rate"] * args.seconds))
    procrastinate = await procrastinate_run(args.pg, jobs, args.clients)
    pgqueuer = await pgqueuer_run(args.pg, jobs, args.clients)
    print(f"{args.clients} clients, {args.seconds:.0f} s per setting, {os.cpu_count()} cores "
          "shared by PostgreSQL, the replicas and this client")
    for count, figures in results.items():
        print(f"switchboard x{count}  {figures['rate']:8.0f} cycles/s   dispatch p50 "
              f"{figures['p50']:6.1f} ms  p99 {figures['p99']:6.1f} ms")
    one = results[min(results)]["rate"]
    for name, rate in (("procrastinate", procrastinate), ("pgqueuer", pgqueuer)):
        if rate is None:
            print(f"{name:<14} not installed (pip install {name})")
        else:
            print(f"{name:<14} {rate:8.0f} jobs/s ({jobs} jobs)   switchboard x1 / {name}: "
                  f"{one / rate:.2f}")
    print(f"replicas never lower throughput: {all(results[c]['rate'] >= 0.9 * one for c in results)}"
          f" (within 10 %: {statistics.mean(r['rate'] for r in results.values()):.0f} mean)")


if __name__ == "__main__":
    asyncio.run(main())
