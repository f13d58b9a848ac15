"""The LangGraph peer of bench/orchestrations.py (run with the bench environment's python).

Same workload: four trivial nodes and an interrupt() gate, AsyncSqliteSaver on a file,
start -> interrupted -> Command(resume=...) -> done. Prints one JSON line of figures.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import TypedDict

from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt


class State(TypedDict, total=False):
    text: str
    a: dict
    b: dict
    c: dict
    d: dict
    ok: bool


def count(state: State) -> dict:
    words = len(state["text"].split())
    return {"words": words, "characters": len(state["text"])}


def s1(state: State) -> State:
    return {"a": count(state)}


def s2(state: State) -> State:
    return {"b": count(state)}


def gate(state: State) -> State:
    return {"ok": bool(interrupt("ok?"))}


def s4(state: State) -> State:
    return {"c": count(state)}


def s5(state: State) -> State:
    return {"d": count(state)}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000.0


async def main(runs: int, concurrency: int) -> None:
    builder = StateGraph(State)
    for name, fn in (("s1", s1), ("s2", s2), ("gate", gate), ("s4", s4), ("s5", s5)):
        builder.add_node(name, fn)
    builder.add_edge(START, "s1")
    builder.add_edge("s1", "s2")
    builder.add_edge("s2", "gate")
    builder.add_edge("gate", "s4")
    builder.add_edge("s4", "s5")
    builder.add_edge("s5", END)
    path = Path(tempfile.mkdtemp(prefix="lg-bench-")) / "checkpoints.db"
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        await saver.conn.execute("PRAGMA synchronous=FULL")
        graph = builder.compile(checkpointer=saver)
        to_pause: list[float] = []
        to_done: list[float] = []

        async def one(i: int) -> None:
            config = {"configurable": {"thread_id": f"t{i}"}}
            t0 = time.perf_counter()
            await graph.ainvoke({"text": f"run number {i}"}, config)
            t1 = time.perf_counter()
            final = await graph.ainvoke(Command(resume=True), config)
            t2 = time.perf_counter()
            assert final["d"]["words"] == 3
            to_pause.append(t1 - t0)
            to_done.append(t2 - t1)

        sem = asyncio.Semaphore(concurrency)

        async def limited(i: int) -> None:
            async with sem:
                await one(i)

        started = time.perf_counter()
        await asyncio.gather(*(limited(i) for i in range(runs)))
        elapsed = time.perf_counter() - started
    print(json.dumps({"runs_per_s": runs / elapsed, "pause_p50": pct(to_pause, .5),
                      "pause_p99": pct(to_pause, .99), "done_p50": pct(to_done, .5),
                      "done_p99": pct(to_done, .99),
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
