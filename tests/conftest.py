"""Shared fixtures: a real engine on a temporary SQLite file, with a manual clock.

Tests marked ``both_stores`` (and every test using ``engine`` with ``--store both`` or
``--store postgres``) run the engine on PostgreSQL too: a fresh schema per test in a
database of this run (``tests.pg``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from switchboard.engine.clock import ManualClock
from switchboard.engine.config import Config, load_config
from switchboard.engine.engine import Engine
from tests import pg


def make_config(data_dir: Path, **sections: dict) -> Config:
    overrides = {"storage": {"data_dir": str(data_dir)}}
    for name, values in sections.items():
        if isinstance(values, dict):
            overrides.setdefault(name, {}).update(values)
        else:  # a list section such as [[webhooks]]
            overrides[name] = values
    return load_config(overrides=overrides, env={})


STORES = ("sqlite", "postgres")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--store", choices=("sqlite", "postgres", "both"), default=None,
                     help="which store the `engine` fixture runs on (default: sqlite, and "
                          "both for tests marked both_stores)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_kind" not in metafunc.fixturenames:
        return
    chosen = metafunc.config.getoption("--store")
    if chosen == "both" or (chosen is None
                            and metafunc.definition.get_closest_marker("both_stores")):
        metafunc.parametrize("store_kind", STORES, indirect=True)
    elif chosen == "postgres":
        metafunc.parametrize("store_kind", ["postgres"], indirect=True)


def pytest_sessionfinish(session: pytest.Session) -> None:
    pg.stop()


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
async def store_url(store_kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """A store URL of the test's kind: an SQLite file, or a fresh PostgreSQL schema."""
    if store_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'switchboard.db'}"
        return
    url = pg.server().schema_url()
    try:
        yield url
    finally:
        await pg.server().drop_schema(url)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def engine(tmp_path: Path, clock: ManualClock, store_url: str) -> AsyncIterator[Engine]:
    eng = Engine(make_config(tmp_path, storage={"url": store_url}), clock=clock,
                 run_maintenance=False)
    await eng.start()
    try:
        yield eng
    finally:
        await eng.stop()
