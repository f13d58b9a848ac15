"""PostgreSQL for tests: one database per test session (per xdist worker), one schema per
test, both dropped afterwards.

Where no PostgreSQL answers, tests that need it skip with one line saying how to enable
them; ``SB_REQUIRE_PG=1`` (set by ``.ci/run``) turns that skip into a failure.
``SB_TEST_PG`` names the server (default ``postgresql://127.0.0.1:5432/postgres``,
the current user, trust auth).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

ADMIN_URL = os.environ.get("SB_TEST_PG", "postgresql://127.0.0.1:5432/postgres")
REQUIRED = os.environ.get("SB_REQUIRE_PG", "") not in ("", "0")
HOW = ("PostgreSQL tests skipped: no server at {url} ({why}); start one (pg_isready -h "
       "127.0.0.1) or set SB_TEST_PG=postgresql://user@host:5432/db")


def _with_db(url: str, db: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + db, parts.query, ""))


async def _admin_async(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _admin(sql: str) -> None:
    """Run one statement on the admin database, from sync code or inside a running loop
    (a thread of its own runs the connection's loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _admin_async(sql)).result()


class PgServer:
    """This session's database; ``schema_url()`` a fresh schema in it."""

    def __init__(self) -> None:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self.database = f"sbtest_{worker}_{os.getpid()}"
        self.url = _with_db(ADMIN_URL, self.database)
        self.error: str | None = None
        self.created = False

    def start(self) -> None:
        try:
            import asyncpg  # noqa: F401
        except ImportError as exc:
            self.error = f"asyncpg is not installed: {exc}"
            return
        try:
            _admin(f'DROP DATABASE IF EXISTS "{self.database}"')
            _admin(f'CREATE DATABASE "{self.database}"')
            self.created = True
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def stop(self) -> None:
        if self.created:
            _admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def require(self) -> None:
        if self.error is None:
            return
        message = HOW.format(url=ADMIN_URL, why=self.error)
        if REQUIRED:
            pytest.fail(f"SB_REQUIRE_PG is set but {message}", pytrace=False)
        pytest.skip(message)

    def schema_url(self) -> str:
        self.require()
        return f"{self.url}?schema=t{uuid.uuid4().hex[:12]}"

    async def drop_schema(self, url: str) -> None:
        import asyncpg

        schema = url.rsplit("schema=", 1)[1]
        conn = await asyncpg.connect(self.url, timeout=5)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


_SERVER: PgServer | None = None


def server() -> PgServer:
    """The session's server, created on first use (never for runs that need none)."""
    global _SERVER
    if _SERVER is None:
        _SERVER = PgServer()
        _SERVER.start()
    return _SERVER


def stop() -> None:
    if _SERVER is not None:
        _SERVER.stop()
