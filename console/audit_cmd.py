"""``switchboard audit export`` and ``switchboard audit verify``: the audit log from the shell.

Why they read the database file directly, read-only, instead of asking the API: the audit
trail must be checkable by someone who does not trust the running server (or when it is
down), and an export of a long log should not go through a rate-limited API page by page.
SQLite's WAL lets a read-only connection read a consistent snapshot while a server writes
to the same file; each command reads inside one read transaction, so the rows it exports or
verifies are exactly the log as of one instant, however long it takes.

Errors about the file (missing, not SQLite, not Switchboard's, too old) are one line on
stderr with exit status 2; a broken chain is a finding, printed on stdout with status 1.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sqlite3
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Final, Literal

from switchboard.engine.audit import AuditEntry, AuditQuery, iter_all_rows, query_entries, verify_rows
from switchboard.engine.store.base import ReadConn
from switchboard.engine.store.sqlite import read_conn

BATCH: Final = 1000
"""Rows fetched per query while exporting: bounded memory for any length of log."""

CSV_COLUMNS: Final = ("seq", "at", "timestamp", "principal", "role", "auth_method", "action",
                      "object_type", "object_id", "before", "after", "reason", "request_id",
                      "prev_hash", "hash")

Format = Literal["jsonl", "csv"]


class AuditCommandError(Exception):
    """A problem with the database file itself; the message is the whole story."""


@contextlib.contextmanager
def snapshot(db_path: Path) -> Iterator[ReadConn]:
    """A read-only connection to a Switchboard database, inside one read transaction."""
    if not db_path.is_file():
        raise AuditCommandError(
            f"no database at {db_path} (pass --data-dir or --config for the server's data)")
    try:
        conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True,
                               isolation_level=None)
    except sqlite3.Error as exc:
        raise AuditCommandError(f"cannot open {db_path}: {exc}") from None
    try:
        conn.execute("PRAGMA query_only=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("BEGIN")
        _check_schema(conn, db_path)
        yield read_conn(conn)
    except sqlite3.DatabaseError as exc:
        raise AuditCommandError(f"cannot read {db_path}: {exc}") from None
    finally:
        conn.close()


def _check_schema(conn: sqlite3.Connection, db_path: Path) -> None:
    try:
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise AuditCommandError(f"{db_path} is not a SQLite database ({exc})") from None
    if "schema_version" not in tables:
        raise AuditCommandError(f"{db_path} is not a Switchboard database")
    if "audit_log" not in tables:
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        raise AuditCommandError(
            f"{db_path} has no audit log yet (schema version {row[0] if row else 0}); start"
            " this version of Switchboard on it once to upgrade it")


# -- export -------------------------------------------------------------------------------


def iter_entries(conn: ReadConn, since: float | None, until: float | None,
                 batch: int = BATCH) -> Iterator[AuditEntry]:
    """Every row in the time window, in seq order, ``batch`` rows per query."""
    after = 0
    while True:
        rows = query_entries(conn, AuditQuery(since=since, until=until, after_seq=after,
                                              limit=batch))
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].seq


def _csv_row(entry: AuditEntry) -> list[Any]:
    """Stored values; ``before``/``after`` as the JSON text the hash covers."""
    out = entry.as_dict()
    out["before"], out["after"] = entry.before, entry.after
    return ["" if out[column] is None else out[column] for column in CSV_COLUMNS]


def write_entries(entries: Iterator[AuditEntry], fmt: Format, out: IO[str]) -> int:
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for entry in entries:
            writer.writerow(_csv_row(entry))
            count += 1
    else:
        for entry in entries:
            out.write(json.dumps(entry.as_dict(), ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
            count += 1
    return count


def export(db_path: Path, fmt: Format, *, since: float | None = None,
           until: float | None = None, output: Path | None = None) -> int:
    """Write the log (or a time window of it) as JSON lines or CSV; returns the row count.

    To a file: written beside it and renamed at the end, so a failed export never leaves a
    half-written file that looks complete.
    """
    with snapshot(db_path) as conn:
        entries = iter_entries(conn, since, until)
        if output is None:
            return write_entries(entries, fmt, sys.stdout)
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                count = write_entries(entries, fmt, out)
            os.replace(tmp, output)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return count


# -- verify -------------------------------------------------------------------------------


def verify(db_path: Path, out: IO[str]) -> int:
    """Recompute the chain; print the verdict; 0 when whole, 1 at the first broken row."""
    last_read = [0]

    def rows(conn: ReadConn) -> Iterator[Sequence[Any]]:
        for row in iter_all_rows(conn):
            last_read[0] = row[0]
            yield row

    with snapshot(db_path) as conn:
        try:
            result = verify_rows(rows(conn))
        except sqlite3.DatabaseError as exc:  # a damaged page: the chain cannot be checked
            out.write(f"broken after row {last_read[0]}: the file cannot be read there"
                      f" ({exc})\n")
            return 1
    if result.ok:
        out.write(f"ok: {result.rows} rows, head {result.head_seq} {result.head_hash}\n")
        return 0
    where = f"row {result.broken_seq}" if result.broken_seq is not None else "a row"
    out.write(f"broken at {where}: {result.problem}\n"
              f"rows 1..{result.head_seq} verify; last good head {result.head_seq}"
              f" {result.head_hash}\n")
    return 1
