"""Console fixtures: a seeded engine on a temporary SQLite file, fixed ids, a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.engine.engine import Engine
from tests.console.fixtures import FixedIds, make_engine, patch_ids, seed


@pytest.fixture
def fixed_ids(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FixedIds:
    monkeypatch.chdir(tmp_path)  # paths on screen are shown relative to here
    return patch_ids(monkeypatch)


@pytest.fixture
async def world(tmp_path: Path, fixed_ids: FixedIds) -> AsyncIterator[tuple[Engine, dict[str, Any]]]:
    engine = make_engine(tmp_path)
    await engine.start()
    try:
        data = await seed(engine)
        yield engine, data
    finally:
        await engine.stop()
