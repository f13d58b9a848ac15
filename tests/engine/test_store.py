"""The SQLite store: migrations, group commit, op isolation, durability settings."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from switchboard.engine.store.sqlite import SQLiteStore, StoreClosed


async def test_migrations_applied_once(tmp_path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    await store.close()
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    version = await store.read(lambda c: c.fetchone("SELECT COUNT(*), MAX(version) FROM schema_version"))
    from switchboard.engine.store.migrations import MIGRATIONS

    assert version == (len(MIGRATIONS), len(MIGRATIONS))
    assert await store.integrity_check() == "ok"
    await store.close()
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_group_commit_batches_concurrent_writes(tmp_path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()

    def insert(i: int):
        def op(tx):
            tx.execute("INSERT INTO counters (name, value) VALUES (?, ?)", (f"c{i}", i))
            return i
        return op

    results = await asyncio.gather(*(store.write(insert(i)) for i in range(500)))
    assert results == list(range(500))
    assert store.commits < 100  # 500 ops shared far fewer commits
    count = await store.read(lambda c: c.fetchone("SELECT COUNT(*) FROM counters"))
    assert count == (500,)
    await store.close()


async def test_failing_op_does_not_undo_neighbours(tmp_path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()

    def good(tx):
        tx.execute("INSERT INTO counters VALUES ('good', 1)")

    def bad(tx):
        tx.execute("INSERT INTO counters VALUES ('bad', 1)")
        raise ValueError("nope")

    results = await asyncio.gather(store.write(good), store.write(bad), return_exceptions=True)
    assert results[0] is None and isinstance(results[1], ValueError)
    rows = await store.read(lambda c: c.fetchall("SELECT name FROM counters"))
    assert rows == [("good",)]
    await store.close()


async def test_a_cancelled_writer_hears_of_its_committed_result(tmp_path) -> None:
    """The op is queued before its caller is cancelled, so it commits all the same; the
    caller's ``on_abandoned`` gets the result (and not when the op itself failed)."""
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    abandoned: list[object] = []

    def insert(tx):
        tx.execute("INSERT INTO counters VALUES ('kept', 1)")
        return "the result"

    def fail(tx):
        raise ValueError("nope")

    for op in (insert, fail):
        job = asyncio.create_task(store.write(op, on_abandoned=abandoned.append))
        await asyncio.sleep(0)  # queued
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
    for _ in range(100):
        if abandoned:
            break
        await asyncio.sleep(0.01)
    await store.write(lambda tx: None)  # every earlier batch is delivered by now
    assert abandoned == ["the result"]
    rows = await store.read(lambda c: c.fetchall("SELECT name FROM counters"))
    assert rows == [("kept",)]
    await store.close()


async def test_events_only_delivered_after_commit(tmp_path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    delivered = []
    store.set_event_sink(lambda events: delivered.extend(events))
    await store.open()

    def bad(tx):
        tx.emit("x.happened", {"a": 1})
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await store.write(bad)
    assert delivered == []
    await store.write(lambda tx: tx.emit("y.happened"))
    assert [e.event_type for e in delivered] == ["y.happened"]
    await store.close()


async def test_write_after_close_refused(tmp_path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    await store.close()
    with pytest.raises(StoreClosed):
        await store.write(lambda tx: None)


async def test_synchronous_full_by_default(tmp_path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    assert store.synchronous == "FULL"
    await store.close()


async def test_savepoint_undoes_its_rows_events_and_callbacks(tmp_path) -> None:
    """A nested step that fails (an approval's timeout answer refused, then rejected
    instead) leaves nothing behind: not its rows, and not its events or after-commit
    callbacks either (they were kept before, so subscribers could hear of rolled-back
    changes)."""
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    delivered: list[str] = []
    store.set_event_sink(lambda events: delivered.extend(e.event_type for e in events))
    called: list[str] = []

    def op(tx):
        tx.emit("outer.before")
        with pytest.raises(ValueError), tx.savepoint():
            tx.execute("INSERT INTO counters VALUES ('inner', 1)")
            tx.emit("inner.undone")
            tx.after_commit(lambda: called.append("inner"))
            raise ValueError("refused")
        with tx.savepoint():
            tx.execute("INSERT INTO counters VALUES ('kept', 1)")
            tx.emit("inner.kept")
        tx.after_commit(lambda: called.append("outer"))

    await store.write(op)
    rows = await store.read(lambda c: c.fetchall("SELECT name FROM counters"))
    assert rows == [("kept",)]
    assert delivered == ["outer.before", "inner.kept"] and called == ["outer"]
    seqs = await store.read(lambda c: c.fetchall("SELECT event_type FROM events ORDER BY seq"))
    assert [r[0] for r in seqs] == ["outer.before", "inner.kept"]
    await store.close()


async def test_a_read_op_sees_one_snapshot(tmp_path) -> None:
    """Every statement of one read op reads the same commit, even while writes land
    between them (the views' one consistent read)."""
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    await store.write(lambda tx: tx.execute("INSERT INTO counters VALUES ('n', 0)"))
    wrote = asyncio.Event()
    loop = asyncio.get_running_loop()

    def read(conn):
        first = conn.fetchone("SELECT value FROM counters WHERE name = 'n'")
        asyncio.run_coroutine_threadsafe(bump(), loop).result(timeout=10)
        second = conn.fetchone("SELECT value FROM counters WHERE name = 'n'")
        return first, second

    async def bump():
        await store.write(lambda tx: tx.execute(
            "UPDATE counters SET value = value + 1 WHERE name = 'n'"))
        wrote.set()

    first, second = await store.read(read)
    assert wrote.is_set() and first == second == (0,)
    assert await store.read(lambda c: c.fetchone("SELECT value FROM counters")) == (1,)
    await store.close()


async def test_replayable_ops_fail_alone_and_leave_no_seq_gap(tmp_path) -> None:
    """Replayable ops run without a savepoint each; when one of them fails, the batch is
    rolled back and run again op by op: the others commit once (not twice), the failing one
    alone is undone, and the events that commit have gapless seqs in emit order."""
    from switchboard.engine.store.base import replayable

    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    runs: list[str] = []
    delivered: list[int] = []
    store.set_event_sink(lambda events: delivered.extend(e.seq for e in events))

    def insert(name: str, fail: bool = False):
        def op(tx):
            runs.append(name)
            tx.execute("INSERT INTO counters VALUES (?, 1)", (name,))
            event = tx.emit("test.one", {"name": name})
            if fail:
                raise ValueError("nope")
            return event.seq
        return replayable(op)

    started, release = threading.Event(), threading.Event()

    def hold(tx):  # keeps the writer busy until the three below are queued: one batch
        started.set()
        release.wait(10)

    held = asyncio.ensure_future(store.write(hold))
    assert await asyncio.to_thread(started.wait, 10)
    ops = [insert("a"), insert("b", fail=True), insert("c")]
    jobs = [asyncio.ensure_future(store.write(op)) for op in ops]
    await asyncio.sleep(0)  # each job puts its op on the queue
    release.set()
    await held
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert isinstance(results[1], ValueError)
    assert results[2] == results[0] + 1  # b's number went back
    rows = await store.read(lambda c: c.fetchall("SELECT name FROM counters ORDER BY name"))
    assert rows == [("a",), ("c",)]
    events = await store.read(lambda c: c.fetchall(
        "SELECT seq, json_extract(payload, '$.name') FROM events ORDER BY seq"))
    assert events == [(results[0], "a"), (results[2], "c")]
    assert delivered == [results[0], results[2]]
    assert store._replays == 1 and runs == ["a", "b", "a", "b", "c"]
    await store.close()


async def test_event_seqs_continue_after_restart_and_pruning(tmp_path) -> None:
    """The writer numbers events itself: after a restart it goes on after the highest seq
    ever used, even when every event was pruned (a client's Last-Event-ID stays valid)."""
    path = tmp_path / "db.sqlite"
    store = SQLiteStore(path)
    await store.open()
    seqs = await asyncio.gather(*(store.write(lambda tx: tx.emit("test.one").seq)
                                  for _ in range(150)))  # more than one multi-row chunk
    assert sorted(seqs) == list(range(1, 151))
    stored = await store.read(lambda c: c.fetchall("SELECT seq FROM events ORDER BY seq"))
    assert [s for (s,) in stored] == list(range(1, 151))
    await store.write(lambda tx: tx.execute("DELETE FROM events"))
    await store.close()
    store = SQLiteStore(path)
    await store.open()
    assert await store.write(lambda tx: tx.emit("test.two").seq) == 151
    await store.close()


async def test_a_failed_commit_hands_its_seqs_back(tmp_path) -> None:
    """A batch whose event rows cannot be written (here a seq already taken) commits
    nothing; every op in it fails and the next batch reuses the numbers."""
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    first = await store.write(lambda tx: tx.emit("test.one").seq)

    def clash(tx):  # takes the next seq behind the writer's back
        tx.execute("INSERT INTO events (seq, event_type, timestamp, payload) "
                   "VALUES (?, 'x', 0, '{}')", (first + 1,))
        return tx.emit("test.two").seq

    with pytest.raises(StoreClosed):
        await store.write(clash)
    assert await store.read(lambda c: c.fetchone("SELECT COUNT(*) FROM events")) == (1,)
    assert await store.write(lambda tx: tx.emit("test.three").seq) == first + 1
    await store.close()


async def test_quick_check_skipped_only_after_a_clean_close_of_an_untouched_file(
        tmp_path) -> None:
    """A clean close marks the file; the next start skips quick_check only if the file is
    exactly as that close left it. Bytes written into it right after the close (the same
    clock tick) are still caught; the mark is used up by the start that reads it (a crash
    after that start leaves none, so the next start checks)."""
    from switchboard.engine.errors import StartupError
    from switchboard.engine.store.sqlite import clean_mark_path

    path = tmp_path / "db.sqlite"
    store = SQLiteStore(path)
    await store.open()
    assert store.checked_at_start  # a new file: no mark
    await store.write(lambda tx: [tx.execute("INSERT INTO counters VALUES (?, 1)", (f"c{i}",))
                                  for i in range(200)])
    await store.close()
    assert clean_mark_path(path).exists()
    store = SQLiteStore(path)
    await store.open()
    assert not store.checked_at_start and not clean_mark_path(path).exists()
    await store.close()
    conn = sqlite3.connect(path)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'counters'").fetchone()[0]
    conn.close()
    with path.open("r+b") as file:  # damage, at once, keeping the size
        file.seek((root - 1) * 4096 + 12)
        file.write(b"\xff\xee" * 40)
    with pytest.raises(StartupError, match="is damaged"):
        await SQLiteStore(path).open()
