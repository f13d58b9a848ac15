"""``switchboard audit export|verify`` run as the real CLI, in a subprocess, against the
database file of a real engine (while its server runs, and after)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from switchboard.engine.actors import Actor
from switchboard.engine.audit import GENESIS, AuditQuery, canonical, chain_hash, record
from switchboard.engine.engine import Engine
from switchboard.engine.store.base import Tx
from switchboard.engine.tasks import TaskSpec
from tests.server.conftest import LiveApi, start_live_api

ROOT = Path(__file__).resolve().parents[2]
ALICE = Actor("alice", "user", "jwt", "req-1")
ADMIN = Actor("root", "admin", "api_key", "req-2")


async def cli(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SWITCHBOARD_CONFIG"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard.console.cli", "audit", *args, cwd=ROOT, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def audited_actions(engine: Engine) -> None:
    """Four audited actions: real changes (a task cancelled, a P1 approved), each with its
    audit row written in the same op the way the services write theirs."""
    task, _ = await engine.tasks.create(TaskSpec(type="bugfix", priority="P2"), ALICE)
    await engine.tasks.cancel(task.id, ALICE, reason="duplicate of #12")

    def cancel_row(tx: Tx) -> None:
        record(tx, ALICE, "task.cancel", "task", task.id, before={"status": "assigned"},
               after={"status": "cancelled"}, reason="duplicate of #12")
    await engine.store.write(cancel_row)

    p1, _ = await engine.tasks.create(TaskSpec(type="deployment", priority="P1"), ALICE)
    assert p1.approval_id
    approval_id = p1.approval_id
    await engine.approvals.approve(approval_id, ADMIN)

    def approve_rows(tx: Tx) -> None:
        record(tx, ADMIN, "approval.approve", "approval", approval_id,
               before={"status": "pending"}, after={"status": "approved"})
        record(tx, ADMIN, "token.mint", "token", "agent-7", after={"role": "agent"},
               reason="unïcode note, with a comma")
        record(tx, ALICE, "gate.answer", "approval", "approval_gate",
               after={"decision": "reject", "notes": "needs tests"}, reason="needs tests")
    await engine.store.write(approve_rows)


@pytest.fixture
async def live(tmp_path: Path) -> Any:
    api, runner = await start_live_api(tmp_path)
    try:
        yield api
    finally:
        await runner.cleanup()
        await api.engine.stop()


async def test_verify_and_export_while_the_server_runs(live: LiveApi, tmp_path: Path) -> None:
    engine = live.engine
    await audited_actions(engine)
    seq, digest = await engine.audit.head()
    existing = await engine.audit.list(AuditQuery(limit=1000))
    assert seq == len(existing) >= 4

    # the server keeps writing audit rows while the CLI reads the same file
    stop = asyncio.Event()

    async def keep_writing() -> int:
        n = 0
        while not stop.is_set():
            def op(tx: Tx, n: int = n) -> None:
                record(tx, ADMIN, "task.priority", "task", f"busy_{n}", after={"priority": "P1"})
            await engine.store.write(op)
            n += 1
            await asyncio.sleep(0.005)
        return n

    writer = asyncio.create_task(keep_writing())
    try:
        code, out, err = await cli("verify", "--data-dir", str(tmp_path))
        assert code == 0, err
        words = out.split()
        assert words[0] == "ok:" and words[2] == "rows," and words[3] == "head"
        rows, head_seq = int(words[1]), int(words[4])
        assert rows == head_seq >= seq  # a consistent snapshot: as many rows as its head
        assert out.strip().endswith(str(words[5])) and len(words[5]) == 64
        code, jsonl, err = await cli("export", "--format", "jsonl", "--data-dir", str(tmp_path))
        assert code == 0, err
    finally:
        stop.set()
        written = await writer
    assert written > 0

    exported = [json.loads(line) for line in jsonl.splitlines()]
    assert [r["seq"] for r in exported] == list(range(1, len(exported) + 1))
    assert exported[:seq] == [e.as_dict() for e in existing]
    assert exported[seq - 1]["hash"] == digest
    mint = next(r for r in exported if r["action"] == "token.mint")
    assert mint["reason"] == "unïcode note, with a comma" and mint["after"] == {"role": "agent"}

    code, text, err = await cli("export", "--format", "csv", "--data-dir", str(tmp_path))
    assert code == 0, err
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["seq", "at", "timestamp", "principal", "role", "auth_method", "action",
                        "object_type", "object_id", "before", "after", "reason", "request_id",
                        "prev_hash", "hash"]
    by_seq = {int(row[0]): dict(zip(table[0], row, strict=True)) for row in table[1:]}
    gate = next(r for r in by_seq.values() if r["action"] == "gate.answer")
    assert json.loads(gate["after"]) == {"decision": "reject", "notes": "needs tests"}
    assert gate["before"] == "" and gate["principal"] == "alice" and gate["auth_method"] == "jwt"
    # the CSV keeps the hashed text: the chain can be recomputed from the export alone
    prev = GENESIS
    for n in sorted(by_seq):
        row = by_seq[n]

        def opt(value: str) -> str | None:
            return value or None
        digest_n = chain_hash(prev, canonical(
            n, float(row["timestamp"]), row["principal"], row["role"], row["auth_method"],
            row["action"], row["object_type"], opt(row["object_id"]), opt(row["before"]),
            opt(row["after"]), opt(row["reason"]), opt(row["request_id"])))
        assert digest_n == row["hash"], n
        prev = digest_n


async def test_flipping_one_byte_of_an_audit_row_names_that_row(tmp_path: Path) -> None:
    """The issue's test: audited actions through a real engine, ``verify`` passes; one byte
    of one row changed in the file (same length) and ``verify`` exits 1 naming its seq."""
    api, runner = await start_live_api(tmp_path)
    try:
        await audited_actions(api.engine)
        rows = await api.engine.audit.list(AuditQuery())
    finally:
        await runner.cleanup()
        await api.engine.stop()
    target = next(r for r in rows if r.action == "gate.answer")
    code, out, err = await cli("verify", "--data-dir", str(tmp_path))
    assert (code, out) == (0, f"ok: {len(rows)} rows, head {rows[-1].seq} {rows[-1].hash}\n")

    db = tmp_path / "switchboard.db"
    raw = bytearray(db.read_bytes())
    at = raw.find(b'"needs tests"}')  # the row's stored after text, not its reason column
    assert at > 0 and raw.find(b'"needs tests"}', at + 1) < 0
    raw[at + 1] = ord("N")  # "needs" -> "Needs": one byte, same length
    db.write_bytes(bytes(raw))

    code, out, err = await cli("verify", "--data-dir", str(tmp_path))
    assert code == 1, (out, err)
    first = out.splitlines()[0]
    assert first.startswith(f"broken at row {target.seq}:") and "altered" in first
    assert f"last good head {target.seq - 1} {rows[target.seq - 2].hash}" in out
    assert "Traceback" not in err


async def test_export_window_to_a_file_and_a_config_file(tmp_path: Path) -> None:
    from switchboard.engine.clock import ManualClock, iso
    from tests.conftest import make_config

    clock = ManualClock(1_767_225_600.0)
    data = tmp_path / "data"
    async with Engine(make_config(data), clock=clock, run_maintenance=False) as engine:
        for n in range(5):
            def op(tx: Tx, n: int = n) -> None:
                record(tx, ALICE, "task.retry", "task", f"task_{n}")
            await engine.store.write(op)
            clock.advance(3600)
    config = tmp_path / "switchboard.toml"
    config.write_text(f'[storage]\ndata_dir = "{data}"\n', encoding="utf-8")
    target = tmp_path / "out" / "audit.csv"
    code, out, err = await cli("export", "--format", "csv", "--config", str(config),
                               "--since", "2026-01-01T01:00:00Z", "--until",
                               iso(1_767_225_600.0 + 3 * 3600) or "", "--output", str(target))
    assert code == 0, err
    assert out == "" and f"exported 2 audit rows to {target}" in err
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [line.split(",")[8] for line in lines] == ["object_id", "task_1", "task_2"]
    assert [p.name for p in target.parent.iterdir()] == ["audit.csv"]  # no temp file left

    code, out, err = await cli("export", "--config", str(config), "--since", "2026-01-01T04:00")
    assert code == 0 and [json.loads(x)["object_id"] for x in out.splitlines()] == ["task_4"]


def _old_schema(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (3)")
    conn.commit()
    conn.close()


def _other_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(("make", "says"), [
    (None, "no database at"),
    (lambda p: p.write_bytes(b"not a database at all, just some text" * 40),
     "is not a SQLite database"),
    (_other_sqlite, "is not a Switchboard database"),
    (_old_schema, "has no audit log yet (schema version 3)"),
], ids=["missing", "not-sqlite", "other-sqlite", "old-schema"])
@pytest.mark.parametrize("command", [["verify"], ["export", "--format", "csv"]])
async def test_a_bad_database_is_one_clear_line(tmp_path: Path, make: Any, says: str,
                                                command: list[str]) -> None:
    if make is not None:
        make(tmp_path / "switchboard.db")
    code, out, err = await cli(*command, "--data-dir", str(tmp_path))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and says in err, err
    assert err.startswith("switchboard: ")
    if make is not None:  # read-only: the file is left as it was
        assert not (tmp_path / "switchboard.db-journal").exists()


async def test_a_bad_time_is_refused_before_reading(tmp_path: Path) -> None:
    code, out, err = await cli("export", "--since", "last tuesday", "--data-dir", str(tmp_path))
    assert code == 2 and "--since must be an ISO-8601 time" in err and "Traceback" not in err
