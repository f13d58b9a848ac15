"""Engine throughput: durable create -> claim -> complete cycles, in process, against the
bare-``sqlite3`` ceiling measured in the same invocation.

Every state change is committed (SQLite WAL, synchronous=FULL by default) before the caller
gets its answer; concurrency comes from group commit. Prints cycles/s and per-operation
p50/p99 at each concurrency, the ceiling and the ratio, and the command that reproduces it.

The ceiling (``bare_cycles``) is what SQLite itself allows for the same work: the same schema
(this store's migrations, every index), the same changes per cycle as plain ``sqlite3``
statements (insert the task and an event; claim with one ``UPDATE ... WHERE rowid =
(SELECT ... ORDER BY priority, available_at, qseq LIMIT 1) RETURNING``; complete; an event
row each), WAL with the same ``synchronous``, one thread, commits of ~90 ops. Runs of ours
and of the ceiling alternate (``--repeat``) so both see the same machine load; the ratio of
each pair is printed, then the median and the spread.

    python bench/engine_tasks.py                 # 1 and 100 concurrent, ~1 minute
    python bench/engine_tasks.py --cycles 20000 --concurrency 1 10 100 --synchronous FULL
    python bench/engine_tasks.py --concurrency 100 --repeat 3 --profile /tmp/engine.prof
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec

from switchboard.engine.config import load_config
from switchboard.engine.engine import Engine
from switchboard.engine.store.migrations import MIGRATIONS, statements
from switchboard.engine.store.sqlite import SQLiteStore
from switchboard.engine.tasks import TaskSpec

# -- the ceiling: the same changes as bare sqlite3 statements -------------------------------
_BARE_INSERT = (
    "INSERT INTO tasks (id, type, priority, status, assigned_agent, payload, metadata, "
    "progress, attempts, max_attempts, available_at, sla_breached, created_at, updated_at, "
    "created_by, qseq) VALUES (?, ?, ?, 'assigned', ?, ?, ?, 0, 0, 3, ?, 0, ?, ?, ?, ?)")
_BARE_EVENT = (
    "INSERT INTO events (event_type, timestamp, source_agent, payload, task_id, run_id, "
    "agent_id, trace_id, priority) VALUES (?, ?, ?, ?, ?, NULL, ?, NULL, ?)")
_BARE_CLAIM = (
    "UPDATE tasks SET status = 'in_progress', claimed_by = ?1, claimed_principal = 'system', "
    "lease_id = ?2, lease_expires_at = ?3, attempts = attempts + 1, started_at = ?4, "
    "updated_at = ?4 WHERE rowid = (SELECT rowid FROM tasks WHERE status = 'assigned' "
    "AND assigned_agent = ?5 AND available_at <= ?4 AND (agent_id IS NULL OR agent_id = ?1) "
    "ORDER BY priority, available_at, qseq LIMIT 1) RETURNING id, priority")
_BARE_COMPLETE = (
    "UPDATE tasks SET status = 'completed', result = ?, completed_at = ?, updated_at = ?, "
    "progress = 100, lease_id = NULL, lease_expires_at = NULL WHERE id = ?")


def bare_cycles(cycles: int, synchronous: str, ops_per_commit: int = 90) -> dict[str, float]:
    """The ceiling: ``cycles`` create -> claim -> complete cycles as plain sqlite3 statements
    on this store's schema, one thread, ``ops_per_commit`` ops (a third of them each kind)
    per durable commit. What SQLite and the disk allow; no engine around it."""
    path = Path(tempfile.mkdtemp(prefix="sb-bare-")) / "bare.db"
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    for migration in MIGRATIONS:
        for statement in statements(migration, "sqlite"):
            conn.execute(statement)
    encode = msgspec.json.Encoder().encode
    group = max(ops_per_commit // 3, 1)
    done = commits = 0
    started = time.perf_counter()
    while done < cycles:
        n = min(group, cycles - done)
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        for i in range(n):
            task_id = f"task_{secrets.token_hex(8)}"
            conn.execute(_BARE_INSERT, (task_id, "bugfix", "P2", "dev_agent",
                                        encode({"issue": "123"}), b"{}", now, now, now,
                                        "system", int(now * 1e6) + i))
            conn.execute(_BARE_EVENT, ("task.created", now, None, encode(
                {"task_id": task_id, "status": "assigned"}), task_id, None, "P2"))
        claimed = []
        for i in range(n):
            agent = f"w{i}"
            row = conn.execute(_BARE_CLAIM, (agent, secrets.token_hex(8), now + 300, now,
                                             "dev_agent")).fetchone()
            claimed.append((row[0], agent))
            conn.execute(_BARE_EVENT, ("task.started", now, agent, encode(
                {"task_id": row[0], "status": "in_progress"}), row[0], agent, row[1]))
        for task_id, agent in claimed:
            conn.execute(_BARE_COMPLETE, (encode({"ok": True}), now, now, task_id))
            conn.execute(_BARE_EVENT, ("task.completed", now, agent, encode(
                {"task_id": task_id, "status": "completed", "result": {"ok": True}}),
                task_id, agent, "P2"))
        conn.execute("COMMIT")
        done += n
        commits += 1
    elapsed = time.perf_counter() - started
    conn.close()
    shutil.rmtree(path.parent, ignore_errors=True)
    return {"cycles": done, "seconds": elapsed, "cycles_per_s": done / elapsed,
            "ops_per_commit": 3 * done / max(commits, 1)}


# -- profiling: the event loop's thread and the store's writer thread ----------------------
class Profiles:
    """cProfile of the loop thread and of the writer thread (``--profile``)."""

    def __init__(self) -> None:
        self.loop = cProfile.Profile()
        self.writer = cProfile.Profile()
        self._original = SQLiteStore._run_writer
        profiles = self

        def run_writer(store: SQLiteStore, conn: sqlite3.Connection) -> None:
            assert threading.current_thread() is not threading.main_thread()
            profiles.writer.enable()
            try:
                profiles._original(store, conn)
            finally:
                profiles.writer.disable()

        SQLiteStore._run_writer = run_writer  # type: ignore[method-assign]

    @contextmanager
    def loop_thread(self) -> Iterator[None]:
        self.loop.enable()
        try:
            yield
        finally:
            self.loop.disable()

    def dump(self, prefix: str, top: int = 25) -> None:
        for name, profile in (("loop", self.loop), ("writer", self.writer)):
            profile.dump_stats(f"{prefix}.{name}")
            print(f"\n# profile of the {name} thread (top {top} by own time; "
                  f"full: {prefix}.{name})")
            stats = pstats.Stats(profile, stream=sys.stdout)
            stats.sort_stats("tottime").print_stats(top)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000.0


async def run(cycles: int, concurrency: int, synchronous: str,
              profiles: Profiles | None = None) -> dict[str, float]:
    data_dir = tempfile.mkdtemp(prefix="sb-bench-")
    config = load_config(overrides={"storage": {"data_dir": data_dir, "synchronous": synchronous}},
                         env={})
    engine = Engine(config, run_maintenance=False)
    await engine.start()
    workers = [
        (await engine.agents.create(f"w{i}", "dev_agent",
                                    configuration={"max_concurrent_tasks": 10_000})).id
        for i in range(concurrency)
    ]
    timings: dict[str, list[float]] = {"create": [], "claim": [], "complete": []}
    per_worker = cycles // concurrency

    async def worker(agent_id: str) -> None:
        for _ in range(per_worker):
            t0 = time.perf_counter()
            await engine.tasks.create(TaskSpec(type="bugfix", payload={"issue": "123"}))
            t1 = time.perf_counter()
            task = await engine.tasks.claim(agent_id)
            t2 = time.perf_counter()
            assert task is not None
            await engine.tasks.complete(task.id, {"ok": True}, lease_id=task.lease_id)
            t3 = time.perf_counter()
            timings["create"].append(t1 - t0)
            timings["claim"].append(t2 - t1)
            timings["complete"].append(t3 - t2)

    commits_before = engine.store.commits
    started = time.perf_counter()
    if profiles is None:
        await asyncio.gather(*(worker(a) for a in workers))
    else:
        with profiles.loop_thread():
            await asyncio.gather(*(worker(a) for a in workers))
    elapsed = time.perf_counter() - started
    done = per_worker * concurrency
    commits = engine.store.commits - commits_before
    await engine.stop()
    result = {"cycles": done, "seconds": elapsed, "cycles_per_s": done / elapsed,
              "ops_per_commit": 3 * done / max(commits, 1)}
    for name, values in timings.items():
        result[f"{name}_p50_ms"] = pct(values, 0.50)
        result[f"{name}_p99_ms"] = pct(values, 0.99)
    result["cycle_mean_ms"] = statistics.mean(
        a + b + c for a, b, c in zip(timings["create"], timings["claim"], timings["complete"],
                                     strict=True)) * 1000
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=0,
                        help="cycles per run (default: 2000 at c=1, 30000 at c>=10)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--synchronous", default="FULL", choices=["OFF", "NORMAL", "FULL"])
    parser.add_argument("--repeat", type=int, default=1,
                        help="pairs of runs (ceiling, ours) per concurrency (default 1)")
    parser.add_argument("--no-ceiling", action="store_true",
                        help="leave out the bare-sqlite3 ceiling")
    parser.add_argument("--profile", metavar="PREFIX",
                        help="cProfile both threads of our runs; stats to PREFIX.loop/.writer")
    args = parser.parse_args()
    print(f"# reproduce: python bench/engine_tasks.py --concurrency "
          f"{' '.join(map(str, args.concurrency))} --synchronous {args.synchronous}"
          f" --repeat {args.repeat}"
          + (f" --cycles {args.cycles}" if args.cycles else "")
          + (" --no-ceiling" if args.no_ceiling else ""))
    profiles = Profiles() if args.profile else None
    print(f"{'conc':>5} {'run':>8} {'cycles':>7} {'cycles/s':>9} {'ops/commit':>10} "
          f"{'create p50/p99 ms':>18} {'claim p50/p99 ms':>17} {'complete p50/p99 ms':>20}")
    for concurrency in args.concurrency:
        cycles = args.cycles or (2000 if concurrency == 1 else 30_000)
        ratios: list[float] = []
        for _ in range(args.repeat):
            ceiling: dict[str, Any] | None = None
            if not args.no_ceiling:
                ceiling = bare_cycles(cycles, args.synchronous)
                print(f"{concurrency:>5} {'ceiling':>8} {int(ceiling['cycles']):>7} "
                      f"{ceiling['cycles_per_s']:>9.0f} {ceiling['ops_per_commit']:>10.1f}",
                      flush=True)
            r = asyncio.run(run(cycles, concurrency, args.synchronous, profiles))
            print(f"{concurrency:>5} {'ours':>8} {int(r['cycles']):>7} {r['cycles_per_s']:>9.0f} "
                  f"{r['ops_per_commit']:>10.1f} "
                  f"{r['create_p50_ms']:>8.2f}/{r['create_p99_ms']:<9.2f}"
                  f"{r['claim_p50_ms']:>8.2f}/{r['claim_p99_ms']:<8.2f}"
                  f"{r['complete_p50_ms']:>9.2f}/{r['complete_p99_ms']:<9.2f}", flush=True)
            if ceiling is not None:
                ratios.append(r["cycles_per_s"] / ceiling["cycles_per_s"])
                print(f"{concurrency:>5} {'ratio':>8} {'':>7} {100 * ratios[-1]:>8.1f}%",
                      flush=True)
        if len(ratios) > 1:
            print(f"{concurrency:>5} {'ratio':>8} median {100 * statistics.median(ratios):.1f}% "
                  f"(min {100 * min(ratios):.1f}%, max {100 * max(ratios):.1f}%, "
                  f"{len(ratios)} pairs)", flush=True)
    if profiles is not None:
        profiles.dump(args.profile)


if __name__ == "__main__":
    main()
