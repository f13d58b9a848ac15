"""The embedded SQLite store: WAL, one writer thread with group commit, pooled readers.

Why a writer thread of our own instead of aiosqlite for writes: aiosqlite runs one call per
queue hop, so every change would pay its own COMMIT (and fsync). Here every op queued while
the previous commit was syncing runs in the next transaction, each inside a SAVEPOINT so one
failing op does not undo its neighbours, and one fsync acknowledges them all. Reads go through
aiosqlite connections in WAL mode, so they never wait for the writer.

Storage failures are classified (``storage_failure``): a full disk, a read-only or failing
file, a damaged database become ``StorageFailure`` (507/503 with a detail for the operator)
instead of a generic 500. A storage failure inside any op aborts the whole batch (SQLite may
already have rolled the transaction back, so later ops would otherwise run in autocommit);
every caller in it gets the failure, nothing in it is acknowledged. ``write_failure`` holds
the last one until a commit succeeds again (``/health`` shows it as ``degraded``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import json
import logging
import os
import queue
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any, Final

import aiosqlite
import msgspec

from switchboard.engine.clock import Clock, SystemClock
from switchboard.engine.errors import StartupError, StorageFailure
from switchboard.engine.models import Event
from switchboard.engine.store.base import (
    EmitHook,
    ReadConn,
    ReadOp,
    Store,
    WriteOp,
    is_replayable,
)
from switchboard.engine.store.migrations import MIGRATIONS, statements
from switchboard.engine.store.queries import (
    NO_PARAMS,
    F,
    Many,
    Params,
    Q,
    QuerySet,
    Row,
    positional,
)
from switchboard.engine.store.queries import load as load_queries

log = logging.getLogger("switchboard.store")

_json_encode = msgspec.json.Encoder().encode
_STOP = object()
# (caller's future, committed?, result or error, the op's transaction, on_abandoned)
_Outcome = tuple["asyncio.Future[Any]", bool, Any, "_Tx | None", "Callable[[Any], None] | None"]


class StoreClosed(RuntimeError):
    """The store is closed; the change was not made."""


# SQLite primary result codes (the low byte of the extended code) -> StorageFailure kind.
_KINDS: dict[int, str] = {13: "full", 8: "readonly", 10: "io", 14: "io", 11: "corrupt",
                          26: "corrupt"}
_DETAILS: dict[str, str] = {
    "full": "the data folder is full ({folder}): writes are refused until space is freed "
            "there, then resume by themselves",
    "readonly": "the database is read-only ({path}): writes are refused; check the file's "
                "owner and permissions and that its file system is mounted read-write",
    "io": "I/O error on the database ({path}): writes are refused; check the disk (dmesg) "
          "and the file system",
    "corrupt": "the database is damaged ({path}): stop the server, run `switchboard db "
               "check`, and restore a backup with `switchboard db restore`",
}


SQLITE_HEADER = b"SQLite format 3\x00"
StartupCheck = str  # "quick" (PRAGMA quick_check), "full" (integrity_check) or "off"


def lock_path(path: Path) -> Path:
    """The lock file beside a database: held (``flock``) by the process that has it open."""
    return path.with_name(path.name + ".lock")


def hold_lock(path: Path) -> int:
    """Take the database's process lock; return its file descriptor (close it to release).

    Why: one process writes a store (the group-commit writer assumes it), and ``switchboard db
    restore`` must not replace a database under a running server. The kernel drops an
    ``flock`` when its process dies, even by SIGKILL, so a crash leaves no stale lock.
    Raises StartupError naming the holder's pid.
    """
    lock = lock_path(path)
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StartupError(f"cannot create the lock file {lock}: {exc.strerror or exc}; "
                           "check the data folder's permissions") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StartupError(f"{path} is in use by another Switchboard process (pid {holder}); "
                           "stop it first, or use another --data-dir") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def check_database_file(path: Path) -> None:
    """Refuse, with one line naming the path and the fix, a file that cannot be our database:
    not a regular file, unreadable, or not SQLite. A missing or empty file is a new database."""
    if not path.exists():
        return
    if not path.is_file():
        raise StartupError(f"{path} is not a file; move it away or choose another --data-dir")
    try:
        with path.open("rb") as file:
            head = file.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StartupError(f"cannot read the database {path}: {exc.strerror or exc}; fix its "
                           f"owner or permissions (this process runs as uid {os.getuid()})") from None
    if head and head != SQLITE_HEADER:
        raise StartupError(f"{path} is not an SQLite database (it starts with {head[:16]!r}); "
                           "move it away, or restore a backup: switchboard db restore FILE")


def integrity_problems(conn: sqlite3.Connection, check: StartupCheck = "full",
                       limit: int = 100) -> list[str]:
    """SQLite's own check (``quick``: quick_check, ``full``: integrity_check) as a list of
    problem lines; empty when the database is intact. A check that cannot even run (the
    schema itself is unreadable) is one problem line."""
    pragma = "integrity_check" if check == "full" else "quick_check"
    rows: list[str] = []
    for attempt in (limit, 10, 1):  # a check that goes far enough may hit damage it cannot
        try:                          # step over ("malformed"): report what a shorter one saw
            rows = [str(row[0]) for row in conn.execute(f"PRAGMA {pragma}({attempt})")]
            break
        except sqlite3.DatabaseError as exc:
            rows = [f"{pragma} could not run: {exc}"]
    if rows == ["ok"]:
        return []
    return [line for row in rows for line in row.splitlines()
            if line.strip() and not line.startswith("*** in database")]


def clean_mark_path(path: Path) -> Path:
    """The mark a clean close leaves beside a database (see ``mark_clean``)."""
    return path.with_name(path.name + ".clean")


def mark_clean(path: Path) -> bool:
    """After the last connection closed cleanly: remember the file exactly as it is now, so
    the next start may skip ``quick_check`` (O(size): seconds on a store of millions of
    rows) when nothing has touched the file since.

    The file's mtime is set to a value no later write will produce (its sub-millisecond
    digits drawn at random): any change to the file afterwards, even within the same clock
    tick (a restore, a copy over it, a tool writing bytes into it), moves the mtime and the
    mark no longer matches. Not marked while a WAL is left (the close did not checkpoint).
    Returns True if marked."""
    wal = path.with_name(path.name + "-wal")
    try:
        if wal.exists() and wal.stat().st_size > 0:
            return False
        stat = path.stat()
        mtime = stat.st_mtime_ns // 1_000_000 * 1_000_000 + secrets.randbelow(999_999) + 1
        os.utime(path, ns=(stat.st_atime_ns, mtime))
        stat = path.stat()
        clean_mark_path(path).write_text(json.dumps(
            {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ino": stat.st_ino}))
        return True
    except OSError as exc:
        log.debug("no clean-close mark for %s: %s", path, exc)
        return False


def take_clean_mark(path: Path) -> bool:
    """True if the last close was clean and the file is exactly as it left it; the mark is
    removed either way (a crash from here on leaves none, so the next start checks)."""
    mark = clean_mark_path(path)
    try:
        recorded = json.loads(mark.read_text())
    except (OSError, ValueError):
        return False
    with contextlib.suppress(OSError):
        mark.unlink()
    wal = path.with_name(path.name + "-wal")
    try:
        stat = path.stat()
        if wal.exists() and wal.stat().st_size > 0:
            return False
    except OSError:
        return False
    return bool(recorded == {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                             "ino": stat.st_ino})


def check_integrity(conn: sqlite3.Connection, path: Path, check: StartupCheck) -> None:
    """Run SQLite's own check (``quick`` or ``full``); StartupError if it finds damage."""
    if check == "off":
        return
    started = time.perf_counter()
    problems = integrity_problems(conn, check, limit=20)
    pragma = "integrity_check" if check == "full" else "quick_check"
    log.info("%s of %s: %s (%.0f ms)", pragma, path,
             f"{len(problems)} problem(s)" if problems else "ok",
             (time.perf_counter() - started) * 1000)
    if problems:
        more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        raise StartupError(
            f"{path} is damaged ({pragma}: {problems[0]}{more}); not starting on it: "
            "`switchboard db check` lists the damage; restore a backup with "
            "`switchboard db restore FILE`")


def storage_failure(exc: BaseException, path: Path) -> StorageFailure | None:
    """The ``StorageFailure`` an exception from SQLite stands for, or None if it is not one
    (a constraint, a bug in a statement: those stay the op's own failure)."""
    if isinstance(exc, StorageFailure):
        return exc
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    kind = _KINDS.get(code & 0xFF) if isinstance(code, int) else None
    if kind is None:
        return None
    detail = _DETAILS[kind].format(folder=path.parent, path=path)
    return StorageFailure(kind, f"{detail} (sqlite: {exc})")


QUERIES: Final[Path] = Path(__file__).with_name("sqlite.sql")


@functools.cache
def queries() -> QuerySet:
    """The SQLite store's named queries (``sqlite.sql``), loaded and checked once."""
    return load_queries(QUERIES)


class _Statements:
    """Named query -> this store's prepared text and binder, per ``{where}`` variant.

    Each statement is rewritten once from ``:name`` to numbered ``?n`` markers; a call binds
    its mapping with an ``itemgetter`` over the names (C speed, no per-call name lookups)."""

    __slots__ = ("_prepared", "_set")

    def __init__(self, query_set: QuerySet) -> None:
        self._set = query_set
        self._prepared: dict[tuple[Q, tuple[F, ...]], tuple[str, Callable[[Params], Any]]] = {}

    def get(self, query: Q, where: Sequence[F]) -> tuple[str, Callable[[Params], Any]]:
        key = (query, where if isinstance(where, tuple) else tuple(where))
        found = self._prepared.get(key)
        if found is None:
            sql, names = positional(self._set.compose(query, key[1]), lambda n: f"?{n}")
            if not names:
                binder: Callable[[Params], Any] = _no_params
            elif len(names) == 1:
                single = itemgetter(names[0])
                binder = lambda params: (single(params),)  # noqa: E731 - itemgetter of one name returns the value
            else:
                binder = itemgetter(*names)
            found = self._prepared[key] = (sql, binder)
        return found


def _no_params(params: Params) -> tuple[()]:
    return ()


def _bind_many(values: Many) -> str:
    return _json_encode(list(values)).decode()


sqlite3.register_adapter(Many, _bind_many)


class _ReadConn:
    """A read connection handed to read ops (see ``engine.store.base.ReadConn``).

    ``fetchone``/``fetchall``/``execute`` take raw SQL: for this store's own checks, tools
    that work on the file (``switchboard audit``, ``db``) and tests; services are typed
    against the protocol, which has only named queries."""

    __slots__ = ("_conn", "_sql")

    def __init__(self, conn: sqlite3.Connection, statements: _Statements | None = None) -> None:
        self._conn = conn
        self._sql = statements or _statements()

    def one(self, query: Q, params: Params = NO_PARAMS, *,
            where: Sequence[F] = ()) -> Row | None:
        sql, bind = self._sql.get(query, where)
        row: Row | None = self._conn.execute(sql, bind(params)).fetchone()
        return row

    def all(self, query: Q, params: Params = NO_PARAMS, *,
            where: Sequence[F] = ()) -> list[Row]:
        sql, bind = self._sql.get(query, where)
        rows: list[Row] = self._conn.execute(sql, bind(params)).fetchall()
        return rows

    def execute(self, sql: str, params: Sequence[Any] | Params = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def fetchone(self, sql: str, params: Sequence[Any] | Params = ()) -> Row | None:
        row: Row | None = self._conn.execute(sql, params).fetchone()
        return row

    def fetchall(self, sql: str, params: Sequence[Any] | Params = ()) -> list[Row]:
        rows: list[Row] = self._conn.execute(sql, params).fetchall()
        return rows


_EVENT_COLUMNS: Final = ("seq", "event_type", "timestamp", "source_agent", "payload",
                         "task_id", "run_id", "agent_id", "trace_id", "priority")
_EventRow = tuple[int, str, float, str | None, bytes, str | None, str | None, str | None,
                  str | None, str | None]


class _EventRows:
    """The writer's event sequence and the statements that write a group's events.

    Why: an event used to be its own INSERT (with AUTOINCREMENT's bookkeeping) the moment it
    was emitted, four per task cycle. The writer is the only one that writes (the process
    lock, one writer thread), so it can number events itself as they are emitted (an op and
    its hooks still see the seq at once) and write a whole group commit's events at its end
    in a few multi-row statements, inside the same transaction: durability is unchanged.
    An op that is undone hands its numbers back, so seqs stay gapless."""

    __slots__ = ("_head", "_row", "_sql", "next_seq")
    CHUNK: Final = 64

    def __init__(self, query_set: QuerySet) -> None:
        text = query_set.compose(Q.event_insert, ())
        split = text.upper().rindex("VALUES") + len("VALUES")
        self._head, self._row = text[:split], text[split:].strip()
        _, names = positional(self._row, str)
        if names != _EVENT_COLUMNS:
            raise ValueError(f"event_insert must bind {_EVENT_COLUMNS}, not {names}")
        self._sql: dict[int, str] = {}
        self.next_seq = 0

    def start(self, conn: sqlite3.Connection) -> None:
        """Continue after the highest seq ever used (pruned events' numbers are not reused)."""
        row = conn.execute(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),"
            " COALESCE((SELECT MAX(seq) FROM events), 0))").fetchone()
        self.next_seq = int(row[0]) + 1

    def _statement(self, count: int) -> str:
        sql = self._sql.get(count)
        if sql is None:
            width = len(_EVENT_COLUMNS)
            rows = ", ".join(
                positional(self._row, lambda n, k=k: f"?{k * width + n}")[0]  # type: ignore[misc]
                for k in range(count))
            sql = self._sql[count] = f"{self._head} {rows}"
        return sql

    def write(self, conn: sqlite3.Connection, rows: list[_EventRow]) -> None:
        """All of a group's events, in seq order: chunks of 64, then powers of two (so
        at most seven distinct statements stay prepared)."""
        start, total = 0, len(rows)
        while start < total:
            left = total - start
            count = self.CHUNK if left >= self.CHUNK else 1 << (left.bit_length() - 1)
            chunk = rows[start:start + count]
            conn.execute(self._statement(count), [v for row in chunk for v in row])
            start += count


class _Tx(_ReadConn):
    """The write context handed to ops (see ``engine.store.base.Tx``)."""

    __slots__ = ("_callbacks", "_events", "_hooks", "_rows", "_savepoints", "_seq", "now")

    def __init__(self, conn: sqlite3.Connection, now: float, statements: _Statements,
                 hooks: Sequence[EmitHook], seq: _EventRows) -> None:
        super().__init__(conn, statements)
        self.now = now
        self._events: list[Event] = []
        self._rows: list[_EventRow] = []
        self._callbacks: list[Callable[[], object]] = []
        self._hooks = hooks
        self._seq = seq
        self._savepoints = 0

    def run(self, query: Q, params: Params = NO_PARAMS, *, where: Sequence[F] = ()) -> int:
        sql, bind = self._sql.get(query, where)
        return self._conn.execute(sql, bind(params)).rowcount

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        self._savepoints += 1
        name = f"nested{self._savepoints}"
        events, callbacks, seq = len(self._events), len(self._callbacks), self._seq.next_seq
        self._conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._conn.execute(f"ROLLBACK TO {name}")
            self._conn.execute(f"RELEASE {name}")
            del self._events[events:], self._rows[events:], self._callbacks[callbacks:]
            self._seq.next_seq = seq
            raise
        self._conn.execute(f"RELEASE {name}")

    def emit(
        self,
        event_type: str,
        payload: dict[str, Any] | None = None,
        *,
        source_agent: str | None = None,
        task_id: str | None = None,
        run_id: str | None = None,
        agent_id: str | None = None,
        trace_id: str | None = None,
        priority: str | None = None,
    ) -> Event:
        body = payload or {}
        seq = self._seq.next_seq
        self._seq.next_seq = seq + 1
        now = self.now
        # written with the group's other events just before its COMMIT (_EventRows)
        self._rows.append((seq, event_type, now, source_agent, _json_encode(body), task_id,
                           run_id, agent_id, trace_id, priority))
        event = Event(
            seq=seq, event_type=event_type, timestamp=now, source_agent=source_agent,
            payload=body, task_id=task_id, run_id=run_id, agent_id=agent_id,
            trace_id=trace_id, priority=priority,
        )
        self._events.append(event)
        for hook in self._hooks:
            hook(self, event)
        return event

    def after_commit(self, callback: Callable[[], object]) -> None:
        self._callbacks.append(callback)

    def numbered(self, callback: Callable[[], object]) -> None:
        callback()  # seqs are handed out at emit here


@functools.cache
def _statements() -> _Statements:
    return _Statements(queries())


def _in_snapshot(conn: sqlite3.Connection, op: ReadOp[Any]) -> Any:
    """Run a read op inside one read transaction (WAL: a snapshot of the last commit)."""
    conn.execute("BEGIN")
    try:
        return op(_ReadConn(conn))
    finally:
        conn.execute("COMMIT")


def _raw(conn: ReadConn) -> _ReadConn:
    """This store's own connection behind the protocol (for its own checks in raw SQL)."""
    assert isinstance(conn, _ReadConn)
    return conn


def read_conn(conn: sqlite3.Connection) -> _ReadConn:
    """A ``ReadConn`` over a plain sqlite3 connection (tools that open the file themselves)."""
    return _ReadConn(conn)


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class SQLiteStore(Store):
    """SQLite in WAL mode. ``synchronous=FULL`` by default: a commit survives power loss."""

    kind = "sqlite"

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        max_batch: int = 512,
        readers: int = 2,
        clock: Clock | None = None,
        startup_check: StartupCheck = "quick",
    ) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.startup_check = startup_check
        self._lock_fd: int | None = None
        self.synchronous = synchronous
        self.max_batch = max_batch
        self.clock = clock or SystemClock()
        self._reader_count = readers
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._readers: asyncio.Queue[aiosqlite.Connection] | None = None
        self._reader_conns: list[aiosqlite.Connection] = []
        self._inline: sqlite3.Connection | None = None
        self._sink: Callable[[list[Event]], None] = lambda events: None
        self._emit_hooks: list[EmitHook] = []
        self._statements = _statements()  # loads and checks sqlite.sql: fail at construction
        self._event_rows = _EventRows(queries())
        self.checked_at_start = False  # quick_check/integrity_check ran at open
        self._replays = 0  # batches of replayable ops run again with savepoints (one failed)
        self._closed = True
        self.commits = 0
        self.ops_committed = 0
        self.write_failure: StorageFailure | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        """Check, lock and migrate the database, then start the writer and the readers.

        Raises StartupError (one line: the path and the fix) for a data folder that cannot
        be created, a database another process holds, a file that is not ours or cannot be
        read, a damaged database (``startup_check``: quick_check, or integrity_check when
        "full") and a schema newer than this code.
        """
        self._loop = asyncio.get_running_loop()
        writer = await asyncio.to_thread(self._prepare)
        self._thread = threading.Thread(
            target=self._run_writer, args=(writer,), name="switchboard-store-writer", daemon=True
        )
        self._thread.start()
        self._readers = asyncio.Queue()
        for _ in range(self._reader_count):
            conn = await aiosqlite.connect(str(self.path), isolation_level=None)
            await conn.execute("PRAGMA busy_timeout=10000")
            await conn.execute("PRAGMA query_only=ON")
            self._reader_conns.append(conn)
            self._readers.put_nowait(conn)
        self._inline = sqlite3.connect(str(self.path), isolation_level=None,
                                       check_same_thread=False)
        self._inline.execute("PRAGMA query_only=ON")
        self._closed = False

    def _prepare(self) -> sqlite3.Connection:
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupError(f"cannot create the data folder {folder}: {exc.strerror or exc}; "
                               "choose another with --data-dir ([storage] data_dir)") from None
        self._lock_fd = hold_lock(self.path)
        try:
            check_database_file(self.path)
            try:
                return self._open_writer()
            except sqlite3.Error as exc:
                failure = storage_failure(exc, self.path)
                reason = failure.detail if failure is not None else f"sqlite: {exc}"
                raise StartupError(f"cannot open the database {self.path}: {reason}") from None
        except BaseException:
            self._release_lock()
            raise

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    def _open_writer(self) -> sqlite3.Connection:
        check = self.startup_check
        if check == "quick" and take_clean_mark(self.path):
            log.info("%s was closed cleanly and not touched since: quick_check skipped",
                     self.path)
            check = "off"
        self.checked_at_start = check != "off"
        conn = _connect(self.path, self.synchronous)
        try:
            check_integrity(conn, self.path, check)
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        current = int(row[0] or 0)
        if current > len(MIGRATIONS):
            raise StartupError(
                f"{self.path} has schema version {current}, newer than this Switchboard "
                f"understands ({len(MIGRATIONS)}): run the Switchboard version that wrote it, "
                "or restore a backup taken before the upgrade: switchboard db restore FILE")
        for version, script in enumerate(MIGRATIONS, start=1):
            if version <= current:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in statements(script, "sqlite"):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                conn.execute("COMMIT")
            except Exception:
                conn.execute("ROLLBACK")
                raise
            log.info("applied schema migration %d", version)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        for conn in self._reader_conns:
            await conn.close()
        self._reader_conns.clear()
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        if self._clean_close():
            await asyncio.to_thread(mark_clean, self.path)
        self._release_lock()

    def _clean_close(self) -> bool:
        """Every connection closed and the last commit succeeded (no storage failure)."""
        return (self._thread is not None and not self._thread.is_alive()
                and self.write_failure is None)

    def set_event_sink(self, sink: Callable[[list[Event]], None]) -> None:
        self._sink = sink

    def add_emit_hook(self, hook: EmitHook) -> None:
        self._emit_hooks.append(hook)

    # -- writes ----------------------------------------------------------------------------
    async def write(self, op: WriteOp[Any], *,
                    on_abandoned: Callable[[Any], None] | None = None) -> Any:
        if self._closed:
            raise StoreClosed("the store is closed")
        assert self._loop is not None
        future: asyncio.Future[Any] = self._loop.create_future()
        self._queue.put((op, future, on_abandoned))
        return await future

    def _run_writer(self, conn: sqlite3.Connection) -> None:
        stop = False
        self._event_rows.start(conn)
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._commit_batch(conn, batch)
        conn.close()

    def _run_fast(self, conn: sqlite3.Connection, batch: list[Any],
                  now: float) -> list[_Outcome] | None:
        """Run a batch of replayable ops without a savepoint each (``base.replayable``).

        Returns their outcomes, the transaction still open; or None when one of them
        raised its own failure: everything is rolled back (seqs too) for ``_run_safe``.
        A storage failure propagates to the caller, as in ``_run_safe``."""
        outcomes: list[_Outcome] = []
        first_seq = self._event_rows.next_seq
        for op, future, on_abandoned in batch:
            tx = _Tx(conn, now, self._statements, self._emit_hooks, self._event_rows)
            try:
                result = op(tx)
            except BaseException as exc:
                if storage_failure(exc, self.path) is not None:
                    raise
                conn.execute("ROLLBACK")
                self._event_rows.next_seq = first_seq
                return None
            outcomes.append((future, True, result, tx, on_abandoned))
        return outcomes

    def _run_safe(self, conn: sqlite3.Connection, batch: list[Any],
                  now: float) -> list[_Outcome]:
        """Run a batch op by op, each inside its own savepoint: one op's failure undoes
        that op alone (its events and seqs too)."""
        outcomes: list[_Outcome] = []
        for op, future, on_abandoned in batch:
            tx = _Tx(conn, now, self._statements, self._emit_hooks, self._event_rows)
            seq = self._event_rows.next_seq
            conn.execute("SAVEPOINT op")
            try:
                result = op(tx)
            except BaseException as exc:  # the op's own failure: undo it alone
                if storage_failure(exc, self.path) is not None:
                    raise  # the storage's failure: the whole batch, in _commit_batch
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                self._event_rows.next_seq = seq
                outcomes.append((future, False, exc, None, None))
            else:
                conn.execute("RELEASE op")
                outcomes.append((future, True, result, tx, on_abandoned))
        return outcomes

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[Any]) -> None:
        outcomes: list[_Outcome] | None = None
        now = self.clock.now()
        first_seq = self._event_rows.next_seq
        try:
            conn.execute("BEGIN IMMEDIATE")
            if all(is_replayable(op) for op, _, _ in batch):
                outcomes = self._run_fast(conn, batch, now)
                if outcomes is None:  # one op failed: again, each under its own savepoint
                    self._replays += 1
                    conn.execute("BEGIN IMMEDIATE")
            if outcomes is None:
                outcomes = self._run_safe(conn, batch, now)
            rows = [row for _, ok, _, tx, _ in outcomes if ok and tx is not None
                    for row in tx._rows]
            if rows:
                self._event_rows.write(conn, rows)
            conn.execute("COMMIT")
        except BaseException as exc:  # the commit itself failed: nothing in the batch holds
            self._event_rows.next_seq = first_seq
            storage = storage_failure(exc, self.path)
            failure: BaseException
            if storage is None:
                log.exception("group commit of %d ops failed", len(batch))
                failure = StoreClosed(f"commit failed: {exc}")
            else:
                self.write_failure = failure = storage
                log.error("%d writes refused: %s", len(batch), storage)
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            outcomes = [(future, False, failure, None, None) for _, future, _ in batch]
        else:
            if self.write_failure is not None:
                log.warning("writes succeed again (after: %s)", self.write_failure.kind)
                self.write_failure = None
        self.commits += 1
        self.ops_committed += len(batch)
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._deliver, outcomes)
        except RuntimeError:  # loop closed during shutdown
            pass

    def _deliver(self, outcomes: list[_Outcome]) -> None:
        events: list[Event] = []
        callbacks: list[Callable[[], object]] = []
        for _, ok, _, tx, _ in outcomes:
            if ok and tx is not None:
                events.extend(tx._events)
                callbacks.extend(tx._callbacks)
        if events:
            try:
                self._sink(events)
            except Exception:
                log.exception("event sink failed")
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("after-commit callback failed")
        for future, ok, value, _, on_abandoned in outcomes:
            if future.done():  # its caller was cancelled: the op committed all the same
                if ok and on_abandoned is not None:
                    try:
                        on_abandoned(value)
                    except Exception:
                        log.exception("on_abandoned callback failed")
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    # -- reads -----------------------------------------------------------------------------
    async def read(self, op: ReadOp[Any], *, inline: bool = False, single: bool = False) -> Any:
        """Run a read. ``inline=True`` runs it on the event loop's own connection: for
        primary-key lookups (tens of microseconds), where a hop to a reader thread would
        cost more than the query. WAL readers never wait for the writer either way."""
        if self._readers is None or self._closed:
            raise StoreClosed("the store is closed")
        try:
            if inline and self._inline is not None:
                if single:  # autocommit: the statement's own read transaction is the snapshot
                    return op(_ReadConn(self._inline))
                return _in_snapshot(self._inline, op)
            conn = await self._readers.get()
            try:
                # aiosqlite's thread owns the sqlite3 connection; run the whole op there.
                raw = conn._conn
                return await conn._execute(  # type: ignore[no-untyped-call]  # aiosqlite's runner is untyped
                    lambda: _in_snapshot(raw, op))
            finally:
                self._readers.put_nowait(conn)
        except sqlite3.Error as exc:
            failure = storage_failure(exc, self.path)
            if failure is None:
                raise
            raise failure from exc

    async def ping(self) -> float:
        started = time.perf_counter()
        await self.read(lambda c: c.one(Q.event_last_seq))
        return round((time.perf_counter() - started) * 1000.0, 3)

    async def integrity_check(self) -> str:
        row = await self.read(lambda c: _raw(c).fetchone("PRAGMA integrity_check"))
        return str(row[0]) if row else "unknown"
