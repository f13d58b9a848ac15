"""Task cycles (create -> claim -> complete) per second through the engine, on SQLite and on
PostgreSQL, in one run (issue 16). ``--seconds`` per store, ``--workers`` concurrent agents;
``--pg`` the server (a fresh schema, dropped afterwards). Every state change is durable on
both (SQLite synchronous=FULL; PostgreSQL's default synchronous_commit=on)."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from switchboard.engine.config import load_config
from switchboard.engine.engine import Engine
from switchboard.engine.tasks import TaskSpec


async def cycles(url: str, data: Path, seconds: float, workers: int) -> tuple[float, float]:
    config = load_config(overrides={"storage": {"data_dir": str(data), "url": url}}, env={})
    async with Engine(config, run_maintenance=False) as engine:
        agents = [(await engine.agents.create(f"w{i}", "dev_agent", configuration={
            "max_concurrent_tasks": 100})).id for i in range(workers)]
        done = 0
        latencies: list[float] = []
        stop = time.perf_counter() + seconds

        async def worker(agent: str) -> None:
            nonlocal done
            while time.perf_counter() < stop:
                await engine.tasks.create(TaskSpec(type="bugfix", priority="P2"))
                started = time.perf_counter()
                task = await engine.tasks.claim(agent)
                latencies.append(time.perf_counter() - started)
                if task is not None:
                    await engine.tasks.complete(task.id, {"ok": True}, lease_id=task.lease_id)
                    done += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker(a) for a in agents))
        return done / (time.perf_counter() - began), statistics.median(latencies) * 1000


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--pg", default="postgresql://127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = await cycles("", Path(tmp), args.seconds, args.workers)
    schema = f"bench{uuid.uuid4().hex[:8]}"
    pg_url = f"{args.pg}?schema={schema}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            postgres = await cycles(pg_url, Path(tmp), args.seconds, args.workers)
    finally:
        import asyncpg

        conn = await asyncpg.connect(args.pg)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
    print(f"{args.workers} workers, {args.seconds:.0f} s per store, one process")
    print(f"sqlite    {sqlite[0]:8.0f} cycles/s   claim p50 {sqlite[1]:6.2f} ms")
    print(f"postgres  {postgres[0]:8.0f} cycles/s   claim p50 {postgres[1]:6.2f} ms")
    print(f"postgres/sqlite {postgres[0] / sqlite[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
