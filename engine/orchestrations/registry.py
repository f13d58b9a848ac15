"""The live set of orchestration definitions, loaded from a folder and hot-reloaded.

Why the registry keeps old versions: a run that started on version A of a definition must
finish on version A even if the file is edited (or broken, or deleted) meanwhile, so every
version ever loaded stays retrievable by ``get(id, version)``. A file that becomes broken is
reported and its last good version stays current; nothing is dropped until the file is
deleted or the id moves to another file. The registry is used from one event loop; its
methods are synchronous (small files) so callers never see a half-applied reload.

Durability note for executors: versions live in memory only. Persist the definition a run
started with (``msgspec.json.encode(orch)``, decodable with ``type=Orchestration``) next to the
run so a restarted process resumes on the same version.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import msgspec

from switchboard.engine.orchestrations.definitions import DefinitionProblem, Orchestration
from switchboard.engine.orchestrations.loader import FOLDER_SUFFIXES, load_file
from switchboard.engine.orchestrations.validate import ValidationContext

log = logging.getLogger("switchboard.orchestrations")

ReloadStatus = Literal["loaded", "unchanged", "broken", "removed"]


class ReloadResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one file change did. ``orchestration_id`` is the id the file defines (for a
    broken file: the id of its last good version, which stays current)."""

    file: str
    status: ReloadStatus
    orchestration_id: str | None = None
    version: str | None = None
    problems: list[DefinitionProblem] = []


class _FileEntry:
    __slots__ = ("blocked_by", "orch_id", "problems")

    def __init__(self) -> None:
        self.orch_id: str | None = None
        self.problems: list[DefinitionProblem] = []
        self.blocked_by: str | None = None  # id owned by another file (duplicate id)


Listener = Callable[[ReloadResult], None]
Definitions = list[Orchestration]


def _key(path: str | Path) -> str:
    return os.path.abspath(os.fspath(path))


def is_definition_file(path: str | Path) -> bool:
    """Definition files by suffix; hidden files (editor swap/backup files) are ignored."""
    name = Path(path).name
    return not name.startswith(".") and Path(name).suffix.lower() in FOLDER_SUFFIXES


class DefinitionRegistry:
    """Definitions from one folder: ``load_all()`` once, then ``watch()`` (or ``reload_file``)."""

    def __init__(
        self,
        directory: str | Path,
        *,
        context: ValidationContext | None = None,
        debounce_ms: int = 300,
        poll_timeout_ms: int = 1000,
    ) -> None:
        self.directory = Path(directory)
        self.context = context
        self.debounce_ms = debounce_ms
        self.poll_timeout_ms = poll_timeout_ms
        self._files: dict[str, _FileEntry] = {}
        self._current: dict[str, Orchestration] = {}
        self._owner: dict[str, str] = {}
        self._versions: dict[tuple[str, str], Orchestration] = {}
        self._listeners: list[Listener] = []
        self._folder_problem: DefinitionProblem | None = None

    # -- loading -------------------------------------------------------------------------

    def load_all(self) -> list[DefinitionProblem]:
        """Scan the folder: (re)load every definition file, forget deleted ones. Returns
        ``problems()``. A missing folder is reported as a problem, not raised."""
        if not self.directory.is_dir():
            self._folder_problem = DefinitionProblem(
                file=str(self.directory), path="",
                message="orchestrations folder does not exist; set orchestrations.dir or "
                        "pass --orchestrations DIR")
            return self.problems()
        self._folder_problem = None
        present = sorted(_key(p) for p in self.directory.iterdir()
                         if p.is_file() and is_definition_file(p))
        for gone in [key for key in self._files if key not in present]:
            self.remove_file(gone)
        for key in present:
            self.reload_file(key)
        return self.problems()

    def reload_file(self, path: str | Path) -> ReloadResult:
        """Apply the file's current content: replace its definition if it is valid, keep the
        last good version (and report) if not, forget it if the file is gone."""
        key = _key(path)
        if not os.path.isfile(key):
            return self.remove_file(key)
        result = load_file(key, self.context)
        entry = self._files.setdefault(key, _FileEntry())
        orch = result.orchestration
        if orch is None:
            entry.problems = list(result.problems)
            entry.blocked_by = None
            return self._emit(ReloadResult(
                file=key, status="broken", orchestration_id=entry.orch_id,
                version=self._current[entry.orch_id].version if entry.orch_id in self._current
                else None, problems=entry.problems))
        owner = self._owner.get(orch.id)
        if owner is not None and owner != key:
            entry.problems = [DefinitionProblem(
                file=key, path="id",
                message=f"orchestration id {orch.id!r} is already defined in {owner}")]
            entry.blocked_by = orch.id
            return self._emit(ReloadResult(file=key, status="broken",
                                           orchestration_id=entry.orch_id,
                                           problems=entry.problems))
        if entry.orch_id is not None and entry.orch_id != orch.id:
            self._drop(entry.orch_id, key)  # the file now defines another id
        previous = self._current.get(orch.id)
        entry.orch_id, entry.problems, entry.blocked_by = orch.id, [], None
        self._current[orch.id] = orch
        self._owner[orch.id] = key
        self._versions.setdefault((orch.id, orch.version), orch)
        status: ReloadStatus = (
            "unchanged" if previous is not None and previous.version == orch.version else "loaded"
        )
        return self._emit(ReloadResult(file=key, status=status, orchestration_id=orch.id,
                                       version=orch.version))

    def remove_file(self, path: str | Path) -> ReloadResult:
        """Forget a deleted file: its orchestration is no longer offered for new runs (its
        versions stay retrievable for runs already using them)."""
        key = _key(path)
        entry = self._files.pop(key, None)
        orch_id = entry.orch_id if entry else None
        if orch_id is not None:
            self._drop(orch_id, key)
        result = self._emit(ReloadResult(file=key, status="removed", orchestration_id=orch_id))
        if orch_id is not None:
            for other, waiting in list(self._files.items()):
                if waiting.blocked_by == orch_id:
                    self.reload_file(other)  # a duplicate of the removed id may now load
        return result

    def _drop(self, orch_id: str, key: str) -> None:
        if self._owner.get(orch_id) == key:
            del self._owner[orch_id]
            self._current.pop(orch_id, None)

    # -- listening -----------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` after every applied change; returns a function that unsubscribes.
        A failing listener is logged and never stops reloading."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, result: ReloadResult) -> ReloadResult:
        if result.status == "broken":
            kept = f"; keeping version {result.version}" if result.version else ""
            log.warning("orchestration file %s is broken (%d problem(s))%s", result.file,
                        len(result.problems), kept)
            for problem in result.problems:
                log.warning("  %s", problem)
        elif result.status != "unchanged":
            log.info("orchestration file %s %s (%s %s)", result.file, result.status,
                     result.orchestration_id, result.version or "")
        for listener in list(self._listeners):
            try:
                listener(result)
            except Exception:
                log.exception("orchestration reload listener failed")
        return result

    async def watch(
        self, stop_event: asyncio.Event | None = None, ready: asyncio.Event | None = None
    ) -> None:
        """Apply file changes until ``stop_event`` is set (or the task is cancelled).

        ``ready`` is set once the watcher is running; the folder is rescanned at that moment
        so a change made while the watcher was starting is not missed.
        """
        from watchfiles import awatch

        if not self.directory.is_dir():
            self.load_all()
            log.warning("not watching %s: folder does not exist", self.directory)
            if ready is not None:
                ready.set()
            return
        started = False
        async for changes in awatch(
            self.directory,
            stop_event=stop_event,
            watch_filter=lambda _change, path: is_definition_file(path),
            debounce=self.debounce_ms,
            step=50,
            rust_timeout=self.poll_timeout_ms,
            yield_on_timeout=True,
            recursive=False,
        ):
            if not started:
                started = True
                self.load_all()
                if ready is not None:
                    ready.set()
                continue
            for path in sorted({path for _change, path in changes}):
                self.reload_file(path)

    # -- reading -------------------------------------------------------------------------

    def get(self, orch_id: str, version: str | None = None) -> Orchestration | None:
        """The current definition, or a specific version (also after it was replaced)."""
        if version is not None:
            return self._versions.get((orch_id, version))
        return self._current.get(orch_id)

    def versions(self, orch_id: str) -> list[str]:
        """Every version of ``orch_id`` loaded since start, oldest first."""
        return [version for (oid, version) in self._versions if oid == orch_id]

    def problems(self) -> list[DefinitionProblem]:
        """Current problems of every file (empty when all files are valid)."""
        out: list[DefinitionProblem] = [self._folder_problem] if self._folder_problem else []
        for key in sorted(self._files):
            out.extend(self._files[key].problems)
        return out

    def file_of(self, orch_id: str) -> str | None:
        return self._owner.get(orch_id)

    def __contains__(self, orch_id: object) -> bool:
        return orch_id in self._current

    def __len__(self) -> int:
        return len(self._current)

    def list(self) -> Definitions:
        """Current definitions, sorted by id."""
        return [self._current[key] for key in sorted(self._current)]
