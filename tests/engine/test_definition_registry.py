"""The registry: a folder of definitions, last good version kept, hot reload via watchfiles."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from switchboard.engine.orchestrations import DefinitionRegistry, ReloadResult

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "orchestrations"

GOOD = """\
id = "{id}"
name = "{name}"
[state_schema]
query = "string"
[[steps]]
id = "a"
type = "agent"
prompt = "About {{query}}"
"""

BROKEN = GOOD + '\n[[steps]]\nid = "b"\ntype = "robot"\n'


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def test_loads_a_folder_of_toml_and_yaml(tmp_path: Path) -> None:
    for name in ("research-report.toml", "incident-response.yaml", "deployment.toml"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    write(tmp_path / "notes.txt", "ignored")
    write(tmp_path / ".hidden.toml", "id = ")
    registry = DefinitionRegistry(tmp_path)
    assert registry.load_all() == []
    assert [o.id for o in registry.list()] == [
        "deployment", "incident-response", "orch-research-report"]
    research = registry.get("orch-research-report")
    assert research is not None and research.summary()["steps"] == 5
    assert registry.get("nope") is None
    assert "deployment" in registry and len(registry) == 3
    assert registry.file_of("deployment") == str(tmp_path / "deployment.toml")


def test_broken_file_keeps_last_good_version_and_reports(tmp_path: Path) -> None:
    path = tmp_path / "one.toml"
    write(path, GOOD.format(id="one", name="First"))
    registry = DefinitionRegistry(tmp_path)
    registry.load_all()
    first = registry.get("one")
    assert first is not None

    write(path, BROKEN.format(id="one", name="Second"))
    result = registry.reload_file(path)
    assert result.status == "broken"
    assert result.orchestration_id == "one" and result.version == first.version
    assert registry.get("one") is first  # last good stays current
    problems = registry.problems()
    assert [(p.path, p.file) for p in problems] == [("steps[1].type", str(path))]
    assert problems[0].line == 12

    write(path, GOOD.format(id="one", name="Third"))
    fixed = registry.reload_file(path)
    assert fixed.status == "loaded"
    current = registry.get("one")
    assert current is not None and current.name == "Third"
    assert registry.problems() == []
    # the version a running run started with stays retrievable
    assert registry.get("one", first.version) is first
    assert registry.versions("one") == [first.version, current.version]


def test_a_broken_file_that_never_loaded_is_only_a_problem(tmp_path: Path) -> None:
    write(tmp_path / "bad.yaml", "id: [")
    registry = DefinitionRegistry(tmp_path)
    problems = registry.load_all()
    assert len(problems) == 1 and "invalid YAML" in problems[0].message
    assert registry.list() == []


def test_unchanged_content_reports_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "one.toml"
    write(path, GOOD.format(id="one", name="A"))
    registry = DefinitionRegistry(tmp_path)
    registry.load_all()
    write(path, "# a comment\n" + GOOD.format(id="one", name="A"))
    assert registry.reload_file(path).status == "unchanged"


def test_deleted_file_is_forgotten_for_new_runs(tmp_path: Path) -> None:
    path = tmp_path / "one.toml"
    write(path, GOOD.format(id="one", name="A"))
    registry = DefinitionRegistry(tmp_path)
    registry.load_all()
    version = registry.get("one").version  # type: ignore[union-attr]
    path.unlink()
    assert registry.reload_file(path).status == "removed"
    assert registry.get("one") is None
    assert registry.get("one", version) is not None


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    write(tmp_path / "a.toml", GOOD.format(id="same", name="A"))
    write(tmp_path / "b.toml", GOOD.format(id="same", name="B"))
    registry = DefinitionRegistry(tmp_path)
    problems = registry.load_all()
    assert [(Path(p.file).name, p.path) for p in problems] == [("b.toml", "id")]
    assert "already defined in" in problems[0].message
    assert registry.get("same").name == "A"  # type: ignore[union-attr]
    (tmp_path / "a.toml").unlink()
    registry.reload_file(tmp_path / "a.toml")
    assert registry.get("same").name == "B"  # type: ignore[union-attr]
    assert registry.problems() == []


def test_renaming_the_id_inside_a_file(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    write(path, GOOD.format(id="old", name="A"))
    registry = DefinitionRegistry(tmp_path)
    registry.load_all()
    write(path, GOOD.format(id="new", name="A"))
    registry.reload_file(path)
    assert [o.id for o in registry.list()] == ["new"]


def test_missing_folder_is_a_problem(tmp_path: Path) -> None:
    registry = DefinitionRegistry(tmp_path / "nope")
    problems = registry.load_all()
    assert "does not exist" in problems[0].message


def test_listeners_see_changes_and_cannot_break_reloading(tmp_path: Path) -> None:
    write(tmp_path / "a.toml", GOOD.format(id="a", name="A"))
    registry = DefinitionRegistry(tmp_path)
    seen: list[ReloadResult] = []

    def failing(_result: ReloadResult) -> None:
        raise RuntimeError("listener bug")

    registry.add_listener(failing)
    unsubscribe = registry.add_listener(seen.append)
    registry.load_all()
    assert [(r.status, r.orchestration_id) for r in seen] == [("loaded", "a")]
    unsubscribe()
    registry.load_all()
    assert len(seen) == 1


# -- watch() with real files and real watchfiles ---------------------------------------


@pytest.fixture
async def watched(tmp_path: Path) -> AsyncIterator[DefinitionRegistry]:
    write(tmp_path / "one.toml", GOOD.format(id="one", name="First"))
    registry = DefinitionRegistry(tmp_path, debounce_ms=50, poll_timeout_ms=100)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(registry.watch(stop_event=stop, ready=ready))
    await asyncio.wait_for(ready.wait(), 5)
    yield registry
    stop.set()
    await asyncio.wait_for(task, 5)


async def wait_until(check: Callable[[], bool], timeout: float = 4.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached before timeout")
        await asyncio.sleep(0.02)


async def test_watch_applies_a_changed_file(tmp_path: Path, watched: DefinitionRegistry) -> None:
    assert watched.get("one").name == "First"  # type: ignore[union-attr]
    write(tmp_path / "one.toml", GOOD.format(id="one", name="Changed"))
    await wait_until(lambda: watched.get("one").name == "Changed")  # type: ignore[union-attr]


async def test_watch_reports_a_broken_file_and_keeps_the_last_good(
    tmp_path: Path, watched: DefinitionRegistry
) -> None:
    good = watched.get("one")
    write(tmp_path / "one.toml", BROKEN.format(id="one", name="Broken"))
    await wait_until(lambda: bool(watched.problems()))
    assert watched.problems()[0].path == "steps[1].type"
    assert watched.get("one") is good


async def test_watch_picks_up_new_and_deleted_files(
    tmp_path: Path, watched: DefinitionRegistry
) -> None:
    write(tmp_path / "two.yaml", "id: two\nsteps:\n  - {id: a, type: agent, prompt: hi}\n")
    await wait_until(lambda: watched.get("two") is not None)
    (tmp_path / "two.yaml").unlink()
    await wait_until(lambda: watched.get("two") is None)


async def test_watch_stops_on_cancel(tmp_path: Path) -> None:
    registry = DefinitionRegistry(tmp_path, poll_timeout_ms=100)
    ready = asyncio.Event()
    task = asyncio.create_task(registry.watch(ready=ready))
    await asyncio.wait_for(ready.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
