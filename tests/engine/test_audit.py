"""engine.audit: rows commit with the change, the chain verifies, any edit is found."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from switchboard.engine.actors import Actor
from switchboard.engine.audit import GENESIS, AuditQuery, record
from switchboard.engine.engine import Engine
from switchboard.engine.store.base import Tx
from tests.conftest import make_config

ALICE = Actor("alice", "user", "jwt", "req-1")


async def _append(engine: Engine, n: int) -> None:
    def op(tx: Tx) -> None:
        for i in range(n):
            record(tx, ALICE, "task.cancel", "task", f"task_{i}",
                   before={"status": "assigned"}, after={"status": "cancelled"},
                   reason=f"reason {i} ünïcode")
    await engine.store.write(op)


async def test_rows_chain_and_verify(engine: Engine) -> None:
    assert (await engine.audit.head()) == (0, GENESIS)
    await _append(engine, 3)
    rows = await engine.audit.list(AuditQuery())
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == GENESIS and rows[1].prev_hash == rows[0].hash
    assert rows[0].as_dict()["before"] == {"status": "assigned"}
    assert rows[0].request_id == "req-1" and rows[0].auth_method == "jwt"
    result = await engine.audit.verify()
    assert result.ok and result.rows == 3
    assert (await engine.audit.head()) == (3, rows[2].hash)


async def test_a_failed_change_leaves_no_row(engine: Engine) -> None:
    def op(tx: Tx) -> None:
        record(tx, ALICE, "task.cancel", "task", "t")
        raise RuntimeError("the change failed")
    with pytest.raises(RuntimeError):
        await engine.store.write(op)
    assert await engine.audit.list(AuditQuery()) == []


async def test_filters(engine: Engine) -> None:
    await _append(engine, 5)
    assert [r.object_id for r in await engine.audit.list(AuditQuery(object_id="task_2"))] == [
        "task_2"]
    assert len(await engine.audit.list(AuditQuery(action="task."))) == 5
    assert len(await engine.audit.list(AuditQuery(action="task"))) == 0
    assert len(await engine.audit.list(AuditQuery(principal="bob"))) == 0
    assert [r.seq for r in await engine.audit.list(AuditQuery(after_seq=3, limit=1))] == [4]


@pytest.mark.both_stores
async def test_the_table_refuses_update_and_delete(engine: Engine) -> None:
    await _append(engine, 1)

    refused = (sqlite3.IntegrityError if engine.store.kind == "sqlite"
               else __import__("asyncpg").exceptions.RaiseError)

    def tamper(tx: Tx) -> None:
        tx.execute("UPDATE audit_log SET reason = 'x'")
    with pytest.raises(refused, match="append-only"):
        await engine.store.write(tamper)

    def remove(tx: Tx) -> None:
        tx.execute("DELETE FROM audit_log")
    with pytest.raises(refused, match="append-only"):
        await engine.store.write(remove)


async def test_flipping_one_byte_in_the_file_is_found(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    async with Engine(config, run_maintenance=False) as eng:
        await _append(eng, 4)
    raw = bytearray(config.db_path.read_bytes())
    at = raw.find(b"reason 2 ")
    assert at > 0
    raw[at + 7] = ord("9")  # "reason 2" -> "reason 9", same length: a silent edit
    config.db_path.write_bytes(bytes(raw))
    async with Engine(config, run_maintenance=False) as eng:
        result = await eng.audit.verify()
    assert not result.ok and result.broken_seq == 3 and "altered" in (result.problem or "")
