"""Shared fixtures: a real engine on a temporary SQLite file, with a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from switchboard.engine.clock import ManualClock
from switchboard.engine.config import Config, load_config
from switchboard.engine.engine import Engine


def make_config(data_dir: Path, **sections: dict) -> Config:
    overrides = {"storage": {"data_dir": str(data_dir)}}
    for name, values in sections.items():
        if isinstance(values, dict):
            overrides.setdefault(name, {}).update(values)
        else:  # a list section such as [[webhooks]]
            overrides[name] = values
    return load_config(overrides=overrides, env={})


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def engine(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Engine]:
    eng = Engine(make_config(tmp_path), clock=clock, run_maintenance=False)
    await eng.start()
    try:
        yield eng
    finally:
        await eng.stop()
