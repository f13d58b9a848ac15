"""Webhook delivery: latency from commit to the receiver, and approval.requested throughput.

The engine runs in this process; the receiver is a bare aiohttp server in a subprocess on
127.0.0.1 (so its work does not share this event loop). Creates N P1 tasks (each commits an
``approval.requested`` event and, in the same transaction, an outbox row), with C creators
at once, and records when each event was committed (the bus hears of it after the commit)
and when the receiver answered its delivery. Durable: synchronous=FULL, as in production.

    python bench/webhooks.py                      # 2,000 approvals, 50 creators
    python bench/webhooks.py --approvals 5000 --concurrency 100 --delivery-concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from switchboard.engine.actors import Actor
from switchboard.engine.config import load_config
from switchboard.engine.engine import Engine
from switchboard.engine.tasks import TaskSpec

RECEIVER = textwrap.dedent("""
    import sys, time, json
    from aiohttp import web
    seen = []
    async def hook(request):
        body = await request.read()
        seen.append((json.loads(body)["seq"], time.time()))
        return web.Response(status=204)
    async def dump(request):
        return web.json_response(seen)
    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/seen", dump)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000.0


async def main(args: argparse.Namespace) -> None:
    import aiohttp

    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"{url}/seen"):
                    break
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
        config = load_config(overrides={
            "storage": {"data_dir": tempfile.mkdtemp(prefix="sb-bench-webhooks-")},
            "webhooks": [{"name": "bench", "url": f"{url}/hook", "secret": "x" * 32,
                          "events": ["approval.requested"]}],
            "webhook_delivery": {"concurrency": args.delivery_concurrency},
            "tools": {"http": {"allow_hosts": ["127.0.0.1"]}}}, env={})
        committed: dict[int, float] = {}
        try:
            async with Engine(config, run_maintenance=False) as engine:
                engine.bus.add_listener(lambda events: committed.update(
                    (e.seq, time.time()) for e in events if e.event_type == "approval.requested"))
                actor = Actor("bench", "agent")
                queue = iter(range(args.approvals))

                async def creator() -> None:
                    for n in queue:
                        if args.rate:  # paced: approval n is due at start + n / rate
                            await asyncio.sleep(max(0.0, start + n / args.rate - time.time()))
                        await engine.tasks.create(TaskSpec(type="bugfix", priority="P1"), actor)

                start = time.time()
                await asyncio.gather(*(creator() for _ in range(args.concurrency)))
                created = time.time()
                while engine.webhooks.delivered < args.approvals:
                    await asyncio.sleep(0.02)
                done = time.time()
                async with http.get(f"{url}/seen") as r:
                    seen = dict(await r.json())
        finally:
            receiver.terminate()
            receiver.wait()
    latencies = [seen[seq] - at for seq, at in committed.items() if seq in seen]
    pace = f"{args.rate:g}/s" if args.rate else "as fast as possible"
    print(f"webhook deliveries: {len(seen)} of {args.approvals} approval.requested "
          f"(created {pace}, {args.concurrency} creators, delivery concurrency "
          f"{args.delivery_concurrency})")
    print(f"  created (committed) in     {created - start:7.2f} s   "
          f"{args.approvals / (created - start):8.0f} approvals/s")
    print(f"  all delivered after        {done - start:7.2f} s   "
          f"{args.approvals / (done - start):8.0f} deliveries/s")
    print(f"  commit -> received         p50 {pct(latencies, 0.5):7.1f} ms   "
          f"p99 {pct(latencies, 0.99):7.1f} ms")
    print(f"reproduce: python bench/webhooks.py --approvals {args.approvals} "
          f"--concurrency {args.concurrency} --delivery-concurrency {args.delivery_concurrency}"
          f" --rate {args.rate:g}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--approvals", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--delivery-concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="approvals/s to create (0: as fast as possible)")
    asyncio.run(main(parser.parse_args()))
