"""The simulated fleet behind ``--demo``, run against any Switchboard server.

Seven workers (dev, ops and FAQ agents) built on the real ``Worker`` class, a generator of
realistic tasks, an agent that crashes and comes back, and a research run waiting at its
human gate (see ``server/demo_fleet.py``). It mints its tokens from the server's secret,
as seed 003's clients do:

    ORCHESTRATOR_JWT_SECRET=... python examples/workers/demo_fleet.py \\
        --url http://127.0.0.1:8000 --seed 7 --interval 1 3

``switchboard up --demo`` runs exactly this fleet against its own API. Point a second
fleet at a server started with ``switchboard serve`` to watch remote workers arrive.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal

from switchboard.server.demo_fleet import DemoFleet, DemoSettings


async def run(url: str, secret: str, settings: DemoSettings) -> dict[str, dict[str, int]]:
    fleet = DemoFleet(url, secret, settings=settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await fleet.start()
    print(f"demo fleet: {len(fleet.workers)} workers on {url}; ctrl+c stops", flush=True)
    try:
        await stop.wait()
    finally:
        await fleet.stop()
    return fleet.stats()


def main() -> None:
    parser = argparse.ArgumentParser(description="Simulated dev/ops/FAQ agent workers.")
    parser.add_argument("--url", default=os.environ.get("SWITCHBOARD_URL",
                                                         "http://127.0.0.1:8000"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--interval", type=float, nargs=2, default=(1.0, 3.0),
                        metavar=("MIN", "MAX"), help="seconds between generated tasks")
    parser.add_argument("--step-latency", type=float, nargs=2, default=(0.4, 2.0),
                        metavar=("MIN", "MAX"), help="seconds per simulated work step")
    parser.add_argument("--initial-tasks", type=int, default=14)
    parser.add_argument("--no-run", action="store_true",
                        help="do not start the example research orchestration")
    args = parser.parse_args()
    secret = os.environ.get("ORCHESTRATOR_JWT_SECRET", "")
    if not secret:
        parser.error("set ORCHESTRATOR_JWT_SECRET to the server's secret")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    settings = DemoSettings(seed=args.seed, task_interval=tuple(args.interval),
                            step_latency=tuple(args.step_latency),
                            initial_tasks=args.initial_tasks, start_run=not args.no_run)
    stats = asyncio.run(run(args.url, secret, settings))
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
