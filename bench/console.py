"""Console responsiveness under load, headless (``App.run_test``), in one process.

Loads 10,000 tasks (a quarter unfinished), 1,000 orchestration runs (200 of them paused at
a human gate, so the inbox holds 200+ approvals) and 50 agents, starts the console, then keeps
~200 events/s arriving (task progress, logs, new tasks, heartbeats) while it presses keys.
Measures:

- startup to first paint (first frame composed) and to the first view showing its data;
- keypress -> repaint: from the key event sent to the first frame composed after the key
  was handled (cursor moves j/k in the tasks table; view switches 1-7), p50/p95/p99/max;
- RSS of the process (engine + console) at the end;
- the event rate actually achieved.

Targets (issue 5): p99 < 50 ms, RSS < 200 MB, first paint < 1 s.

    python bench/console.py                       # ~1-2 minutes, mostly loading data
    python bench/console.py --tasks 10000 --runs 1000 --rate 200 --presses 300
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil
from textual import events

from switchboard.console.app import build_app
from switchboard.console.backend import InProcessBackend
from switchboard.console.screens.base import ViewScreen
from switchboard.console.screens.tasks import TasksScreen
from switchboard.engine.actors import Actor
from switchboard.engine.config import load_config
from switchboard.engine.engine import Engine
from switchboard.engine.tasks import TaskSpec

GATE = """
id = "bench-gate"
name = "Bench gate"
[state_schema]
topic = { type = "string" }
[[steps]]
id = "ask"
type = "human"
prompt = "Approve {topic}?"
[[steps.fields]]
name = "decision"
type = "select"
options = "approve,reject"
required = true
"""
QUICK = """
id = "bench-quick"
name = "Bench quick"
[state_schema]
topic = { type = "string" }
[[steps]]
id = "clock"
type = "tool"
tool = "current_time"
"""
TYPES = ["bugfix", "feature", "deployment", "incident", "documentation", "faq_update"]


async def until(predicate: Any, step: float = 0.001, timeout: float = 30.0) -> None:
    """Poll ``predicate`` (the UI's own state) until it holds."""
    for _ in range(int(timeout / step)):
        if predicate():
            return
        await asyncio.sleep(step)
    raise TimeoutError("condition not reached")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


async def load(engine: Engine, tasks: int, runs: int, agents: int) -> list[Any]:
    """Seed the engine; returns the in-progress tasks (with leases) the load generator uses."""
    agent_ids = []
    for i in range(agents):
        kind = ("dev_agent", "ops_agent", "faq_agent")[i % 3]
        agent = await engine.agents.create(f"{kind[:3]}-{i}", kind,
                                           configuration={"max_concurrent_tasks": 10_000})
        await engine.agents.heartbeat(agent.id, cpu_usage=20, memory_usage=30)
        agent_ids.append((agent.id, kind))
    rng = random.Random(1)

    async def create(n: int) -> None:
        batch = []
        for _ in range(n):
            task_type = rng.choice(TYPES)
            batch.append(engine.tasks.create(TaskSpec(
                type=task_type, priority=rng.choice(["P2", "P2", "P3", "P2"]),
                payload={"issue": f"#{rng.randint(1, 99999)}", "description": "bench load"})))
        await asyncio.gather(*batch)

    for start in range(0, tasks, 500):
        await create(min(500, tasks - start))
    # finish three quarters of them, keep some running
    held: list[Any] = []
    target_done = tasks * 3 // 4
    done = 0
    while done < target_done:
        claims = await asyncio.gather(*[engine.tasks.claim(aid) for aid, _ in agent_ids
                                        for _ in range(10)])
        claimed = [t for t in claims if t is not None]
        if not claimed:
            break
        finish = claimed[: max(0, target_done - done)]
        keep = claimed[len(finish):]
        await asyncio.gather(*[engine.tasks.complete(t.id, {"ok": True}, lease_id=t.lease_id)
                               for t in finish])
        done += len(finish)
        held.extend(keep)
    more = await asyncio.gather(*[engine.tasks.claim(aid) for aid, _ in agent_ids])
    held.extend(t for t in more if t is not None)
    for _ in range(3):  # a few approvals from P1 tasks
        await engine.tasks.create(TaskSpec(type="incident", priority="P1"))
    gate = engine.orchestrations.get("bench-gate")
    quick = engine.orchestrations.get("bench-quick")
    if gate is not None and quick is not None and runs:
        started = []
        for i in range(runs):
            orch = gate if i % 5 == 0 else quick
            started.append(await engine.runs.start(orch, f"topic {i}", actor=Actor("bench")))
        for run in started:
            await engine.runs.wait(run.run_id, timeout=30)
    return held


async def generate(engine: Engine, held: list[Any], rate: float, stop: asyncio.Event,
                   counter: list[int]) -> None:
    """~``rate`` events/s: progress and logs on held tasks, new tasks, heartbeats."""
    rng = random.Random(2)
    agents = await engine.agents.all()
    tick = 0.02
    per_tick = rate * tick
    carry = 0.0
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    while not stop.is_set():
        carry += per_tick
        n, carry = int(carry), carry - int(carry)
        ops = []
        for _ in range(n):
            roll = rng.random()
            if roll < 0.7 and held:
                task = rng.choice(held)
                ops.append(engine.tasks.progress(task.id, rng.randint(1, 99),
                                                 lease_id=task.lease_id, message="working"))
            elif roll < 0.85 and held:
                task = rng.choice(held)
                ops.append(engine.tasks.add_log(task.id, "info", "step done"))
            elif roll < 0.95:
                ops.append(engine.tasks.create(TaskSpec(type=rng.choice(TYPES), priority="P3")))
            else:
                ops.append(engine.agents.heartbeat(rng.choice(agents).id))
        if ops:
            results = await asyncio.gather(*ops, return_exceptions=True)
            counter[0] += sum(1 for r in results if not isinstance(r, BaseException))
        next_at += tick
        await asyncio.sleep(max(0.0, next_at - loop.time()))


async def main(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="sb-console-bench-"))
    orch_dir = data_dir / "orchestrations"
    orch_dir.mkdir()
    (orch_dir / "gate.toml").write_text(GATE)
    (orch_dir / "quick.toml").write_text(QUICK)
    store_dir = args.data_dir or data_dir / "data"
    config = load_config(overrides={
        "storage": {"data_dir": str(store_dir), "synchronous": "NORMAL"},
        "orchestrations": {"dir": str(orch_dir), "watch": False},
    }, env={})
    engine = Engine(config, run_maintenance=True)
    await engine.start()
    t0 = time.perf_counter()
    # --data-dir: an existing store as it is (bench/scale.py fills one); else load one here
    held = [] if args.data_dir else await load(engine, args.tasks, args.runs, args.agents)
    queue = await engine.stats.queue()
    run_count = await engine.runs.count()
    print(f"loaded {queue['total_tasks']:,} tasks ({queue['pending_tasks'] + queue['processing_tasks']:,}"
          f" unfinished), {run_count:,} runs, {queue['pending_approvals']:,} approvals waiting,"
          f" {args.agents} agents in {time.perf_counter() - t0:.1f} s")

    frames: list[float] = []
    backend = InProcessBackend(engine, Actor("bench", "admin"))
    start = time.perf_counter()
    app = build_app(backend, cursor_blink=False, idle_gc=not args.no_idle_gc)
    original_display = app._display

    def display(screen: Any, renderable: Any) -> None:
        original_display(screen, renderable)
        if renderable is not None:
            frames.append(time.perf_counter())

    app._display = display  # type: ignore[method-assign]
    stop = asyncio.Event()
    sent = [0]
    results: dict[str, list[float]] = {"move": [], "switch": []}
    async with app.run_test(size=(args.width, args.height)) as pilot:
        await until(lambda: bool(frames))
        first_paint = frames[0] - start
        await until(lambda: isinstance(app.screen, ViewScreen) and app.screen.loaded)
        first_data = time.perf_counter() - start
        await pilot.pause(0.3)
        generator = asyncio.create_task(generate(engine, held, args.rate, stop, sent))
        gen_start = time.perf_counter()
        driver = app._driver
        assert driver is not None

        phases: list[tuple[float, float, float]] = []
        key_seen = [0.0]
        original_on_event = app.on_event

        async def on_event(event: Any) -> None:
            if isinstance(event, events.Key):
                key_seen[0] = time.perf_counter()
            await original_on_event(event)

        app.on_event = on_event  # type: ignore[method-assign]

        handled_times: list[float] = []
        original_switch = app.switch_mode

        def switch_mode(mode: str) -> Any:
            result = original_switch(mode)
            handled_times.append(time.perf_counter())
            return result

        app.switch_mode = switch_mode  # type: ignore[method-assign]

        async def press(key: str, handled: Any) -> float:
            """Send a key; latency = first frame composed after the handler ran."""
            count = len(frames)
            handled_times.clear()
            t = time.perf_counter()
            event = events.Key(key, key if len(key) == 1 else None)
            event.set_sender(app)
            driver.send_message(event)
            deadline = t + 5.0
            while not handled():
                await asyncio.sleep(0.0005)
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"key {key!r} not handled")
            handled_at = handled_times[-1] if handled_times else time.perf_counter()
            while True:
                fresh = [f for f in frames[count:] if f >= handled_at]
                if fresh:
                    phases.append((key_seen[0] - t, handled_at - key_seen[0],
                                   fresh[0] - handled_at))
                    return fresh[0] - t
                await asyncio.sleep(0.0005)
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"no frame after {key!r}")

        # view switches (each view loads its data the first time)
        for _round in range(max(1, args.presses // 50)):
            for key, mode in zip("2345671", ("runs", "tasks", "agents", "approvals", "events",
                                            "orchestrations", "overview"), strict=True):
                results["switch"].append(await press(key, lambda m=mode: app.current_mode == m))
                await asyncio.sleep(0.05)
        await press("3", lambda: app.current_mode == "tasks")
        screen = app.screen
        assert isinstance(screen, TasksScreen)
        await until(lambda: screen.loaded)
        table = screen.table
        rows_shown = table.row_count
        moves = [0]  # the cursor's index can shift under live updates: count handled moves
        original_cursor = table.action_cursor

        def counted(delta: int) -> None:
            original_cursor(delta)
            handled_times.append(time.perf_counter())
            moves[0] += 1

        table.action_cursor = counted  # type: ignore[method-assign]
        for i in range(args.presses):
            key = "j" if (i // 20) % 2 == 0 else "k"
            done = moves[0] + 1
            results["move"].append(await press(key, lambda d=done: moves[0] >= d))
            await asyncio.sleep(args.gap)
        stop.set()
        await generator
        elapsed = time.perf_counter() - gen_start
        rss = psutil.Process().memory_info().rss / 1e6
        frames_during = len([f for f in frames if f >= gen_start])
    await engine.stop()

    def line(name: str, values: list[float]) -> str:
        ms = [v * 1000 for v in values]
        return (f"  {name:<22} n={len(ms):<4} p50 {statistics.median(ms):6.1f} ms   "
                f"p95 {pct(ms, 0.95):6.1f} ms   p99 {pct(ms, 0.99):6.1f} ms   "
                f"max {max(ms):6.1f} ms")

    print(f"console at {args.width}x{args.height}, events arriving at "
          f"{sent[0] / elapsed:.0f}/s (target {args.rate:.0f}/s), {frames_during / elapsed:.0f}"
          f" frames/s; tasks table shows {rows_shown} rows (capped)")
    print(f"  startup to first paint   {first_paint * 1000:6.0f} ms   (target < 1000 ms)")
    print(f"  startup to data shown    {first_data * 1000:6.0f} ms")
    print(line("keypress->repaint (j/k)", results["move"]) + "   (target p99 < 50 ms)")
    print(line("view switch (1-7)", results["switch"]))
    if args.phases:
        slow = sorted(phases, key=sum)[-8:]
        print("  slowest presses (to app, to handled, to frame) ms:",
              [tuple(round(x * 1000) for x in p) for p in slow])
    print(f"  RSS (engine + console)   {rss:6.0f} MB   (target < 200 MB)")
    flags = []
    for name, value in vars(args).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            if value:
                flags.append(flag)
        else:
            flags.append(f"{flag} {value}")
    print("reproduce: python bench/console.py " + " ".join(flags))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1_000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--presses", type=int, default=300)
    parser.add_argument("--gap", type=float, default=0.03, help="seconds between key presses")
    parser.add_argument("--phases", action="store_true", help="show where slow presses waited")
    parser.add_argument("--no-idle-gc", action="store_true",
                        help="leave CPython's automatic full collections on (to compare)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="open this existing data folder instead of loading one")
    parser.add_argument("--width", type=int, default=120)
    parser.add_argument("--height", type=int, default=40)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args()))
