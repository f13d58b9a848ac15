"""The PostgreSQL store (asyncpg): several ``switchboard serve`` replicas on one database.

The same interface as the SQLite store (``engine.store.base``) and the same named queries
(``postgres.sql``): services cannot tell them apart. How it keeps the SQLite store's
guarantees when several processes write at once:

- **Group commit per replica.** One writer connection runs every op queued while the
  previous commit was in flight in one transaction (READ COMMITTED), each op in a
  savepoint, so one failing op does not undo its neighbours. Ops are plain functions; they
  run on the loop in a greenlet (``engine.store.bridge``) and each statement is awaited.
  An op that meets a deadlock or serialization failure is rolled back to its savepoint and
  run again (up to ``RETRIES`` times); ops are pure functions of the transaction.
- **Claims** lock what they pick (``FOR UPDATE SKIP LOCKED`` on the ready queue, the
  agent's slot row ``FOR UPDATE``): replicas claiming at once take different tasks.
- **Events.** Seqs are handed out in commit order: an op's ``emit`` only buffers its
  event; at the end of the batch, just before ``COMMIT``, the writer takes a transaction
  advisory lock (the events lock), draws a block of seqs, runs the emit hooks and
  ``Tx.numbered`` callbacks (which need the seqs), inserts the batch's events in one
  statement and commits. So when a reader sees seq N committed, every lower seq has
  committed or never will, and a reader after seq N (the bus, an SSE resume on any
  replica) never skips an event that commits later with a lower id. The lock is held for
  that last step only, so replicas run their ops at once and queue only to number and
  commit; why this cannot deadlock is in ``_write_events``.
- **Every replica's bus sees every event, once, in seq order.** After a local commit the
  replica publishes its own events directly when they follow the last seq it published;
  otherwise (another replica committed in between) it reads the gap from the table. A
  committing batch sends one ``NOTIFY`` (a coalesced hint, never one per row); one
  listening connection per replica wakes its follower, which also polls every
  ``poll_seconds`` (<= 1 s) so a transaction-mode pooler that drops notifications still
  works.
- **One leader per job** (``lead``): a session advisory lock on the store's own control
  connection; a replica that dies loses it with its connection, and the next replica that
  asks takes it over.

Schema: the migrations of ``engine.store.migrations`` (the same version sequence as
SQLite), applied under an advisory lock so replicas starting together migrate once.
``?schema=NAME`` in the URL puts every table in that schema (created if missing): tests
give each test its own, and lock keys and the notify channel are namespaced by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import msgspec

from switchboard.engine.clock import Clock, SystemClock
from switchboard.engine.errors import StartupError, StorageFailure
from switchboard.engine.models import Event
from switchboard.engine.store.base import EmitHook, ReadConn, ReadOp, Store, WriteOp
from switchboard.engine.store.bridge import await_, run_sync
from switchboard.engine.store.migrations import MIGRATIONS, statements
from switchboard.engine.store.queries import NO_PARAMS, F, Many, Params, Q, QuerySet, Row, positional
from switchboard.engine.store.queries import load as load_queries

log = logging.getLogger("switchboard.store")

QUERIES: Final[Path] = Path(__file__).with_name("postgres.sql")
RETRIES: Final = 5
_encode = msgspec.json.Encoder().encode
_decode_payload = msgspec.json.Decoder(dict[str, Any]).decode
_STOP = object()
_RETRYABLE = (asyncpg.exceptions.DeadlockDetectedError,
              asyncpg.exceptions.SerializationError)
_LOCK_NAMES: Final = ("events", "audit", "migrate")
"""Advisory lock keys the query file and the store use (``:lock_<name>``), per schema."""


class StoreClosed(RuntimeError):
    """The store is closed; the change was not made."""


@dataclass(frozen=True)
class PgTarget:
    """Where the store lives: a DSN for asyncpg and the schema its tables are in."""

    dsn: str
    schema: str

    @property
    def display(self) -> str:
        """The URL without a password (for logs and health)."""
        parts = urlsplit(self.dsn)
        host = parts.hostname or ""
        netloc = (f"{parts.username}@" if parts.username else "") + host + (
            f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, "", "")) + (
            f"?schema={self.schema}" if self.schema != "public" else "")


def parse_url(url: str) -> PgTarget:
    """``postgresql://user[:password]@host[:port]/db[?schema=NAME&...]``: ``schema`` is ours,
    other query parameters go to asyncpg as they are."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise StartupError(f"not a PostgreSQL URL: {url!r} (postgresql://user@host:5432/db)")
    query = parse_qsl(parts.query)
    schema = next((v for k, v in query if k == "schema"), "public")
    if not schema.replace("_", "").isalnum():
        raise StartupError(f"schema {schema!r} in the store URL: letters, digits and _ only")
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return PgTarget(urlunsplit((parts.scheme, parts.netloc, parts.path, rest, "")), schema)


def lock_key(schema: str, name: str) -> int:
    """A 64-bit advisory lock key for ``name`` in ``schema`` (different schemas of one
    database, such as tests running side by side, never share a lock; run ids hash apart)."""
    digest = hashlib.blake2b(f"{schema}\0{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def storage_failure(exc: BaseException, target: PgTarget) -> StorageFailure | None:
    """The ``StorageFailure`` an exception from asyncpg stands for, or None if it is the
    op's own (a constraint, a bug in a statement)."""
    if isinstance(exc, StorageFailure):
        return exc
    where = target.display
    if isinstance(exc, asyncpg.exceptions.DiskFullError):
        return StorageFailure("full", f"PostgreSQL's disk is full ({where}): writes are "
                              f"refused until space is freed there (postgres: {exc})")
    if isinstance(exc, asyncpg.exceptions.ReadOnlySQLTransactionError):
        return StorageFailure("readonly", f"PostgreSQL refuses writes ({where}): is this a "
                              f"standby? point the store at the primary (postgres: {exc})")
    if isinstance(exc, asyncpg.exceptions.DataCorruptedError | asyncpg.exceptions.IndexCorruptedError):
        return StorageFailure("corrupt", f"PostgreSQL reports damage ({where}): {exc}")
    if isinstance(exc, OSError | asyncpg.exceptions.ConnectionDoesNotExistError
                  | asyncpg.exceptions.PostgresConnectionError
                  | asyncpg.exceptions.OperatorInterventionError
                  | asyncpg.exceptions.InsufficientResourcesError
                  | asyncpg.exceptions.InterfaceError):
        return StorageFailure("io", f"cannot reach PostgreSQL at {where}: writes are refused "
                              f"until it answers again ({type(exc).__name__}: {exc})")
    return None


@dataclass(frozen=True, slots=True)
class _Prepared:
    preludes: tuple[tuple[str, Callable[[Params], tuple[Any, ...]]], ...]
    sql: str
    bind: Callable[[Params], tuple[Any, ...]]


def _binder(names: tuple[str, ...]) -> Callable[[Params], tuple[Any, ...]]:
    if not names:
        return lambda params: ()
    if len(names) == 1:
        name = names[0]
        return lambda params: (_arg(params[name]),)
    return lambda params: tuple(_arg(params[n]) for n in names)


def _arg(value: Any) -> Any:
    """Services hand JSON as bytes (msgspec's output; SQLite stores it as it is): text
    here (the one binary column, the webhook body, converts it back in its statement)."""
    if isinstance(value, bytes):
        return value.decode()
    return list(value) if isinstance(value, Many) else value


LOCKED_IN_WRITES: Final = frozenset({Q.task_by_id, Q.approval_by_id, Q.run_doc, Q.agent_by_id,
                                     Q.session_by_id, Q.webhook_by_id})
"""Point reads that a write op runs before changing the row it read (check, then update):
inside a write they take the row lock (``FOR UPDATE``), so under READ COMMITTED two
replicas deciding one gate, completing one task or saving one run are serialized and the
second sees the first's result (a gate answered on two replicas at once resumes its run
once). Read ops run them without the lock."""


class _Statements:
    """Named query -> prepared text per ``{where}`` variant, lock keys filled in."""

    __slots__ = ("_locks", "_prepared", "_set")

    def __init__(self, query_set: QuerySet, schema: str) -> None:
        self._set = query_set
        self._locks = {f"lock_{name}": str(lock_key(schema, name)) for name in _LOCK_NAMES}
        self._prepared: dict[tuple[Q, tuple[F, ...], bool], _Prepared] = {}

    def get(self, query: Q, where: Sequence[F], for_update: bool = False) -> _Prepared:
        key = (query, where if isinstance(where, tuple) else tuple(where), for_update)
        found = self._prepared.get(key)
        if found is None:
            text = self._set.compose(query, key[1])
            if for_update:
                text += " FOR UPDATE"
            for name, value in self._locks.items():
                text = text.replace(f":{name}", value)
            parts = [p.strip() for p in text.split(";") if p.strip()]
            prepared = [positional(part, lambda n: f"${n}") for part in parts]
            preludes = tuple((sql, _binder(names)) for sql, names in prepared[:-1])
            sql, names = prepared[-1]
            found = self._prepared[key] = _Prepared(preludes, sql, _binder(names))
        return found


def queries() -> QuerySet:
    """The PostgreSQL store's named queries (``postgres.sql``), loaded and checked."""
    return load_queries(QUERIES)


class _ReadConn:
    """A connection handed to read ops; statements are awaited through the bridge.

    ``fetchone``/``fetchall``/``execute`` take raw SQL (``$n`` markers) for this store's
    own checks and tests; services are typed against the protocol (named queries only)."""

    __slots__ = ("_conn", "_sql")

    def __init__(self, conn: asyncpg.Connection, statements: _Statements) -> None:
        self._conn = conn
        self._sql = statements

    def _preludes(self, prepared: _Prepared, params: Params) -> None:
        for sql, bind in prepared.preludes:
            await_(self._conn.execute(sql, *bind(params)))

    _locks = False  # a write transaction's reads lock what they check (LOCKED_IN_WRITES)

    def one(self, query: Q, params: Params = NO_PARAMS, *,
            where: Sequence[F] = ()) -> Row | None:
        prepared = self._sql.get(query, where, self._locks and query in LOCKED_IN_WRITES)
        if prepared.preludes:
            self._preludes(prepared, params)
        record = await_(self._conn.fetchrow(prepared.sql, *prepared.bind(params)))
        return None if record is None else tuple(record)

    def all(self, query: Q, params: Params = NO_PARAMS, *,
            where: Sequence[F] = ()) -> list[Row]:
        prepared = self._sql.get(query, where, self._locks and query in LOCKED_IN_WRITES)
        if prepared.preludes:
            self._preludes(prepared, params)
        records = await_(self._conn.fetch(prepared.sql, *prepared.bind(params)))
        return [tuple(r) for r in records]

    def execute(self, sql: str, *args: Any) -> str:
        return str(await_(self._conn.execute(sql, *args)))

    def fetchone(self, sql: str, *args: Any) -> Row | None:
        record = await_(self._conn.fetchrow(sql, *args))
        return None if record is None else tuple(record)

    def fetchall(self, sql: str, *args: Any) -> list[Row]:
        return [tuple(r) for r in await_(self._conn.fetch(sql, *args))]


def _rowcount(status: str) -> int:
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class _Tx(_ReadConn):
    """The write context handed to ops (see ``engine.store.base.Tx``)."""

    __slots__ = ("_callbacks", "_events", "_hooks", "_numbered", "_payloads", "_savepoints",
                 "now")
    _locks = True

    def __init__(self, conn: asyncpg.Connection, now: float, statements: _Statements,
                 hooks: Sequence[EmitHook]) -> None:
        super().__init__(conn, statements)
        self.now = now
        self._events: list[Event] = []
        self._payloads: list[str] = []  # encoded at emit: what the op emitted, then
        self._callbacks: list[Callable[[], object]] = []
        self._numbered: list[Callable[[], object]] = []
        self._hooks = hooks
        self._savepoints = 0

    def run(self, query: Q, params: Params = NO_PARAMS, *, where: Sequence[F] = ()) -> int:
        prepared = self._sql.get(query, where)
        if prepared.preludes:
            self._preludes(prepared, params)
        return _rowcount(await_(self._conn.execute(prepared.sql, *prepared.bind(params))))

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        self._savepoints += 1
        name = f"nested{self._savepoints}"
        events, callbacks, numbered = len(self._events), len(self._callbacks), len(self._numbered)
        await_(self._conn.execute(f"SAVEPOINT {name}"))
        try:
            yield
        except BaseException:
            await_(self._conn.execute(f"ROLLBACK TO {name}; RELEASE {name}"))
            del self._events[events:], self._payloads[events:]
            del self._callbacks[callbacks:], self._numbered[numbered:]
            raise
        await_(self._conn.execute(f"RELEASE {name}"))

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
        # numbered (seq, hooks) and written with the batch's other events just before its
        # COMMIT, under the events lock (PostgresStore._number)
        body = payload or {}
        event = Event(
            seq=0, event_type=event_type, timestamp=self.now, source_agent=source_agent,
            payload=body, task_id=task_id, run_id=run_id, agent_id=agent_id,
            trace_id=trace_id, priority=priority,
        )
        self._events.append(event)
        self._payloads.append(_encode(body).decode())
        return event

    def after_commit(self, callback: Callable[[], object]) -> None:
        self._callbacks.append(callback)

    def numbered(self, callback: Callable[[], object]) -> None:
        self._numbered.append(callback)


def _event_from_row(row: Row) -> Event:
    return Event(seq=int(row[0]), event_type=row[1], timestamp=row[2], source_agent=row[3],
                 payload=_decode_payload(row[4]), task_id=row[5], run_id=row[6],
                 agent_id=row[7], trace_id=row[8], priority=row[9])


def _in_snapshot(op: ReadOp[Any], conn: _ReadConn) -> Any:
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        return op(conn)
    finally:
        conn.execute("COMMIT")


def _number(txs: list[_Tx], first: int) -> None:
    """Give the batch's events the seqs they were inserted under (from ``first``, in emit
    order), then run what waited for them: the emit hooks, then each op's ``numbered``
    callbacks (in a greenlet: they run statements)."""
    seq = first
    for tx in txs:
        for event in tx._events:
            event.seq = seq
            seq += 1
    for tx in txs:
        for event in list(tx._events):
            for hook in tx._hooks:
                hook(tx, event)
        for callback in tx._numbered:
            callback()


_Item = tuple[WriteOp[Any], "asyncio.Future[Any]", "Callable[[Any], None] | None"]
_Outcome = tuple["asyncio.Future[Any]", bool, Any, "_Tx | None", "Callable[[Any], None] | None"]


class PostgresStore(Store):
    """PostgreSQL through asyncpg; ``url`` as in ``parse_url``."""

    kind = "postgres"
    shared = True

    def __init__(self, url: str, *, max_batch: int = 512, readers: int = 4,
                 clock: Clock | None = None, poll_seconds: float = 0.5) -> None:
        self.target = parse_url(url)
        self.location = self.target.display
        self.max_batch = max_batch
        self.clock = clock or SystemClock()
        self.poll_seconds = min(poll_seconds, 1.0)
        self._reader_count = readers
        self._statements = _Statements(queries(), self.target.schema)  # checks the file
        self.channel = f"switchboard_events_{self.target.schema}"
        self._begin = "BEGIN; SAVEPOINT op"
        self._audit_lock = f"SELECT pg_advisory_xact_lock({lock_key(self.target.schema, 'audit')})"
        self._reserve = ""  # needs the events sequence's name: set by open
        self._pool: asyncpg.Pool | None = None
        self._writer: asyncpg.Connection | None = None
        self._control: asyncpg.Connection | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._writer_task: asyncio.Task[None] | None = None
        self._follower_task: asyncio.Task[None] | None = None
        self._hint = asyncio.Event()
        self._follow_lock = asyncio.Lock()
        self._control_lock = asyncio.Lock()
        self._published = 0
        self._leading: set[str] = set()
        self._sink: Callable[[list[Event]], None] = lambda events: None
        self._emit_hooks: list[EmitHook] = []
        self._closed = True
        self.commits = 0
        self.ops_committed = 0
        self.retries = 0
        self.write_failure: StorageFailure | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def _connect(self) -> asyncpg.Connection:
        conn: asyncpg.Connection = await asyncpg.connect(
            self.target.dsn, statement_cache_size=1024,
            server_settings={"search_path": self.target.schema,
                             "application_name": "switchboard"})
        return conn

    async def open(self) -> None:
        """Connect, migrate (once across replicas) and start the writer and follower.

        Raises StartupError (one line: where and the fix) when PostgreSQL cannot be
        reached or its schema is newer than this code."""
        try:
            self._control = await self._connect()
        except (OSError, asyncpg.PostgresError, asyncpg.exceptions.InterfaceError) as exc:
            raise StartupError(f"cannot connect to PostgreSQL at {self.target.display}: {exc}; "
                               "check the [storage] url (or --store) and that the server "
                               "is running (pg_isready)") from None
        try:
            await self._migrate(self._control)
            self._pool = await asyncpg.create_pool(
                self.target.dsn, min_size=1, max_size=self._reader_count,
                statement_cache_size=1024, reset=_reset_reader,
                server_settings={"search_path": self.target.schema,
                                 "application_name": "switchboard"})
            self._writer = await self._connect()
            await self._control.add_listener(self.channel, self._on_notify)
            self._published = int(await self._control.fetchval("SELECT COALESCE(MAX(seq), 0) "
                                                               "FROM events") or 0)
            sequence = str(await self._control.fetchval(
                "SELECT pg_get_serial_sequence('events', 'seq')")).replace("'", "''")
            # one statement: the events lock, a block of seqs for the batch's events (OFFSET 0
            # keeps the lock's subquery from being flattened: it runs before nextval), the
            # events inserted under them; it answers the block's first seq
            self._reserve = (
                "WITH reserved AS MATERIALIZED ("
                f"SELECT setval('{sequence}', nextval('{sequence}') + $1 - 1) - $1 AS base "
                f"FROM (SELECT pg_advisory_xact_lock({lock_key(self.target.schema, 'events')}) "
                "OFFSET 0) AS serialized), "
                "inserted AS (INSERT INTO events (seq, event_type, timestamp, source_agent, "
                "payload, task_id, run_id, agent_id, trace_id, priority) "
                "SELECT reserved.base + e.n, e.event_type, e.timestamp, e.source_agent, "
                "e.payload, e.task_id, e.run_id, e.agent_id, e.trace_id, e.priority "
                "FROM reserved, unnest($2::text[], $3::float8[], $4::text[], $5::text[], "
                "$6::text[], $7::text[], $8::text[], $9::text[], $10::text[]) WITH ORDINALITY "
                "AS e(event_type, timestamp, source_agent, payload, task_id, run_id, agent_id, "
                "trace_id, priority, n)) "
                "SELECT base + 1 FROM reserved")
        except BaseException:
            await self._close_connections()
            raise
        self._closed = False
        self._writer_task = asyncio.create_task(self._run_writer(), name="switchboard-pg-writer")
        self._follower_task = asyncio.create_task(self._follow_loop(),
                                                  name="switchboard-pg-follower")

    async def _migrate(self, conn: asyncpg.Connection) -> None:
        schema = self.target.schema
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key(schema, "migrate"))
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version "
                               "(version BIGINT NOT NULL)")
            current = int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) "
                                              "FROM schema_version"))
            if current > len(MIGRATIONS):
                raise StartupError(
                    f"{self.target.display} has schema version {current}, newer than this "
                    f"Switchboard understands ({len(MIGRATIONS)}): run the Switchboard "
                    "version that wrote it")
            for version, script in enumerate(MIGRATIONS, start=1):
                if version <= current:
                    continue
                for statement in statements(script, "postgres"):
                    await conn.execute(statement)
                await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
                log.info("applied schema migration %d (postgres)", version)

    async def schema_version(self) -> int:
        row = await self.read(lambda c: _raw(c).fetchone(
            "SELECT COALESCE(MAX(version), 0) FROM schema_version"))
        return int(row[0]) if row else 0

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put_nowait(_STOP)
        if self._writer_task is not None:
            await self._writer_task
        if self._follower_task is not None:
            self._follower_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower_task
        await self._close_connections()

    async def _close_connections(self) -> None:
        for conn in (self._writer, self._control):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 5)
        self._writer = self._control = None
        self._leading.clear()
        if self._pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pool.close(), 5)
            self._pool = None

    def set_event_sink(self, sink: Callable[[list[Event]], None]) -> None:
        self._sink = sink

    def add_emit_hook(self, hook: EmitHook) -> None:
        self._emit_hooks.append(hook)

    # -- writes ----------------------------------------------------------------------------
    async def write(self, op: WriteOp[Any], *,
                    on_abandoned: Callable[[Any], None] | None = None) -> Any:
        if self._closed:
            raise StoreClosed("the store is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((op, future, on_abandoned))
        return await future

    async def _run_writer(self) -> None:
        stop = False
        while not stop:
            first = await self._queue.get()
            if first is _STOP:
                break
            batch: list[_Item] = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            try:
                await self._commit_batch(batch)
            except Exception:  # never let the writer die: every caller hears of it
                log.exception("postgres writer: batch of %d failed", len(batch))
                for _, future, _ in batch:
                    if not future.done():
                        future.set_exception(StoreClosed("the store's writer failed"))

    async def _writer_conn(self) -> asyncpg.Connection:
        if self._writer is None or self._writer.is_closed():
            self._writer = await self._connect()
        return self._writer

    async def _commit_batch(self, batch: list[_Item]) -> None:
        outcomes: list[_Outcome] = []
        now = self.clock.now()
        try:
            conn = await self._writer_conn()
            await conn.execute(self._begin)
            for index, (op, future, on_abandoned) in enumerate(batch):
                if index:
                    await conn.execute("RELEASE op; SAVEPOINT op")
                for attempt in range(RETRIES + 1):
                    tx = _Tx(conn, now, self._statements, self._emit_hooks)
                    try:
                        result = await run_sync(op, tx)
                    except _RETRYABLE:
                        await conn.execute("ROLLBACK TO op")
                        if attempt == RETRIES:
                            raise
                        self.retries += 1
                        continue
                    except BaseException as exc:
                        if storage_failure(exc, self.target) is not None:
                            raise
                        await conn.execute("ROLLBACK TO op")
                        outcomes.append((future, False, exc, None, None))
                    else:
                        outcomes.append((future, True, result, tx, on_abandoned))
                    break
            ending = [tx for _, ok, _, tx, _ in outcomes
                      if ok and tx is not None and (tx._events or tx._numbered)]
            if ending:
                await self._write_events(conn, ending)
            emitted = any(tx._events for tx in ending)
            notify = f"; NOTIFY {self.channel}" if emitted else ""
            await conn.execute(f"RELEASE op{notify}; COMMIT")
        except BaseException as exc:
            storage = storage_failure(exc, self.target)
            failure: BaseException
            if storage is None:
                log.exception("group commit of %d ops failed", len(batch))
                failure = StoreClosed(f"commit failed: {exc}")
            else:
                self.write_failure = failure = storage
                log.error("%d writes refused: %s", len(batch), storage)
            if self._writer is not None and not self._writer.is_closed():
                try:
                    await self._writer.execute("ROLLBACK")
                except Exception:  # a broken connection: start afresh on the next batch
                    self._writer.terminate()
                    self._writer = None
            outcomes = [(future, False, failure, None, None) for _, future, _ in batch]
            if not isinstance(exc, Exception):
                self._resolve(outcomes)
                raise
        else:
            if self.write_failure is not None:
                log.warning("writes succeed again (after: %s)", self.write_failure.kind)
                self.write_failure = None
        self.commits += 1
        self.ops_committed += len(batch)
        await self._deliver(outcomes)

    async def _write_events(self, conn: asyncpg.Connection, txs: list[_Tx]) -> None:
        """Number the batch's events and insert them, the last step before COMMIT.

        The events lock is taken here and held to COMMIT, so seqs are handed out in commit
        order across replicas (a reader that sees seq N committed will never see a lower
        seq commit later) and without gaps (only lock holders draw from the sequence). It is
        held for one statement (lock, seqs, INSERT), the hooks and the COMMIT, not while the
        batch's ops run: other replicas' batches run their ops meanwhile and queue only here.

        Why this cannot deadlock (it did when the lock was taken at a batch's first emit): a
        deadlock needs the lock's holder to wait for something that a waiter for the lock
        holds. After taking it a batch only draws seqs (a sequence: no waiting on other
        transactions), inserts its events under them (no unique-key wait: no other
        transaction can hold those seqs), runs the emit hooks and ``numbered`` callbacks
        and commits. Those callbacks only insert rows: the webhook outbox (no foreign keys)
        and audit rows (``engine.audit.record`` defers its row to here; the audit lock is
        taken *before* the events lock when any callback is queued, so the order is always
        audit then events, and no op takes the audit lock mid-batch, which would recreate
        the same deadlock with it). The NOTIFY queue lock at commit is taken only by batches
        holding the events lock, so by one at a time. Every row lock a batch's ops wanted
        was taken before it asked for the lock: a batch waiting for the lock holds row locks
        that no holder of the lock will ask for."""
        count = sum(len(tx._events) for tx in txs)
        if any(tx._numbered for tx in txs):
            await conn.execute(self._audit_lock)
        first = 0
        if count:
            columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [], [])
            for tx in txs:
                for event, payload in zip(tx._events, tx._payloads, strict=True):
                    for column, value in zip(columns, (
                            event.event_type, event.timestamp, event.source_agent, payload,
                            event.task_id, event.run_id, event.agent_id, event.trace_id,
                            event.priority), strict=True):
                        column.append(value)
            first = int(await conn.fetchval(self._reserve, count, *columns))
        await run_sync(_number, txs, first)

    async def _deliver(self, outcomes: list[_Outcome]) -> None:
        events: list[Event] = []
        callbacks: list[Callable[[], object]] = []
        for _, ok, _, tx, _ in outcomes:
            if ok and tx is not None:
                events.extend(tx._events)
                callbacks.extend(tx._callbacks)
        if events:
            try:
                await self._publish_local(events)
            except Exception:
                log.exception("publishing committed events failed")
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("after-commit callback failed")
        self._resolve(outcomes)

    @staticmethod
    def _resolve(outcomes: list[_Outcome]) -> None:
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

    # -- events across replicas ------------------------------------------------------------
    def _emit(self, events: list[Event]) -> None:
        if not events:
            return
        self._published = events[-1].seq
        try:
            self._sink(events)
        except Exception:
            log.exception("event sink failed")

    async def _publish_local(self, events: list[Event]) -> None:
        """This replica's committed events: straight to the bus when they follow the last
        published seq without a gap; else the gap is read from the table (another replica
        committed in between, or an op that emitted was rolled back)."""
        async with self._follow_lock:
            fresh = [e for e in events if e.seq > self._published]
            if not fresh:
                return
            if all(e.seq == self._published + i for i, e in enumerate(fresh, start=1)):
                self._emit(fresh)
                return
            await self._catch_up()

    async def _catch_up(self) -> None:
        """Publish every committed event after the last published seq, in seq order."""
        page = 1000
        while True:
            params = {"types": Many(()), "words": Many(()), "after": self._published,
                      "before": 2**62, "limit": page}
            rows = await self.read(partial(_all_events, params=params), inline=True)
            self._emit([_event_from_row(r) for r in rows])
            if len(rows) < page:
                return

    def _on_notify(self, connection: object, pid: int, channel: str, payload: object) -> None:
        """A hint from a committing batch; this replica's own are skipped (its events
        were published after its commit: reading the table again would find nothing new
        and cost a read per batch)."""
        writer = self._writer
        if writer is not None and not writer.is_closed() and writer.get_server_pid() == pid:
            return
        self._hint.set()

    async def _follow_loop(self) -> None:
        """Other replicas' events: on a NOTIFY hint, and every ``poll_seconds`` regardless."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hint.wait(), self.poll_seconds)
            self._hint.clear()
            try:
                async with self._follow_lock:
                    await self._catch_up()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("following events failed (retrying): %s", exc)

    # -- reads -----------------------------------------------------------------------------
    async def read(self, op: ReadOp[Any], *, inline: bool = False, single: bool = False) -> Any:
        """Run a read op on a pooled connection, in one REPEATABLE READ READ ONLY
        transaction (one snapshot). ``inline`` (a point lookup of one statement) skips the
        transaction: one statement is one snapshot already (``single`` says the same)."""
        if self._pool is None or self._closed:
            raise StoreClosed("the store is closed")
        try:
            async with self._pool.acquire() as conn:
                wrapped = _ReadConn(conn, self._statements)
                if inline or single:
                    return await run_sync(op, wrapped)
                return await run_sync(_in_snapshot, op, wrapped)
        except (OSError, asyncpg.PostgresError, asyncpg.exceptions.InterfaceError) as exc:
            failure = storage_failure(exc, self.target)
            if failure is None:
                raise
            raise failure from exc

    async def ping(self) -> float:
        started = time.perf_counter()
        await self.read(lambda c: c.one(Q.event_last_seq), inline=True)
        return round((time.perf_counter() - started) * 1000.0, 3)

    async def integrity_check(self) -> str:
        """PostgreSQL checks its own pages; here: every migration applied, schema readable."""
        version = await self.schema_version()
        if version != len(MIGRATIONS):
            return f"schema version {version}, expected {len(MIGRATIONS)}"
        return "ok"

    # -- leadership ------------------------------------------------------------------------
    async def lead(self, role: str) -> bool:
        """Whether this replica runs the one-per-cluster job ``role`` (a session advisory
        lock on the control connection: released when this process or its connection
        dies, and then taken by the next replica that asks)."""
        if self._closed:
            return False
        async with self._control_lock:
            try:
                if self._control is None or self._control.is_closed():
                    self._leading.clear()
                    self._control = await self._connect()
                    await self._control.add_listener(self.channel, self._on_notify)
                if role in self._leading:
                    await self._control.fetchval("SELECT 1")  # still connected: still held
                    return True
                if await self._control.fetchval("SELECT pg_try_advisory_lock($1)",
                                                lock_key(self.target.schema, f"lead:{role}")):
                    self._leading.add(role)
                    log.info("this replica now runs %s", role)
                    return True
                return False
            except Exception as exc:  # any failure of the connection: the lock is not ours
                log.warning("lost the control connection (%s): not leading %s", exc, role)
                self._leading.clear()
                if self._control is not None:
                    self._control.terminate()
                    self._control = None
                return False

    async def resign(self, role: str) -> None:
        async with self._control_lock:
            if role not in self._leading:
                return
            self._leading.discard(role)
            control = self._control
            if control is None or control.is_closed():
                return
            with contextlib.suppress(Exception):  # a lost connection released it already
                await control.execute("SELECT pg_advisory_unlock($1)",
                                      lock_key(self.target.schema, f"lead:{role}"))

    def pool_stats(self) -> dict[str, int]:
        """Figures for /metrics: the read pool's size, ceiling and idle connections, queued
        writes, retried ops (deadlocks, serialization failures) and whether this replica
        leads maintenance."""
        pool = self._pool
        return {"pool_size": pool.get_size() if pool else 0,
                "pool_max": pool.get_max_size() if pool else 0,
                "pool_idle": pool.get_idle_size() if pool else 0,
                "write_queue": self._queue.qsize(),
                "write_retries": self.retries,
                "leads_maintenance": int("maintenance" in self._leading)}


async def _reset_reader(conn: asyncpg.Connection) -> None:
    """Before a read connection goes back to the pool: only an interrupted read's open
    transaction needs undoing. Reads take no locks, LISTEN nothing and set nothing, so
    asyncpg's default reset (unlock all, close all, unlisten, reset all: one round trip
    per read) has nothing to do."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def _all_events(conn: ReadConn, params: Params) -> list[Row]:
    return conn.all(Q.event_after, params)


def _raw(conn: Any) -> _ReadConn:
    assert isinstance(conn, _ReadConn)
    return conn
