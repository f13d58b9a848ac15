"""Kill -9 an engine process mid-load; everything it acknowledged must be there afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from switchboard.engine.clock import ManualClock
from switchboard.engine.engine import Engine
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parents[2]


def _run_child_until(data_dir: Path, acks: int) -> list[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.engine.crash_child", str(data_dir)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    try:
        assert proc.stdout.readline().strip() == "READY"
        while len(lines) < acks and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # a partial last line may have been cut by the kill: only whole lines were acknowledged
    return [line for line in lines if len(line.split()) == 2]


async def test_sigkill_loses_nothing_acknowledged(tmp_path: Path) -> None:
    lines = _run_child_until(tmp_path, acks=1500)
    tasks = {line.split()[1] for line in lines if line.startswith("T ")}
    approvals = {line.split()[1] for line in lines if line.startswith("A ")}
    leased = {line.split()[1] for line in lines if line.startswith("L ")}
    assert len(tasks) >= 1000 and approvals and leased

    clock = ManualClock(time.time())
    engine = Engine(make_config(tmp_path), clock=clock, run_maintenance=False)
    await engine.start()
    try:
        assert await engine.store.integrity_check() == "ok"

        def read(conn):
            return ({r[0] for r in conn.fetchall("SELECT id FROM tasks")},
                    {r[0] for r in conn.fetchall(
                        "SELECT approval_id FROM approvals WHERE status='approved'")})

        stored_tasks, approved = await engine.store.read(read)
        assert tasks <= stored_tasks
        assert approvals <= approved
        # leased tasks come back to the queue once their lease runs out
        for task_id in leased:
            assert (await engine.tasks.get(task_id)).status in ("in_progress", "completed")
        clock.advance(engine.config.tasks.lease_seconds + 1)
        await engine.run_maintenance_once()
        for task_id in leased:
            task = await engine.tasks.get(task_id)
            assert task.status == "assigned" and task.claimed_by is None
    finally:
        await engine.stop()
