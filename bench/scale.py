"""Cost as the work grows: the same measurements on stores of growing size, as a curve.

Fills a store (``synchronous=OFF`` for the fill only) with N finished tasks, N/10
orchestration runs and 10*N events, spread over the last 30 days, then measures on it:

- ``switchboard serve`` start to its first answer: after a clean stop (the usual
  restart) and with ``quick_check`` (the first start on the filled file, as after a
  crash); its RSS right after start;
- ``GET /api/v1/tasks`` filtered pages (status, type, priority, run; first and deeper
  pages) and ``GET /stats``: p50/p99 over sequential requests;
- SSE replay from seq 0 (``/events/stream?after=0``): events/s over the first
  ``--replay`` events;
- an hour-equivalent of traffic (``--traffic`` create -> claim -> complete cycles over
  HTTP, one a second for an hour, with a list and a stats read every tenth), then RSS again;
- console first paint and key -> repaint (``bench/console.py --data-dir`` on the store);
- create latency p99 in the engine, idle and while event retention pruning deletes the
  older half of the events (``Engine.prune_events``).

Targets (issue 15): start < 3 s, RSS < 300 MB, filtered pages and /stats p99 < 50 ms,
console first paint < 1 s, create p99 during pruning < 2x idle. The table at the end is
the curve: one row per size.

    python bench/scale.py                          # 10k and 100k tasks, a few minutes
    python bench/scale.py --sizes 10000 100000 1000000   # the full curve (1M: ~10M events)
    python bench/scale.py --sizes 10000 --traffic 300 --no-console   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

import aiohttp  # noqa: E402
import psutil  # noqa: E402

from switchboard.engine.actors import Actor  # noqa: E402
from switchboard.engine.config import load_config  # noqa: E402
from switchboard.engine.engine import Engine  # noqa: E402
from switchboard.engine.tasks import TaskSpec  # noqa: E402

QUICK = """
id = "scale-quick"
name = "Scale quick"
[state_schema]
topic = { type = "string" }
[[steps]]
id = "clock"
type = "tool"
tool = "current_time"
"""
TYPES = ["bugfix", "feature", "deployment", "incident", "documentation", "faq_update"]
DAY = 86_400.0
SPAN_DAYS = 30.0
RETENTION_DAYS = 15.0  # the pruning step deletes the older half of the events
CHUNK = 20_000


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the fill -----------------------------------------------------------------------------


def engine_config(data_dir: Path, orch_dir: Path, **storage: Any) -> Any:
    return load_config(overrides={
        "storage": {"data_dir": str(data_dir), **storage},
        "orchestrations": {"dir": str(orch_dir), "watch": False},
    }, env={})


async def templates(data_dir: Path, orch_dir: Path) -> None:
    """Real rows to clone: agents, one finished task with its events, one finished run."""
    engine = Engine(engine_config(data_dir, orch_dir, synchronous="OFF"), run_maintenance=False)
    await engine.start()
    try:
        for i in range(30):
            kind = ("dev_agent", "ops_agent", "faq_agent")[i % 3]
            agent = await engine.agents.create(f"{kind[:3]}-{i}", kind)
            await engine.agents.heartbeat(agent.id, cpu_usage=20, memory_usage=30)
        task, _ = await engine.tasks.create(TaskSpec(
            type="bugfix", payload={"issue": "#4711", "description": "Fix the login form"}))
        agent = (await engine.agents.all())[0]
        claimed = await engine.tasks.claim(agent.id)
        assert claimed is not None and claimed.id == task.id
        await engine.tasks.progress(task.id, 50, lease_id=claimed.lease_id, message="half")
        await engine.tasks.complete(task.id, {"ok": True, "files": 3},
                                    lease_id=claimed.lease_id)
        orch = engine.orchestrations.get("scale-quick")
        assert orch is not None
        run = await engine.runs.start(orch, "topic", actor=Actor("bench", "admin"))
        done = await engine.runs.wait(run.run_id, timeout=30)
        assert done.status == "completed", done.error
    finally:
        await engine.stop()


def fill(path: Path, tasks: int, seed: int = 7) -> dict[str, int]:
    """Clone the template rows into ``tasks`` tasks, tasks/10 runs and 10*tasks events."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    columns = [row[1] for row in conn.execute("PRAGMA table_info(tasks)")]
    task_row = list(conn.execute("SELECT * FROM tasks LIMIT 1").fetchone())
    run_cols = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
    run_row = list(conn.execute("SELECT * FROM runs LIMIT 1").fetchone())
    event_cols = [row[1] for row in conn.execute("PRAGMA table_info(events)")]
    template_events = conn.execute(
        "SELECT * FROM events WHERE task_id = ? ORDER BY seq", (task_row[0],)).fetchall()
    first_seq = int(conn.execute("SELECT MAX(seq) FROM events").fetchone()[0]) + 1
    agents = [r[0] for r in conn.execute("SELECT id FROM agents")]
    rng = random.Random(seed)
    now = time.time()
    col = {name: i for i, name in enumerate(columns)}
    ecol = {name: i for i, name in enumerate(event_cols)}
    statuses = ["completed"] * 90 + ["failed"] * 7 + ["cancelled"] * 3

    def task_rows() -> Iterator[tuple[list[Any], list[list[Any]]]]:
        for n in range(tasks):
            created = now - SPAN_DAYS * DAY * (1 - n / tasks) + rng.random()
            row = list(task_row)
            task_id = f"task_s{n:09d}{secrets.token_hex(3)}"
            status = statuses[n % 100]
            row[col["id"]], row[col["type"]] = task_id, TYPES[n % len(TYPES)]
            row[col["priority"]] = ("P2", "P3", "P2", "P1")[n % 4]
            row[col["status"]], row[col["claimed_by"]] = status, agents[n % len(agents)]
            row[col["created_at"]], row[col["available_at"]] = created, created
            row[col["started_at"]] = created + 0.5
            row[col["completed_at"]] = row[col["updated_at"]] = created + 3.0
            row[col["qseq"]] = int(created * 1e6)
            row[col["idempotency_key"]] = None
            row[col["run_id"]] = None
            if status != "completed":
                row[col["result"]], row[col["error"]] = None, f"{status} in the fill"
            events = []
            for k in range(10):  # the template's lifecycle, padded with progress events
                source = template_events[k % len(template_events)]
                event = list(source)
                event[ecol["task_id"]] = task_id
                event[ecol["timestamp"]] = created + k * 0.3
                events.append(event)
            yield row, events

    task_sql = f"INSERT INTO tasks ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    event_sql = (f"INSERT INTO events ({', '.join(event_cols)}) "
                 f"VALUES ({', '.join('?' * len(event_cols))})")
    seq = first_seq
    batch_t: list[list[Any]] = []
    batch_e: list[list[Any]] = []

    def flush() -> None:
        conn.execute("BEGIN")
        conn.executemany(task_sql, batch_t)
        conn.executemany(event_sql, batch_e)
        conn.execute("COMMIT")
        batch_t.clear()
        batch_e.clear()

    for row, events in task_rows():
        batch_t.append(row)
        for event in events:
            event[ecol["seq"]] = seq
            seq += 1
            batch_e.append(event)
        if len(batch_t) >= CHUNK:
            flush()
    if batch_t:
        flush()
    run_id = run_row[run_cols.index("run_id")]
    runs = max(tasks // 10, 1)
    conn.execute("BEGIN")
    for n in range(runs):
        row = list(run_row)
        new_id = f"run_s{n:09d}"
        for i, value in enumerate(row):
            if isinstance(value, str) and run_id in value:
                row[i] = value.replace(run_id, new_id)
        created = now - SPAN_DAYS * DAY * (1 - n / runs)
        row[run_cols.index("created_at")] = created
        row[run_cols.index("updated_at")] = created + 1
        conn.execute(f"INSERT INTO runs VALUES ({', '.join('?' * len(row))})", row)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    counts = {name: int(conn.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0])
              for name in ("tasks", "runs", "events")}
    conn.close()
    return counts


# -- the server ---------------------------------------------------------------------------


class Serve:
    """``switchboard serve`` on the filled folder (synchronous=FULL, as shipped)."""

    def __init__(self, data_dir: Path, orch_dir: Path) -> None:
        self.secret = secrets.token_urlsafe(48)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "ORCHESTRATOR_JWT_SECRET": self.secret,
                    "SWITCHBOARD_RATE_LIMITS_ENABLED": "false",
                    "SWITCHBOARD_LOGGING_LEVEL": "WARNING",
                    "SWITCHBOARD_ORCHESTRATIONS_WATCH": "false",
                    "SWITCHBOARD_ORCHESTRATIONS_DIR": str(orch_dir)}
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> float:
        """Seconds from the process's start to its first answer."""
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(BIN / "switchboard"), "serve", "--data-dir", str(self.data_dir), "--port",
             str(self.port)], env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        async with aiohttp.ClientSession() as session:
            while time.perf_counter() - started < 120:
                try:
                    async with session.get(f"{self.url}/health") as r:
                        if r.status < 500:
                            return time.perf_counter() - started
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.01)
        raise RuntimeError("switchboard serve did not answer within 120 s")

    def rss_mb(self) -> float:
        assert self.proc is not None
        return psutil.Process(self.proc.pid).memory_info().rss / 1e6

    def token(self, role: str) -> str:
        return subprocess.run([str(BIN / "switchboard"), "token", "--role", role, "--sub",
                               f"scale-{role}"], env=self.env, capture_output=True, text=True,
                              check=True).stdout.strip()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def timed_gets(session: aiohttp.ClientSession, urls: list[str],
                     headers: dict[str, str]) -> list[float]:
    latencies = []
    for url in urls:
        started = time.perf_counter()
        async with session.get(url, headers=headers) as r:
            await r.read()
            assert r.status == 200, (url, r.status)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def measure_server(data_dir: Path, orch_dir: Path, args: argparse.Namespace,
                         events_total: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    first = Serve(data_dir, orch_dir)  # the fill left no clean-close mark: quick_check runs
    try:
        out["checked_start_s"] = await first.start()
    finally:
        first.stop()
    serve = Serve(data_dir, orch_dir)  # a restart after that clean stop
    try:
        out["start_s"] = await serve.start()
        await asyncio.sleep(0.5)
        out["rss_start"] = serve.rss_mb()
        user = {"Authorization": f"Bearer {serve.token('user')}"}
        agent = {"Authorization": f"Bearer {serve.token('agent')}"}
        base = f"{serve.url}/api/v1"
        filters = ["status=completed", "status=failed&type=bugfix", "priority=P1",
                   "type=incident&status=completed", "status=cancelled&priority=P2",
                   "status=in_progress", "run_id=run_s000000001", "status=completed&run_id=r"]
        pages = [f"{base}/tasks?{f}&page={p}&limit=20" for f in filters for p in (1, 2, 5)]
        async with aiohttp.ClientSession() as session:
            await timed_gets(session, pages[:3], user)  # warm the readers
            lat = await timed_gets(session, pages * max(1, args.requests // len(pages)), user)
            out["pages"] = (pct(lat, .5), pct(lat, .99))
            lat = await timed_gets(session, [f"{serve.url}/stats"] * args.requests, user)
            out["stats"] = (pct(lat, .5), pct(lat, .99))
            out["replay"] = await replay(session, base, user, min(args.replay, events_total))
            await traffic(session, base, serve.url, agent, args.traffic)
        out["rss_after"] = serve.rss_mb()
    finally:
        serve.stop()
    return out


async def replay(session: aiohttp.ClientSession, base: str, headers: dict[str, str],
                 count: int) -> float:
    """Events/s of an SSE replay from seq 0, over its first ``count`` events."""
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    received = 0
    started = time.perf_counter()
    async with session.get(f"{base}/events/stream?after=0", headers=headers,
                           timeout=timeout) as r:
        assert r.status == 200, r.status
        async for line in r.content:
            if line.startswith(b"id: "):
                received += 1
                if received >= count:
                    break
    return received / (time.perf_counter() - started)


async def traffic(session: aiohttp.ClientSession, base: str, root: str,
                  headers: dict[str, str], cycles: int) -> None:
    """An hour of one task a second, compressed: create -> claim -> complete over HTTP,
    eight at a time, with a filtered list and a stats read every tenth cycle."""
    async with session.post(f"{base}/agents/register", json={
            "name": "scale-worker", "type": "dev_agent",
            "configuration": {"max_concurrent_tasks": 100}}, headers=headers) as r:
        assert r.status in (200, 201), (r.status, await r.text())
        agent_id = (await r.json())["data"]["id"]
    sem = asyncio.Semaphore(8)

    async def cycle(i: int) -> None:
        async with sem:
            async with session.post(f"{base}/tasks", headers=headers, json={
                    "type": "bugfix", "payload": {"n": i}}) as r:
                assert r.status == 201, r.status
            async with session.post(f"{base}/tasks/claim", headers=headers,
                                    json={"agent_id": agent_id}) as r:
                if r.status != 200:
                    return
                claimed = await r.json()
            async with session.post(f"{base}/tasks/{claimed['task_id']}/complete",
                                    headers=headers,
                                    json={"lease_id": claimed["lease_id"],
                                          "result": {"ok": True}}) as r:
                assert r.status == 200, r.status
            if i % 10 == 0:
                async with session.get(f"{base}/tasks?status=completed&limit=20",
                                       headers=headers) as r:
                    await r.read()
                async with session.get(f"{root}/stats", headers=headers) as r:
                    await r.read()

    await asyncio.gather(*(cycle(i) for i in range(cycles)))


# -- the console and pruning ----------------------------------------------------------------


def measure_console(data_dir: Path, args: argparse.Namespace) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench/console.py"), "--data-dir", str(data_dir),
         "--presses", str(args.presses), "--rate", "20"],
        capture_output=True, text=True, timeout=900)
    text = proc.stdout
    paint = re.search(r"startup to first paint\s+(\d+) ms", text)
    move = re.search(r"keypress->repaint \(j/k\).*?p50\s+([\d.]+) ms.*?p99\s+([\d.]+) ms", text)
    if proc.returncode != 0 or paint is None or move is None:
        print(f"# console bench failed: {(proc.stderr or text).strip().splitlines()[-3:]}")
        return {}
    return {"first_paint": float(paint.group(1)), "key_p50": float(move.group(1)),
            "key_p99": float(move.group(2))}


async def measure_pruning(data_dir: Path, orch_dir: Path, creates: int) -> dict[str, float]:
    """Create latency in the engine (4 at a time), idle and while retention pruning runs."""
    config = engine_config(data_dir, orch_dir, event_retention_days=RETENTION_DAYS)
    engine = Engine(config, run_maintenance=False)
    await engine.start()
    try:
        async def creates_until(n: int, stop: asyncio.Future[Any] | None) -> list[float]:
            lat: list[float] = []

            async def one() -> None:
                while len(lat) < n or (stop is not None and not stop.done()):
                    started = time.perf_counter()
                    await engine.tasks.create(TaskSpec(type="bugfix", payload={"n": 1}))
                    lat.append((time.perf_counter() - started) * 1000)
                    if stop is not None and stop.done() and len(lat) >= n:
                        return

            await asyncio.gather(*(one() for _ in range(4)))
            return lat

        idle = await creates_until(creates, None)
        started = time.perf_counter()
        prune = asyncio.ensure_future(engine.prune_events())
        during = await creates_until(creates // 4, prune)
        deleted = await prune
        return {"idle_p99": pct(idle, .99), "idle_p50": pct(idle, .5),
                "prune_p99": pct(during, .99), "prune_p50": pct(during, .5),
                "pruned": deleted, "prune_s": time.perf_counter() - started,
                "during": len(during)}
    finally:
        await engine.stop()


# -- the curve ------------------------------------------------------------------------------


async def one_size(tasks: int, args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"sb-scale-{tasks}-"))
    orch_dir, data_dir = work / "orchestrations", work / "data"
    orch_dir.mkdir()
    (orch_dir / "quick.toml").write_text(QUICK)
    started = time.perf_counter()
    await templates(data_dir, orch_dir)
    counts = fill(data_dir / "switchboard.db", tasks)
    size_mb = sum(p.stat().st_size for p in data_dir.glob("switchboard.db*")) / 1e6
    print(f"# {tasks:,} tasks: filled {counts['tasks']:,} tasks, {counts['runs']:,} runs, "
          f"{counts['events']:,} events ({size_mb:,.0f} MB) in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    result: dict[str, Any] = {"tasks": tasks, **counts, "size_mb": size_mb}
    result.update(await measure_server(data_dir, orch_dir, args, counts["events"]))
    print(f"#   server: start {result['start_s']:.2f} s (with quick_check "
          f"{result['checked_start_s']:.2f} s), pages p99 {result['pages'][1]:.1f} ms,"
          f" stats p99 {result['stats'][1]:.1f} ms", flush=True)
    if not args.no_console:
        result.update(measure_console(data_dir, args))
    result.update(await measure_pruning(data_dir, orch_dir, args.creates))
    return result


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    head = (f"{'tasks':>9} {'events':>11} {'MB':>6} {'start/checked s':>15} {'RSS0':>5} "
            f"{'RSS1h':>5} "
            f"{'pages p50/p99':>14} {'stats p50/p99':>14} {'replay ev/s':>11} "
            f"{'paint ms':>8} {'key p99':>7} {'create p99 idle/prune':>22}")
    print()
    print(head)
    for r in results:
        paint = f"{r['first_paint']:.0f}" if "first_paint" in r else "-"
        key = f"{r['key_p99']:.1f}" if "key_p99" in r else "-"
        ratio = r["prune_p99"] / r["idle_p99"] if r["idle_p99"] else float("nan")
        print(f"{r['tasks']:>9,} {r['events']:>11,} {r['size_mb']:>6.0f} "
              f"{r['start_s']:>7.2f}/{r['checked_start_s']:<7.2f} "
              f"{r['rss_start']:>5.0f} {r['rss_after']:>5.0f} "
              f"{r['pages'][0]:>6.1f}/{r['pages'][1]:<7.1f} {r['stats'][0]:>6.1f}/"
              f"{r['stats'][1]:<7.1f} {r['replay']:>11,.0f} {paint:>8} {key:>7} "
              f"{r['idle_p99']:>7.1f}/{r['prune_p99']:<6.1f}({ratio:.1f}x)")
    print("targets: start < 3 s, RSS < 300 MB, pages and stats p99 < 50 ms, first paint "
          "< 1000 ms, create p99 during pruning < 2x idle")
    for r in results:
        print(f"  {r['tasks']:,}: pruned {r['pruned']:,} events in {r['prune_s']:.1f} s while "
              f"{r['during']} creates ran (p50 idle {r['idle_p50']:.1f} ms, during "
              f"{r['prune_p50']:.1f} ms)")
    print("# reproduce: python bench/scale.py --sizes " + " ".join(map(str, args.sizes))
          + f" --requests {args.requests} --replay {args.replay} --traffic {args.traffic}"
          + f" --creates {args.creates} --presses {args.presses}"
          + (" --no-console" if args.no_console else ""))
    print(json.dumps(results, default=str), file=sys.stderr)


async def main(args: argparse.Namespace) -> None:
    results = [await one_size(n, args) for n in args.sizes]
    report(results, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000],
                        help="finished tasks per store (runs: a tenth, events: ten times)")
    parser.add_argument("--requests", type=int, default=210,
                        help="sequential requests per read measurement")
    parser.add_argument("--replay", type=int, default=100_000,
                        help="events of the SSE replay from seq 0 to time")
    parser.add_argument("--traffic", type=int, default=3600,
                        help="cycles of the hour-equivalent (one task a second)")
    parser.add_argument("--creates", type=int, default=400,
                        help="creates timed idle (and a quarter as many during pruning)")
    parser.add_argument("--presses", type=int, default=60, help="console key presses")
    parser.add_argument("--no-console", action="store_true")
    asyncio.run(main(parser.parse_args()))
