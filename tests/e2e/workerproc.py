"""A worker process for end-to-end tests: ``python -m tests.e2e.workerproc --url ... --spec dev_agent:7``.

Runs the given number of ``Worker`` instances per agent type (each its own agent), logs every
acknowledged report as a JSON line to ``--out``, prints ``ready`` once all are claiming and,
on SIGTERM, stops them gracefully and prints their stats as one JSON line.

Task payload knobs for the handler: ``sleep`` (seconds of work, with progress every 0.2 s),
``first_attempt_sleep`` (only on attempt 1: a task that hangs until its worker dies), and
``marker`` (write ``<marker-dir>/<task_id>.<pid>`` when the work starts).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from switchboard.server.sdk.client import AsyncClient, Task
from switchboard.server.sdk.worker import TaskContext, Worker

SECRET_ENV = "ORCHESTRATOR_JWT_SECRET"


def make_handler(marker_dir: Path | None) -> Any:
    async def handle(task: Task, ctx: TaskContext) -> dict[str, Any]:
        payload = task.payload
        if payload.get("marker") and marker_dir is not None:
            (marker_dir / f"{task.id}.{os.getpid()}").write_text(ctx.agent_id)
        seconds = float(payload.get("sleep", 0))
        if ctx.attempt == 1:
            seconds = float(payload.get("first_attempt_sleep", seconds))
        await ctx.progress(10, "started")
        while seconds > 0:
            step = min(0.2, seconds)
            await asyncio.sleep(step)
            seconds -= step
            if seconds > 0:
                await ctx.progress(50, None)
        return {"agent": ctx.agent_id, "pid": os.getpid(), "n": payload.get("n")}

    return handle


async def main(args: argparse.Namespace) -> None:
    client = AsyncClient(args.url, jwt_secret=os.environ[SECRET_ENV], subject="e2e-workers",
                         role="agent")
    out = open(args.out, "a", buffering=1)
    marker_dir = Path(args.marker_dir) if args.marker_dir else None
    handler = make_handler(marker_dir)

    def on_report(task: Task, outcome: str) -> None:
        out.write(json.dumps({"task": task.id, "outcome": outcome, "pid": os.getpid(),
                              "agent": task.claimed_by}) + "\n")

    workers: list[Worker] = []
    for spec in args.spec:
        agent_type, _, count = spec.partition(":")
        for i in range(int(count or 1)):
            workers.append(Worker(agent_type, handler, concurrency=args.concurrency,
                                  client=client, name=f"{agent_type}-{os.getpid()}-{i}",
                                  agent_id=args.agent_id, claim_wait=args.claim_wait,
                                  shutdown_grace=args.grace, on_report=on_report,
                                  use_websocket=not args.http_only))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    jobs = [asyncio.create_task(w.run()) for w in workers]
    await asyncio.wait([asyncio.ensure_future(asyncio.gather(*(w.wait_started()
                                                               for w in workers))),
                        *jobs], return_when=asyncio.FIRST_COMPLETED)
    print(json.dumps({"ready": [w.agent_id for w in workers]}), flush=True)
    await stop.wait()
    for worker in workers:
        worker.request_stop()
    await asyncio.gather(*jobs)
    await client.close()
    out.close()
    print(json.dumps({"stats": [w.stats.as_dict() for w in workers]}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--spec", action="append", required=True, help="agent_type:count")
    parser.add_argument("--out", required=True)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--agent-id", default=None)
    parser.add_argument("--claim-wait", type=float, default=2.0)
    parser.add_argument("--grace", type=float, default=10.0)
    parser.add_argument("--marker-dir", default=None)
    parser.add_argument("--http-only", action="store_true")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
