"""Read definition files (TOML, YAML, JSON) or mappings into ``Orchestration``s.

Why it never raises for a bad document: the registry, the ``validate`` CLI, the API and the
console all need the full list of problems (file, path, line, reason) to show, and a stack
trace helps nobody who is editing a TOML file. Only programming errors escape.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import yaml

from switchboard.engine.orchestrations.convert import convert_struct, salvage_struct, type_name
from switchboard.engine.orchestrations.definitions import (
    STEP_CLASSES,
    STEP_TYPES,
    DefinitionProblem,
    Orchestration,
    Step,
)
from switchboard.engine.orchestrations.locate import Locator, no_lines, toml_locator, yaml_locator
from switchboard.engine.orchestrations.validate import ValidationContext, check_orchestration

FORMATS: dict[str, str] = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}
FOLDER_SUFFIXES: frozenset[str] = frozenset({".toml", ".yaml", ".yml"})
"""What a definitions folder is scanned for (JSON is for API bodies and single files)."""
MAX_FILE_BYTES = 1_048_576
_LOADER_FIELDS = frozenset({"version", "source", "steps"})


class LoadResult(msgspec.Struct, frozen=True, kw_only=True):
    """A decoded definition, or None and the reasons why not."""

    file: str
    orchestration: Orchestration | None
    problems: list[DefinitionProblem] = []

    @property
    def ok(self) -> bool:
        return self.orchestration is not None and not self.problems


class _Collector:
    """Collects problems with file and line. Once ``structural`` is over, a cross-field
    problem about a value that already has a decoding problem is dropped: it is a
    consequence of the first (e.g. a placeholder standing in for an undecodable value)."""

    def __init__(self, file: str, locate: Locator) -> None:
        self.file = file
        self.locate = locate
        self.problems: list[DefinitionProblem] = []
        self.structural = True
        self._bad_paths: list[str] = []

    def __call__(self, path: str, message: str) -> None:
        if self.structural:
            self._bad_paths.append(path)
        elif any(_related(path, bad) for bad in self._bad_paths):
            return
        line = self.locate(path) if path else None
        self.problems.append(DefinitionProblem(file=self.file, path=path, message=message,
                                               line=line))


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "[")


_CONTAINER = re.compile(r"(steps\[\d+\])?\Z")


def _related(path: str, bad: str) -> bool:
    """A cross-field problem at ``path`` repeats a decoding problem at ``bad`` if it is about
    the same value, a part of it (``options`` vs ``options[0]``) or something inside it. A
    whole step (cycle reports) is never silenced by a problem inside that step."""
    return _under(path, bad) or (_under(bad, path) and not _CONTAINER.match(path))


def _parse(text: str, fmt: str, file: str) -> tuple[Any, Locator, list[DefinitionProblem]]:
    def problem(message: str, line: int | None = None) -> list[DefinitionProblem]:
        return [DefinitionProblem(file=file, path="", message=message, line=line)]

    if fmt == "toml":
        try:
            return tomllib.loads(text), toml_locator(text), []
        except tomllib.TOMLDecodeError as exc:
            found = re.search(r"\(at line (\d+)", str(exc))
            return None, no_lines, problem(f"invalid TOML: {exc}",
                                           int(found.group(1)) if found else None)
    if fmt == "yaml":
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            reason = " ".join(str(exc).split())
            return None, no_lines, problem(f"invalid YAML: {reason}",
                                           mark.line + 1 if mark is not None else None)
        return data, yaml_locator(text), []
    if fmt == "json":
        try:
            return msgspec.json.decode(text), no_lines, []
        except msgspec.DecodeError as exc:
            return None, no_lines, problem(f"invalid JSON: {exc}")
    return None, no_lines, problem(f"unsupported format {fmt!r}; use .toml, .yaml, .yml or .json")


def _normalise_schema(data: dict[str, Any]) -> dict[str, Any]:
    """Accept ``key = "string"`` as shorthand for ``key = {type = "string"}``."""
    schema = data.get("state_schema")
    if isinstance(schema, dict):
        data = dict(data)
        data["state_schema"] = {
            key: {"type": value} if isinstance(value, str) else value
            for key, value in schema.items()
        }
    return data


class _Steps(msgspec.Struct):
    steps: list[Step]
    paths: list[str]
    untyped_ids: dict[str, str]  # path -> id of steps whose type is unknown
    broken: bool


def _convert_steps(raw: Any, report: _Collector) -> _Steps:
    """Decode each step on its own so one broken step does not hide the others' problems.

    A step that fails to decode is still salvaged (silently) for cross-field validation, so
    its branches and templates are checked too; the load as a whole fails either way."""
    out = _Steps(steps=[], paths=[], untyped_ids={}, broken=False)
    if raw is None:
        return out
    if not isinstance(raw, list):
        report("steps", f"expected a list of steps, got {type_name(raw)}")
        out.broken = True
        return out
    for index, item in enumerate(raw):
        path = f"steps[{index}]"
        if not isinstance(item, dict):
            report(path, f"expected a table/mapping, got {type_name(item)}")
            out.broken = True
            continue
        kind = item.get("type")
        cls = STEP_CLASSES.get(kind) if isinstance(kind, str) else None
        if cls is None:
            out.broken = True
            if kind is None:
                report(f"{path}.type",
                       f"required key is missing; expected one of {', '.join(STEP_TYPES)}")
            else:
                report(f"{path}.type",
                       f"unknown step type {kind!r}; expected one of {', '.join(STEP_TYPES)}")
            if isinstance(item.get("id"), str):
                out.untyped_ids[path] = item["id"]
            continue
        step = convert_struct(item, cls, path, report)
        if step is None:
            out.broken = True
            step = salvage_struct(item, cls)
            if step is None:
                continue
        out.steps.append(step)
        out.paths.append(path)
    return out


def _head(data: dict[str, Any], report: _Collector) -> Orchestration:
    """Decode the top-level keys; on failure, salvage what decodes so validation still runs."""
    # version/source are loader-managed; a definition dumped by ``to_dict()`` (e.g. from the
    # API's detail endpoint) may carry them and is accepted, their values ignored.
    top = {key: value for key, value in data.items() if key not in _LOADER_FIELDS}
    head = convert_struct(top, Orchestration, "", report, skip=_LOADER_FIELDS)
    if isinstance(head, Orchestration):
        return head
    salvaged = salvage_struct(top, Orchestration, skip=_LOADER_FIELDS)
    return salvaged if isinstance(salvaged, Orchestration) else Orchestration(id="")


def load_mapping(
    data: Any,
    file: str = "<inline>",
    context: ValidationContext | None = None,
    locate: Locator = no_lines,
) -> LoadResult:
    """Decode and validate an already-parsed document. Never raises for bad content."""
    report = _Collector(file, locate)
    if data is None:
        report("", "the document is empty")
        return LoadResult(file=file, orchestration=None, problems=report.problems)
    if not isinstance(data, dict):
        report("", f"expected a table/mapping at the top level, got {type_name(data)}")
        return LoadResult(file=file, orchestration=None, problems=report.problems)
    data = _normalise_schema(data)
    head = _head(data, report)
    decoded = _convert_steps(data.get("steps"), report)
    orch = msgspec.structs.replace(head, steps=decoded.steps)
    report.structural = False
    check_orchestration(orch, report, step_paths=decoded.paths,
                        untyped_steps=decoded.untyped_ids, steps_broken=decoded.broken,
                        context=context)
    if report.problems:
        return LoadResult(file=file, orchestration=None, problems=report.problems)
    orch = msgspec.structs.replace(orch, source=file)
    orch = msgspec.structs.replace(orch, version=orch.content_hash())
    return LoadResult(file=file, orchestration=orch)


def load_text(
    text: str, fmt: str, file: str = "<inline>", context: ValidationContext | None = None
) -> LoadResult:
    """Parse ``text`` in ``fmt`` (toml, yaml, json) and decode it."""
    data, locate, problems = _parse(text, fmt, file)
    if problems:
        return LoadResult(file=file, orchestration=None, problems=problems)
    return load_mapping(data, file, context, locate)


def load_file(path: str | Path, context: ValidationContext | None = None) -> LoadResult:
    """Read and decode one definition file; unreadable files are problems, not exceptions."""
    file = Path(path)
    name = str(file)
    fmt = FORMATS.get(file.suffix.lower())
    if fmt is None:
        return LoadResult(file=name, orchestration=None, problems=[DefinitionProblem(
            file=name, path="", message="unsupported file type; use .toml, .yaml or .yml")])
    try:
        raw = file.read_bytes()
        if len(raw) > MAX_FILE_BYTES:
            raise ValueError(f"file is larger than {MAX_FILE_BYTES} bytes")
        text = raw.decode("utf-8")
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return LoadResult(file=name, orchestration=None, problems=[DefinitionProblem(
            file=name, path="", message=f"cannot read file: {reason}")])
    return load_text(text, fmt, name, context)


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text.strip()).strip("-.").lower()
    return slug or "inline"


def state_type(value: Any) -> str:
    """The state-schema type name of a JSON value (inline parameters, generated defaults)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "any"


def normalise_inline(
    workflow: Mapping[str, Any], parameters: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Turn seed 002's loose workflow shape into our definition shape.

    Seed 002 sends ``{"name": "deploy-app", "steps": [{"name": ..., "tool": ...,
    "parameters": {...}}]}``: steps without ids or types, ``parameters`` instead of ``args``.
    Missing ids come from names, missing types are inferred (tool/prompt/task_type/fields),
    and each request parameter becomes a state key, so templates may name it.
    """
    data: dict[str, Any] = dict(workflow)
    data.setdefault("id", _slug(str(data.get("name") or "inline")))
    steps = data.get("steps")
    if isinstance(steps, list):
        normalised: list[Any] = []
        for index, step in enumerate(steps):
            if not isinstance(step, Mapping):
                normalised.append(step)
                continue
            item = dict(step)
            if "id" not in item:
                item["id"] = _slug(str(item.get("name") or f"step-{index + 1}"))
            if "type" not in item:
                for key, kind in (("tool", "tool"), ("prompt", "agent"),
                                  ("task_type", "task"), ("fields", "human")):
                    if key in item:
                        item["type"] = kind
                        break
            if item.get("type") == "tool" and "parameters" in item and "args" not in item:
                item["args"] = item.pop("parameters")
            normalised.append(item)
        data["steps"] = normalised
    if parameters:
        schema = data.get("state_schema")
        schema = dict(schema) if isinstance(schema, Mapping) else {}
        for key, value in parameters.items():
            schema.setdefault(key, {"type": state_type(value)})
        data["state_schema"] = schema
    return data


def load_inline(
    workflow: Any,
    parameters: Mapping[str, Any] | None = None,
    context: ValidationContext | None = None,
) -> LoadResult:
    """Decode an inline workflow from an API body (seed 002 ``/execute``, ``/refine``)."""
    if not isinstance(workflow, Mapping):
        return load_mapping(workflow, "<inline>", context)
    return load_mapping(normalise_inline(workflow, parameters), "<inline>", context)


def validate_path(
    path: str | Path, context: ValidationContext | None = None
) -> tuple[list[Orchestration], list[DefinitionProblem]]:
    """Check a file or every definition file in a folder (``switchboard validate``)."""
    target = Path(path)
    if target.is_dir():
        files = sorted(p for p in target.iterdir()
                       if p.suffix.lower() in FOLDER_SUFFIXES and p.is_file())
    elif target.exists():
        files = [target]
    else:
        return [], [DefinitionProblem(file=str(target), path="", message="no such file or folder")]
    good: list[Orchestration] = []
    problems: list[DefinitionProblem] = []
    seen: dict[str, str] = {}
    for file in files:
        result = load_file(file, context)
        problems.extend(result.problems)
        orch = result.orchestration
        if orch is None:
            continue
        if orch.id in seen:
            problems.append(DefinitionProblem(file=str(file), path="id", message=(
                f"orchestration id {orch.id!r} is already defined in {seen[orch.id]}")))
            continue
        seen[orch.id] = str(file)
        good.append(orch)
    return good, problems
