"""``switchboard db check|backup|restore``: what an operator does with a database the server
refused, and how to have a copy before it comes to that.

- ``check`` runs SQLite's ``integrity_check`` (``--quick``: ``quick_check``) on a read-only
  connection and compares the schema version with this code's. Safe while a server runs.
- ``backup DEST`` copies the database with SQLite's online backup API: one step, so the copy
  is a consistent snapshot even while a server keeps writing (WAL readers never block the
  writer). The copy is checked and only then renamed to DEST.
- ``restore SOURCE`` checks SOURCE (SQLite, intact, a schema this code knows), takes the same
  lock a server holds while it runs (``flock`` on ``switchboard.db.lock``: it refuses while a
  server has the database; the kernel drops the lock when that process dies, so a crash
  leaves none), moves the current database and its WAL aside (never deleted), and copies
  SOURCE into place.

Exit codes: 0 done/ok, 1 the database is damaged or too new, 2 the command could not run
(bad path, not SQLite, in use). Every refusal is one line on stderr, never a traceback.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import cyclopts

from switchboard.engine.config import ConfigError, load_config
from switchboard.engine.errors import StartupError
from switchboard.engine.store.migrations import MIGRATIONS
from switchboard.engine.store.sqlite import check_database_file, hold_lock, integrity_problems

db_app = cyclopts.App(name="db", help="Check, back up and restore the database.")

ConfigOpt = Annotated[Path | None, cyclopts.Parameter(name="--config", help="TOML config file.")]
DataOpt = Annotated[Path | None, cyclopts.Parameter(name="--data-dir",
                                                    help="Folder of the database.")]


def _fail(message: str, code: int = 2) -> None:
    print(f"switchboard db: {message}", file=sys.stderr)
    raise SystemExit(code)


def _db_path(config: Path | None, data_dir: Path | None) -> Path:
    overrides: dict[str, dict[str, Any]] = {}
    if data_dir is not None:
        overrides["storage"] = {"data_dir": str(data_dir)}
    path = config or (Path(os.environ["SWITCHBOARD_CONFIG"])
                      if os.environ.get("SWITCHBOARD_CONFIG") else None)
    try:
        return load_config(path, overrides).db_path
    except ConfigError as exc:
        _fail(f"config error: {exc.source}: {exc.key}: {exc.reason}")
        raise  # unreachable


def _open_read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot write (``query_only``). Not SQLite's ``mode=ro``: that mode
    cannot run integrity_check on some damaged files at all, where this one lists the damage."""
    if not path.exists():
        _fail(f"no database at {path} (a server creates it at its first start)")
    try:
        check_database_file(path)
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA query_only=ON")
    except (StartupError, sqlite3.Error) as exc:
        _fail(str(exc))
        raise  # unreachable
    return conn


def _schema_version(conn: sqlite3.Connection) -> int:
    try:
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0] or 0) if row else 0


def _problems(conn: sqlite3.Connection, quick: bool = False) -> list[str]:
    return integrity_problems(conn, "quick" if quick else "full")


@db_app.command
def check(*, config: ConfigOpt = None, data_dir: DataOpt = None,
          quick: Annotated[bool, cyclopts.Parameter(help="quick_check instead of the full "
                                                         "integrity_check.")] = False) -> None:
    """Check the database: SQLite's integrity check and the schema version (read-only)."""
    path = _db_path(config, data_dir)
    conn = _open_read_only(path)
    try:
        problems = _problems(conn, quick)
        version = _schema_version(conn)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        problems, version, pages = problems or [f"unreadable: {exc}"], 0, 0
    finally:
        conn.close()
    known = len(MIGRATIONS)
    name = "quick_check" if quick else "integrity_check"
    if problems:
        print(f"damaged: {path}: {name} found {len(problems)} problem(s):")
        for line in problems[:20]:
            print(f"  {line}")
        print("restore a backup: switchboard db restore FILE", file=sys.stderr)
        raise SystemExit(1)
    if version > known:
        _fail(f"{path} has schema version {version}, newer than this Switchboard ({known}): "
              "run the version that wrote it", 1)
    print(f"ok: {path} (schema {version} of {known}, {pages} pages, {name} ok)")


@db_app.command
def backup(dest: Path, *, config: ConfigOpt = None, data_dir: DataOpt = None) -> None:
    """Copy the database to DEST (a new file), safely while a server is running."""
    path = _db_path(config, data_dir)
    if dest.exists():
        _fail(f"{dest} already exists; choose a new file name (nothing was written)")
    part = dest.with_name(dest.name + ".part")
    source = _open_read_only(path)
    try:
        target = sqlite3.connect(part)
        try:
            source.backup(target)  # one step: a consistent snapshot
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            problems = _problems(target, quick=True)
            version = _schema_version(target)
        finally:
            target.close()
    except (sqlite3.Error, OSError) as exc:
        part.unlink(missing_ok=True)
        _fail(f"backup of {path} to {dest} failed: {exc}")
        return
    finally:
        source.close()
    if problems:
        part.unlink(missing_ok=True)
        _fail(f"the copy of {path} is damaged ({problems[0]}): the database itself is; run "
              "`switchboard db check`", 1)
    os.replace(part, dest)
    print(f"backup written: {dest} ({dest.stat().st_size} bytes, schema {version}, "
          "quick_check ok)")


@db_app.command
def restore(source: Path, *, config: ConfigOpt = None, data_dir: DataOpt = None) -> None:
    """Replace the database with SOURCE (a backup); refused while a server holds it. The
    current database is moved aside, never deleted."""
    path = _db_path(config, data_dir)
    if not source.is_file():
        _fail(f"no backup file at {source}")
    src = _open_read_only(source)
    try:
        problems = _problems(src)
        version = _schema_version(src) if not problems else 0
    finally:
        src.close()
    if problems:
        _fail(f"{source} is damaged ({problems[0]}); choose another backup", 1)
    if version == 0:
        _fail(f"{source} is not a Switchboard database (no schema version); nothing was changed")
    if version > len(MIGRATIONS):
        _fail(f"{source} has schema version {version}, newer than this Switchboard "
              f"({len(MIGRATIONS)}); restore it with the version that wrote it", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        lock = hold_lock(path)
    except StartupError as exc:
        _fail(f"restore refused: {exc}")
        return
    try:
        aside = _move_aside(path)
        part = path.with_name(path.name + ".restoring")
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        target = sqlite3.connect(part)
        try:
            src.backup(target)
        finally:
            target.close()
            src.close()
        os.replace(part, path)
    finally:
        os.close(lock)
    kept = f"; the previous database is kept as {aside}" if aside else ""
    print(f"restored {path} from {source} (schema {version}){kept}")


def _move_aside(path: Path) -> Path | None:
    """Rename the database and its -wal/-shm to ``<name>.before-restore-<time>``."""
    if not path.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.before-restore-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        item = path.with_name(path.name + suffix)
        if item.exists():
            os.replace(item, aside.with_name(aside.name + suffix))
    return aside
