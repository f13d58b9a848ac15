"""Map a document path (``steps[2].fields[0].type``) to a line number in the source file.

Why: a problem list is only useful if the author can jump to the spot. YAML keeps node
positions, so the answer is exact. ``tomllib`` keeps none, so for TOML we follow table
headers (``[[steps]]``, ``[[steps.fields]]``, ``[limits]``) and ``key =`` lines, which finds
the right line for definitions written the usual way and the nearest enclosing one otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import yaml

Locator = Callable[[str], int | None]

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def split_path(path: str) -> list[str | int]:
    """``steps[2].fields[0].type`` -> ["steps", 2, "fields", 0, "type"]."""
    parts: list[str | int] = []
    for match in _PART.finditer(path):
        parts.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
    return parts


def no_lines(path: str) -> int | None:
    return None


def yaml_locator(text: str) -> Locator:
    """Exact lines from the composed YAML node tree (1-based)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return no_lines

    def locate(path: str) -> int | None:
        node = root
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in split_path(path):
            child = None
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                for key_node, value_node in node.value:
                    if getattr(key_node, "value", None) == part:
                        line = key_node.start_mark.line + 1
                        child = value_node
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part < len(node.value):
                    child = node.value[part]
                    line = child.start_mark.line + 1
            if child is None:
                return line
            node = child
        return line

    return locate


_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([^\[\]]+?)\s*\]\]")
_TABLE_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]")


def toml_locator(text: str) -> Locator:
    """Best-effort lines for TOML by following headers and ``key =`` lines (1-based)."""
    lines = text.splitlines()
    headers: list[tuple[int, str, bool]] = []  # (index, dotted name, is array of tables)
    for number, line in enumerate(lines):
        array = _ARRAY_HEADER.match(line)
        if array:
            headers.append((number, _normalise(array.group(1)), True))
            continue
        table = _TABLE_HEADER.match(line)
        if table:
            headers.append((number, _normalise(table.group(1)), False))

    def body_end(start: int) -> int:
        """First header line after ``start`` (exclusive end of a table's own keys)."""
        for number, _, _ in headers:
            if number > start:
                return number
        return len(lines)

    def find_key(key: str, start: int, end: int) -> int | None:
        pattern = re.compile(rf"^\s*(\"{re.escape(key)}\"|'{re.escape(key)}'|{re.escape(key)})"
                             r"\s*(=|\.)")
        for number in range(start, end):
            if pattern.match(lines[number]):
                return number
        return None

    def locate(path: str) -> int | None:
        parts = split_path(path)
        prefix = ""
        start, end = -1, len(lines)  # header line (or -1 for root), scope end
        best: int | None = None
        position = 0
        while position < len(parts):
            part = parts[position]
            if not isinstance(part, str):
                return best
            name = f"{prefix}.{part}" if prefix else part
            index = parts[position + 1] if position + 1 < len(parts) else None
            if isinstance(index, int):
                matches = [h for h in headers if h[1] == name and h[2] and start < h[0] < end]
                if index < len(matches):
                    header = matches[index][0]
                    following = [h[0] for h in headers if h[0] > header and (
                        h[1] == name or not h[1].startswith(name + "."))]
                    start, end = header, min([*following, end])
                    prefix, best = name, header + 1
                    position += 2
                    continue
            tables = [h for h in headers if h[1] == name and not h[2] and start < h[0] < end]
            if tables:
                header = tables[0][0]
                following = [h[0] for h in headers if h[0] > header and not
                             h[1].startswith(name + ".")]
                start, end = header, min([*following, end])
                prefix, best = name, header + 1
                position += 1
                continue
            found = find_key(part, start + 1, body_end(start))
            return found + 1 if found is not None else best
        return best

    return locate


def _normalise(name: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in name.split("."))
