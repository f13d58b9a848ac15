"""A bad database or config at start, and ``switchboard db check|backup|restore``.

Every case runs the real CLI as a subprocess and reads what an operator reads: the exit code
and one line on stderr naming the path and the fix, never a traceback. Before: a foreign file
gave a raw traceback, a damaged tasks table let the server start and answer 500 everywhere,
a newer schema was accepted silently, a non-UTF-8 config gave a traceback.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from switchboard.engine.engine import Engine
from switchboard.engine.store.migrations import MIGRATIONS
from switchboard.engine.tasks import TaskSpec
from tests.conftest import make_config
from tests.server.serveproc import ROOT, ServeProcess, cli, cli_env


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli(*args), capture_output=True, text=True, env=cli_env(), cwd=ROOT,
                          timeout=timeout, check=False)


def serve(data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``switchboard serve`` that is expected to refuse to start (a timeout fails the test)."""
    return run("serve", "--data-dir", str(data), "--port", "0", *extra, timeout=60)


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The refusal: exactly one 'switchboard...' line on stderr, and no traceback."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("switchboard")]
    assert len(lines) == 1, done.stderr
    return lines[0]


async def make_database(data: Path, tasks: int = 150) -> Path:
    engine = Engine(make_config(data), run_maintenance=False)
    await engine.start()
    try:
        for i in range(tasks):
            await engine.tasks.create(TaskSpec(type="bugfix", payload={"i": i, "pad": "x" * 300}))
    finally:
        await engine.stop()
    return data / "switchboard.db"


def damage_table(db: Path, table: str = "tasks") -> None:
    """Scramble the cell pointers of ``table``'s root b-tree page (a torn or bad write)."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    conn.close()
    with db.open("r+b") as file:
        file.seek((root - 1) * page + 12)
        file.write(b"\xff\xee" * 40)


# -- refusing to start ----------------------------------------------------------------------


def test_a_file_that_is_not_sqlite_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "switchboard.db").write_text("name,value\nnot,a database\n")
    done = serve(tmp_path)
    assert done.returncode == 2
    line = one_line(done)
    assert f"{tmp_path / 'switchboard.db'} is not an SQLite database" in line
    assert "switchboard db restore" in line


def test_a_directory_in_place_of_the_database_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "switchboard.db").mkdir()
    done = serve(tmp_path)
    assert done.returncode == 2
    assert "switchboard.db is not a file" in one_line(done)


def test_an_unusable_data_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    done = serve(tmp_path / "file" / "data")
    assert done.returncode == 2
    assert "Not a directory" in one_line(done)


def test_a_non_utf8_config_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "sb.toml"
    config.write_bytes(b'[server]\nhost = "caf\xe9"\n')
    done = run("serve", "--config", str(config), "--data-dir", str(tmp_path), "--port", "0")
    assert done.returncode == 2
    line = one_line(done)
    assert str(config) in line and "not UTF-8" in line and "line 2" in line


def test_a_newer_schema_is_refused_naming_both_versions(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "switchboard.db")
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (?)", (len(MIGRATIONS) + 3,))
    conn.commit()
    conn.close()
    done = serve(tmp_path)
    assert done.returncode == 2
    line = one_line(done)
    assert f"schema version {len(MIGRATIONS) + 3}, newer than this Switchboard understands " \
           f"({len(MIGRATIONS)})" in line
    assert "switchboard db restore" in line


async def test_a_damaged_tasks_table_stops_the_start(tmp_path: Path) -> None:
    db = await make_database(tmp_path)
    damage_table(db)
    done = serve(tmp_path)
    assert done.returncode == 2
    line = one_line(done)
    assert f"{db} is damaged (quick_check: On tree page" in line
    assert "switchboard db check" in line
    full = serve(tmp_path, "--check-db")
    assert "is damaged (integrity_check:" in one_line(full)


async def test_a_database_held_by_a_running_server_is_refused(tmp_path: Path) -> None:
    with ServeProcess(tmp_path / "data") as server:
        done = serve(tmp_path / "data")
        pid = server.proc.pid if server.proc else 0
    assert done.returncode == 2
    assert f"is in use by another Switchboard process (pid {pid})" in one_line(done)


# -- db check | backup | restore -------------------------------------------------------------


async def test_db_check_reports_ok_and_damage(tmp_path: Path) -> None:
    db = await make_database(tmp_path / "good")
    done = run("db", "check", "--data-dir", str(tmp_path / "good"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"ok: {db} (schema {len(MIGRATIONS)} of {len(MIGRATIONS)}")
    damage_table(db)
    done = run("db", "check", "--data-dir", str(tmp_path / "good"))
    assert done.returncode == 1
    assert done.stdout.startswith(f"damaged: {db}: integrity_check found")
    assert "On tree page" in done.stdout and "Traceback" not in done.stderr
    missing = run("db", "check", "--data-dir", str(tmp_path / "none"))
    assert missing.returncode == 2 and "no database at" in one_line(missing)


async def test_backup_while_serving_then_restore_after_stop(tmp_path: Path) -> None:
    import aiohttp

    from tests.server.fuzzing import tokens

    data = tmp_path / "data"
    backup = tmp_path / "backup.db"
    headers = {"Authorization": f"Bearer {tokens()['agent']}"}
    with ServeProcess(data) as server:
        async with aiohttp.ClientSession() as http:
            for i in range(20):
                async with http.post(server.url + "/api/v1/tasks", headers=headers,
                                     json={"type": "bugfix", "payload": {"i": i}}) as resp:
                    assert resp.status == 201
            done = run("db", "backup", str(backup), "--data-dir", str(data))  # online
            assert done.returncode == 0, done.stderr
            assert done.stdout.startswith(f"backup written: {backup}")
            async with http.post(server.url + "/api/v1/tasks", headers=headers,
                                 json={"type": "bugfix", "payload": {"after": True}}) as resp:
                assert resp.status == 201  # the server kept writing
        refused = run("db", "restore", str(backup), "--data-dir", str(data))
        assert refused.returncode == 2
        assert "restore refused" in one_line(refused) and "stop it first" in refused.stderr
    again = run("db", "backup", str(backup), "--data-dir", str(data))
    assert again.returncode == 2 and "already exists" in one_line(again)
    with sqlite3.connect(backup) as conn:
        assert conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == 20
    done = run("db", "restore", str(backup), "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    assert "the previous database is kept as" in done.stdout
    assert list(data.glob("switchboard.db.before-restore-*"))
    with sqlite3.connect(data / "switchboard.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == 20
    with ServeProcess(data):  # the restored database serves
        pass


@pytest.mark.parametrize("bad", ["foreign", "damaged"])
async def test_restore_refuses_a_bad_backup_and_changes_nothing(tmp_path: Path, bad: str) -> None:
    db = await make_database(tmp_path / "data", tasks=5)
    source = tmp_path / "bad.db"
    if bad == "foreign":
        source.write_text("not a database")
    else:
        source.write_bytes(db.read_bytes())
        damage_table(source)
    before = db.read_bytes()
    done = run("db", "restore", str(source), "--data-dir", str(tmp_path / "data"))
    assert done.returncode in (1, 2)
    one_line(done)
    assert db.read_bytes() == before
    assert not list((tmp_path / "data").glob("*.before-restore-*"))
