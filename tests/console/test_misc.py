"""Import hygiene, the idle GC policy, formatting."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

from switchboard.console.formatting import age, progress_bar, short_id
from switchboard.console.gcpolicy import IdleCollector

ROOT = Path(__file__).resolve().parents[2]


def test_engine_and_server_never_import_console_or_textual() -> None:
    code = (
        "import sys, switchboard.engine.engine, switchboard.server.app\n"
        "bad = [m for m in sys.modules if m.startswith(('switchboard.console', 'textual'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_formatting() -> None:
    assert short_id("task_01jd8x2k3m7q9r5t8v1w3y") == "r5t8v1w3y"[-8:]
    assert short_id("agent-dev-1") == "agent-dev-1"
    assert [age(s) for s in (5, 90, 7200, 200_000)] == ["5s", "1m", "2h", "2d"]
    assert progress_bar(40) == "▰▰▱▱▱  40%"


def test_idle_collector_waits_for_a_quiet_operator() -> None:
    last_key = [0.0]
    collector = IdleCollector(lambda: last_key[0], every=0.0, quiet=3600.0, force_after=3600.0)
    saved = gc.get_threshold()
    collector.start()
    try:
        assert gc.get_threshold()[2] == 1_000_000
        import time

        last_key[0] = time.monotonic()
        assert not collector.tick()  # a key was just pressed
        collector.quiet = 0.0
        assert collector.tick()
    finally:
        collector.stop()
    assert gc.get_threshold() == saved


def test_an_answered_gate_reads_answered_with_its_answer_in_the_live_stream() -> None:
    """Issue 13: a gate answered "reject" showed as "approved" in the events stream."""
    from switchboard.console.formatting import event_summary
    from switchboard.engine.models import Event

    gate = Event(seq=1, event_type="approval.decided", timestamp=0.0, run_id="run_1",
                 payload={"approval_id": "approval_1", "kind": "gate", "status": "approved",
                          "decided_by": "op", "response": {"decision": "reject"}})
    line = event_summary(gate)
    assert "approved" not in line and "answered" in line and "decision: reject" in line
    task = Event(seq=2, event_type="approval.decided", timestamp=0.0, task_id="task_1",
                 payload={"approval_id": "approval_2", "kind": "task", "status": "rejected",
                          "decided_by": "op", "rejection_reason": "too risky"})
    assert "rejected" in event_summary(task) and "too risky" in event_summary(task)
