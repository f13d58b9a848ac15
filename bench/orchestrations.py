"""Orchestration runs: start -> paused (human gate) -> resume -> completed, durably.

A 5-step orchestration (four trivial steps and one human gate; SQLite synchronous=FULL),
N runs one at a time and C at a time; prints runs/s, start->paused and resume->completed
p50/p99 and peak RSS. The same workload on LangGraph (StateGraph + interrupt() +
AsyncSqliteSaver) runs in a separate environment in the same invocation, and the ratio is
printed. Create that environment once with:

    python3 -m venv .venv-bench && .venv-bench/bin/pip install '.[bench]'

    python bench/orchestrations.py                    # N=1000 at 1 and at 50
    python bench/orchestrations.py --runs 1000 --concurrency 1 50 --no-peer
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from switchboard.engine.actors import Actor  # noqa: E402
from switchboard.engine.config import load_config  # noqa: E402
from switchboard.engine.engine import Engine  # noqa: E402

DEFINITION = """
id = "bench5"
name = "Five steps"
[state_schema]
text = { type = "string" }
a = { type = "object" }
b = { type = "object" }
c = { type = "object" }
d = { type = "object" }
[[steps]]
id = "s1"
type = "tool"
tool = "word_count"
args = { text = "{text}" }
output_key = "a"
[[steps]]
id = "s2"
type = "tool"
tool = "word_count"
args = { text = "{text}" }
output_key = "b"
[[steps]]
id = "gate"
type = "human"
prompt = "ok?"
[[steps.fields]]
name = "ok"
type = "boolean"
required = true
[[steps]]
id = "s4"
type = "tool"
tool = "word_count"
args = { text = "{text}" }
output_key = "c"
[[steps]]
id = "s5"
type = "tool"
tool = "word_count"
args = { text = "{text}" }
output_key = "d"
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000.0


async def ours(runs: int, concurrency: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="sb-orch-bench-"))
    (work / "defs").mkdir()
    (work / "defs" / "bench5.toml").write_text(DEFINITION)
    config = load_config(overrides={"storage": {"data_dir": str(work / "data")},
                                    "orchestrations": {"dir": str(work / "defs"),
                                                       "watch": False}}, env={})
    engine = Engine(config, run_maintenance=False)
    await engine.start()
    orch = engine.orchestrations.get("bench5")
    actor = Actor("bench", "admin")
    to_pause: list[float] = []
    to_done: list[float] = []

    async def one(i: int) -> None:
        t0 = time.perf_counter()
        run = await engine.runs.start(orch, f"run number {i}", actor=actor)
        run = await engine.runs.wait(run.run_id)
        t1 = time.perf_counter()
        assert run.status == "paused", run.error
        await engine.runs.resume(run.run_id, {"ok": True}, actor)
        run = await engine.runs.wait(run.run_id)
        t2 = time.perf_counter()
        assert run.status == "completed", run.error
        to_pause.append(t1 - t0)
        to_done.append(t2 - t1)

    sem = asyncio.Semaphore(concurrency)

    async def limited(i: int) -> None:
        async with sem:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(limited(i) for i in range(runs)))
    elapsed = time.perf_counter() - started
    await engine.stop()
    return {"runs_per_s": runs / elapsed, "pause_p50": pct(to_pause, .5),
            "pause_p99": pct(to_pause, .99), "done_p50": pct(to_done, .5),
            "done_p99": pct(to_done, .99),
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def peer(python: Path, runs: int, concurrency: int) -> dict[str, float] | None:
    proc = subprocess.run([str(python), str(ROOT / "bench/langgraph_peer.py"), str(runs),
                           str(concurrency)], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        print(f"# LangGraph peer failed: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--peer-python", type=Path, default=ROOT / ".venv-bench/bin/python")
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()
    print(f"# reproduce: python bench/orchestrations.py --runs {args.runs} --concurrency "
          f"{' '.join(map(str, args.concurrency))}" + (" --no-peer" if args.no_peer else ""))
    use_peer = not args.no_peer and args.peer_python.exists()
    if not use_peer and not args.no_peer:
        print(f"# no LangGraph environment at {args.peer_python}; see the docstring")
    header = (f"{'system':<12} {'conc':>4} {'runs/s':>8} {'start->paused p50/p99 ms':>25} "
              f"{'resume->done p50/p99 ms':>24} {'peak RSS MB':>11}")
    print(header)
    for concurrency in args.concurrency:
        mine = asyncio.run(ours(args.runs, concurrency))
        rows = [("switchboard", mine)]
        other = peer(args.peer_python, args.runs, concurrency) if use_peer else None
        if other:
            rows.append(("langgraph", other))
        for name, r in rows:
            print(f"{name:<12} {concurrency:>4} {r['runs_per_s']:>8.1f} "
                  f"{r['pause_p50']:>12.2f}/{r['pause_p99']:<12.2f}"
                  f"{r['done_p50']:>11.2f}/{r['done_p99']:<12.2f}{r['rss_mb']:>11.0f}",
                  flush=True)
        if other:
            print(f"{'ratio':<12} {concurrency:>4} {mine['runs_per_s'] / other['runs_per_s']:>7.1f}x")


if __name__ == "__main__":
    main()
