"""Engine throughput: durable create -> claim -> complete cycles, in process.

Every state change is committed (SQLite WAL, synchronous=FULL by default) before the caller
gets its answer; concurrency comes from group commit. Prints cycles/s and per-operation
p50/p99 at each concurrency, and the command that reproduces it.

    python bench/engine_tasks.py                 # 1 and 100 concurrent, ~1 minute
    python bench/engine_tasks.py --cycles 20000 --concurrency 1 10 100 --synchronous FULL
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from switchboard.engine.config import load_config
from switchboard.engine.engine import Engine
from switchboard.engine.tasks import TaskSpec


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000.0


async def run(cycles: int, concurrency: int, synchronous: str) -> dict[str, float]:
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
    args = parser.parse_args()
    print(f"# reproduce: python bench/engine_tasks.py --concurrency "
          f"{' '.join(map(str, args.concurrency))} --synchronous {args.synchronous}"
          + (f" --cycles {args.cycles}" if args.cycles else ""))
    print(f"{'conc':>5} {'cycles':>7} {'cycles/s':>9} {'ops/commit':>10} "
          f"{'create p50/p99 ms':>18} {'claim p50/p99 ms':>17} {'complete p50/p99 ms':>20}")
    for concurrency in args.concurrency:
        cycles = args.cycles or (2000 if concurrency == 1 else 30_000)
        r = asyncio.run(run(cycles, concurrency, args.synchronous))
        print(f"{concurrency:>5} {int(r['cycles']):>7} {r['cycles_per_s']:>9.0f} "
              f"{r['ops_per_commit']:>10.1f} "
              f"{r['create_p50_ms']:>8.2f}/{r['create_p99_ms']:<9.2f}"
              f"{r['claim_p50_ms']:>8.2f}/{r['claim_p99_ms']:<8.2f}"
              f"{r['complete_p50_ms']:>9.2f}/{r['complete_p99_ms']:<9.2f}", flush=True)


if __name__ == "__main__":
    main()
