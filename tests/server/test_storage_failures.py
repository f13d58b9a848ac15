"""A full disk and a failing database, as clients and operators see them.

Before: a client got a generic 500 and ``/health`` said healthy. Now a full data folder is a
507 naming it, a read-only or failing database a 503, ``/health`` says ``degraded`` with the
reason until a write commits again, and nothing acknowledged is lost.

The disk-full test fills a real 2 MB tmpfs (it needs root to mount one; it says so and skips
where mounting is not permitted).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.engine.engine import Engine
from tests.server.conftest import make_config, start_live_api


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 2 MB tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def _create(http: Any, api: Any, n: int) -> tuple[int, dict[str, Any]]:
    body = {"type": "bugfix", "payload": {"n": n, "blob": "x" * 20_000}}
    async with http.post(api.base + "/tasks", json=body, headers=api.headers("agent")) as resp:
        return resp.status, await resp.json()


async def _health(http: Any, api: Any) -> tuple[int, dict[str, Any]]:
    async with http.get(api.root + "/health") as resp:
        return resp.status, await resp.json()


async def test_a_full_disk_is_507_and_degraded_then_recovers_losing_nothing(
        small_disk: Path, http: Any, caplog: pytest.LogCaptureFixture) -> None:
    data = small_disk / "data"
    filler = small_disk / "filler"
    api, runner = await start_live_api(data)
    acknowledged: list[str] = []
    statuses: list[int] = []
    try:
        free = shutil.disk_usage(small_disk).free
        filler.write_bytes(b"\0" * max(free - 600_000, 0))  # leave ~600 KB for the database
        refused: dict[str, Any] = {}
        for n in range(400):
            status, body = await _create(http, api, n)
            statuses.append(status)
            if status == 201:
                acknowledged.append(body["task_id"])
            elif status == 507:
                refused = body
                break
        assert 507 in statuses, statuses
        assert 500 not in statuses
        assert refused["detail"].startswith(f"the data folder is full ({data})"), refused
        status, health = await _health(http, api)
        assert (status, health["status"]) == (200, "degraded"), health
        assert health["reason"].startswith("the data folder is full")
        status, _ = await _create(http, api, -1)  # still full: refused again, no 500
        assert status == 507
        async with http.get(api.base + f"/tasks/{acknowledged[0]}", headers=api.headers()) as resp:
            assert resp.status == 200  # reads keep working

        filler.unlink()  # the operator frees space
        status, body = await _create(http, api, 10_000)
        assert status == 201, body
        acknowledged.append(body["task_id"])
        status, health = await _health(http, api)
        assert (status, health["status"]) == (200, "healthy"), health
        assert "reason" not in health
    finally:
        await runner.cleanup()
        await api.engine.stop()
    reopened = Engine(make_config(storage={"data_dir": str(data)}), run_maintenance=False)
    await reopened.start()
    try:
        rows = await reopened.store.read(lambda c: c.fetchall("SELECT id FROM tasks"))
        integrity = await reopened.store.integrity_check()
    finally:
        await reopened.stop()
    stored = {row[0] for row in rows}
    print(f"\ndisk full: {len(acknowledged) - 1} tasks acknowledged before the first 507, "
          f"{len(stored)} stored after a restart, integrity {integrity}")
    assert stored == set(acknowledged)  # nothing acknowledged lost, nothing refused kept
    assert integrity == "ok"
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith("switchboard")]


async def test_a_read_only_database_file_is_503_and_degraded(tmp_path: Path, http: Any) -> None:
    """A database opened read-only by SQLite (here: its writer connection switched to
    ``query_only``, SQLite's SQLITE_READONLY path) refuses writes with 503, not 500."""
    api, runner = await start_live_api(tmp_path)
    try:
        writer = await _writer_conn(api.engine)
        writer.execute("PRAGMA query_only=ON")
        status, body = await _create(http, api, 1)
        assert status == 503, body
        assert body["detail"].startswith("the database is read-only"), body
        status, health = await _health(http, api)
        assert health["status"] == "degraded" and "read-only" in health["reason"]
        writer.execute("PRAGMA query_only=OFF")
        status, body = await _create(http, api, 2)
        assert status == 201
        assert (await _health(http, api))[1]["status"] == "healthy"
    finally:
        await runner.cleanup()
        await api.engine.stop()


async def _writer_conn(engine: Engine) -> Any:
    """The store's writer connection, captured by running a write op that returns it."""
    holder: list[Any] = []
    await engine.store.write(lambda tx: holder.append(tx._conn))
    return holder[0]
