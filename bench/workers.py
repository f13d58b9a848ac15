"""Workers end to end through the real API: create -> claim -> progress -> complete.

Starts ``switchboard serve`` as a subprocess (rate limits off, a random JWT secret), runs
``--workers`` Worker instances in a second process (WebSocket claims, HTTP reports), and
drives tasks from this process with the async client. Two phases:

1. dispatch latency with hot workers: tasks created one at a time while every worker
   waits in a claim; latency = create request sent -> handler started (client clocks,
   same host), and the server's own created_at -> started_at from the database;
2. throughput: ``--tasks`` tasks created with ``--inflight`` creates in flight; tasks/s =
   tasks / (first create sent -> last completion acknowledged by a worker). Nothing
   polls the server meanwhile: the worker process announces the last completion.

    .venv/bin/python bench/workers.py                       # ~30 s
    .venv/bin/python bench/workers.py --tasks 10000 --workers 10 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from switchboard.server.sdk.client import AsyncClient  # noqa: E402
from switchboard.server.sdk.worker import Worker  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the worker process -----------------------------------------------------------------------


async def worker_process(url: str, secret: str, workers: int, concurrency: int,
                         milestones: list[int], pipeline: bool = True) -> dict[str, Any]:
    """The workers; prints ``milestone N <time>`` when the N-th completion is acknowledged
    (how the driver learns the end time without polling the server)."""
    started: dict[str, float] = {}
    completed = 0

    def on_report(task: Any, outcome: str) -> None:
        nonlocal completed
        completed += 1
        if completed in milestones:
            print(f"milestone {completed} {time.time()}", flush=True)

    async def handle(task: Any, ctx: Any) -> dict[str, Any]:
        started[task.id] = time.time()
        await ctx.progress(50, None)
        return {"ok": True}

    client = AsyncClient(url, jwt_secret=secret, subject="bench-workers", role="agent",
                         connection_limit=workers * concurrency * 2)
    fleet = [Worker("dev_agent", handle, concurrency=concurrency, client=client,
                    name=f"bench-{i}", claim_wait=10.0, shutdown_grace=2.0,
                    on_report=on_report, pipeline=pipeline)
             for i in range(workers)]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    jobs = [asyncio.create_task(w.run()) for w in fleet]
    await asyncio.gather(*(w.wait_started() for w in fleet))
    print("ready", flush=True)
    await stop.wait()
    for w in fleet:
        w.request_stop(hand_back_now=True)
    await asyncio.gather(*jobs, return_exceptions=True)
    await client.close()
    return {"started": started, "stats": [w.stats.as_dict() for w in fleet]}


# -- the driver -------------------------------------------------------------------------------


async def wait_milestone(workers: subprocess.Popen[str], target: int, timeout: float) -> float:
    """The time the worker process acknowledged its ``target``-th completion."""
    assert workers.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(workers.stdout.readline), timeout)
    _, count, when = line.split()
    assert int(count) == target, line
    return float(when)


async def drive(url: str, secret: str, args: argparse.Namespace,
                workers: subprocess.Popen[str]) -> dict[str, Any]:
    sent: dict[str, float] = {}
    async with AsyncClient(url, jwt_secret=secret, subject="bench-driver", role="agent",
                           connection_limit=args.inflight * 2) as client:
        # phase 1: latency, one task at a time, every worker idle in a claim
        for _ in range(args.latency_tasks):
            t0 = time.time()
            task = await client.tasks.create("bugfix", {"n": 0})
            sent[task.id] = t0
            await asyncio.sleep(0.01)
        await wait_milestone(workers, args.latency_tasks, 60)
        latency_ids = set(sent)

        # phase 2: throughput
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(args.tasks):
            queue.put_nowait(i)

        async def creator() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                t0 = time.time()
                task = await client.tasks.create("bugfix", {"n": i})
                sent[task.id] = t0

        begin = time.time()
        await asyncio.gather(*(creator() for _ in range(args.inflight)))
        created = time.time()
        end = await wait_milestone(workers, args.latency_tasks + args.tasks, 600)
    return {"sent": sent, "latency_ids": latency_ids, "begin": begin, "created": created,
            "end": end}


def server_dispatch_ms(db: Path, ids: set[str]) -> list[float]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT id, (started_at - created_at) * 1000 FROM tasks").fetchall()
    finally:
        conn.close()
    return [ms for task_id, ms in rows if task_id in ids and ms is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--latency-tasks", type=int, default=300)
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=4, help="slots per worker")
    parser.add_argument("--inflight", type=int, default=64, help="creates in flight")
    parser.add_argument("--synchronous", default="FULL", choices=["OFF", "NORMAL", "FULL"])
    parser.add_argument("--profile-server", metavar="FILE",
                        help="run the server under cProfile, stats written to FILE")
    parser.add_argument("--worker-process", nargs=3, metavar=("URL", "OUT", "unused"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--pipeline", choices=["both", "on", "off"], default="both",
                        help="pipelined reports (a success rides on the next claim): both "
                             "runs them off then on in one invocation and prints the ratio")
    parser.add_argument("--profile-workers", metavar="FILE",
                        help="cProfile the worker process into FILE")
    parser.add_argument("--repeat", type=int, default=1, help="pairs of runs (with both)")
    parser.add_argument("--no-pipeline-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    secret = os.environ.get("ORCHESTRATOR_JWT_SECRET") or secrets.token_urlsafe(48)
    if args.worker_process:
        url, out, _ = args.worker_process
        milestones = [args.latency_tasks, args.latency_tasks + args.tasks]
        report = asyncio.run(worker_process(url, secret, args.workers, args.concurrency,
                                            milestones, pipeline=not args.no_pipeline_worker))
        Path(out).write_text(json.dumps(report))
        return

    print(f"# reproduce: .venv/bin/python bench/workers.py --tasks {args.tasks} "
          f"--latency-tasks {args.latency_tasks} --workers {args.workers} "
          f"--concurrency {args.concurrency} --inflight {args.inflight} "
          f"--synchronous {args.synchronous} --pipeline {args.pipeline} "
          f"--repeat {args.repeat}", flush=True)
    modes = {"both": [False, True], "on": [True], "off": [False]}[args.pipeline]
    ratios: list[float] = []
    for _ in range(args.repeat):
        rates = [run(args, secret, pipeline) for pipeline in modes]
        if len(rates) == 2:
            ratios.append(rates[1] / rates[0])
            print(f"pipelined / one report per round trip: {ratios[-1]:.2f}x", flush=True)
    if len(ratios) > 1:
        print(f"pipelined / unpipelined median {sorted(ratios)[len(ratios) // 2]:.2f}x "
              f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x, {len(ratios)} pairs)")


def run(args: argparse.Namespace, secret: str, pipeline: bool) -> float:
    """One server, one worker process, the two phases; prints them; -> tasks/s."""
    data_dir = Path(tempfile.mkdtemp(prefix="sb-bench-workers-"))
    port = free_port()
    env = {**os.environ, "ORCHESTRATOR_JWT_SECRET": secret,
           "SWITCHBOARD_RATE_LIMITS_ENABLED": "false",
           "SWITCHBOARD_STORAGE_SYNCHRONOUS": args.synchronous,
           "SWITCHBOARD_LOGGING_LEVEL": "WARNING"}
    command = [str(ROOT / ".venv/bin/switchboard"), "serve", "--data-dir", str(data_dir),
               "--port", str(port)]
    if args.profile_server:
        command = [sys.executable, "-m", "cProfile", "-o", args.profile_server, *command]
    serve = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)
    workers: subprocess.Popen[str] | None = None
    try:
        assert serve.stderr is not None
        for line in serve.stderr:
            if "switchboard: serving" in line:
                break
        else:
            raise SystemExit("switchboard serve did not start")
        url = f"http://127.0.0.1:{port}"
        out = str(data_dir / "workers.json")
        profile = (["-m", "cProfile", "-o", args.profile_workers] if args.profile_workers
                   else [])
        workers = subprocess.Popen(
            [sys.executable, *profile, __file__, "--workers", str(args.workers), "--concurrency",
             str(args.concurrency), "--tasks", str(args.tasks), "--latency-tasks",
             str(args.latency_tasks), "--worker-process", url, out, "-",
             *([] if pipeline else ["--no-pipeline-worker"])],
            env=env, stdout=subprocess.PIPE, text=True)
        assert workers.stdout is not None
        if workers.stdout.readline().strip() != "ready":
            raise SystemExit("worker process did not start")
        result = asyncio.run(drive(url, secret, args, workers))
        workers.send_signal(signal.SIGTERM)
        workers.wait(30)
        report = json.loads(Path(out).read_text())
    finally:
        for proc in (workers, serve):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(15)
                if proc.poll() is None:
                    proc.kill()
    started: dict[str, float] = report["started"]
    sent: dict[str, float] = result["sent"]
    lat_ids = result["latency_ids"]
    client_lat = [(started[i] - sent[i]) * 1000 for i in lat_ids if i in started]
    server_lat = server_dispatch_ms(data_dir / "switchboard.db", lat_ids)
    bulk_ids = set(sent) - lat_ids
    bulk_server = server_dispatch_ms(data_dir / "switchboard.db", bulk_ids)
    elapsed = result["end"] - result["begin"]
    stats = report["stats"]
    completed = sum(s["completed"] for s in stats)
    print(f"[pipelined reports {'on' if pipeline else 'off'}] workers: {args.workers} x "
          f"{args.concurrency} slots, WebSocket claims {sum(s['ws_claims'] for s in stats)}, "
          f"HTTP claims {sum(s['http_claims'] for s in stats)}, completions with a claim "
          f"{sum(s.get('pipelined', 0) for s in stats)}")
    print(f"dispatch latency, hot idle workers ({len(client_lat)} tasks, one at a time):")
    print(f"  create sent -> handler started  p50 {pct(client_lat, .5):6.2f} ms   "
          f"p99 {pct(client_lat, .99):6.2f} ms")
    print(f"  server created_at -> claimed    p50 {pct(server_lat, .5):6.2f} ms   "
          f"p99 {pct(server_lat, .99):6.2f} ms")
    print(f"throughput ({args.tasks} tasks, {args.inflight} creates in flight):")
    print(f"  end to end {args.tasks / elapsed:8.0f} tasks/s  ({elapsed:.2f} s; creates alone "
          f"{args.tasks / (result['created'] - result['begin']):.0f}/s)")
    print(f"  server created_at -> claimed under load  p50 {pct(bulk_server, .5):7.1f} ms   "
          f"p99 {pct(bulk_server, .99):7.1f} ms")
    print(f"  completions acknowledged by workers: {completed} of "
          f"{args.tasks + args.latency_tasks}", flush=True)
    return args.tasks / elapsed


if __name__ == "__main__":
    main()
