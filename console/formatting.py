"""How values look on the console: short ids, ages, statuses in words, progress bars.

Everything that carries meaning is written in words; colour only repeats it (NO_COLOR and
monochrome terminals lose nothing). Cells are ``rich.text.Text`` so that text coming from
tasks (payloads, reasons) is never read as markup.
"""

from __future__ import annotations

import functools
import json
import os
from datetime import UTC, datetime
from typing import Any

from rich.text import Text

TASK_STATUS_WORDS = {
    "pending": "pending",
    "awaiting_approval": "awaiting",
    "assigned": "assigned",
    "in_progress": "running",
    "completed": "completed",
    "failed": "failed",
    "rejected": "rejected",
    "cancelled": "cancelled",
}
STATUS_STYLES = {
    # tasks
    "pending": "dim",
    "awaiting_approval": "bold $warning",
    "assigned": "",
    "in_progress": "bold $accent",
    "completed": "$success",
    "failed": "bold $error",
    "rejected": "$error",
    "cancelled": "dim",
    # runs / steps
    "running": "bold $accent",
    "paused": "bold $warning",
    "skipped": "dim",
    # approvals
    "approved": "$success",
    "expired": "dim",
    # agents
    "healthy": "$success",
    "degraded": "bold $warning",
    "unhealthy": "bold $error",
    "offline": "reverse $error",
    "unknown": "dim",
    "active": "",
    "inactive": "dim",
    "error": "bold $error",
    "initializing": "dim",
}
PRIORITY_STYLES = {"P0": "bold reverse $error", "P1": "bold $error", "P2": "", "P3": "dim"}


_ATTRIBUTES = frozenset({"bold", "dim", "italic", "reverse", "underline", "strike"})
_monochrome = False


def set_monochrome(value: bool) -> None:
    """NO_COLOR: drop colours from cell styles, keep bold/reverse/dim (Textual would turn red
    into a dark grey that is hard to read on a dark background)."""
    global _monochrome
    _monochrome = value


def _style(style: str) -> str:
    if _monochrome:
        return " ".join(t for t in style.split() if t in _ATTRIBUTES)
    # Text styles cannot use Textual's $variables; map them to plain colour names.
    return (style.replace("$warning", "yellow").replace("$accent", "cyan")
            .replace("$success", "green").replace("$error", "red"))


def tint(style: str) -> str:
    """A Rich style string with colours dropped under NO_COLOR (attributes kept)."""
    return _style(style)


def tc(value: Any, style: str = "") -> tuple[str, str]:
    """A table cell as (text, style): cheaper than a Text to build and to compare, which
    matters for the 500-row tables rebuilt on every live update (LiveTable renders it)."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return text, _style(style)


def cell(value: Any, style: str = "") -> Text:
    """A table cell that is never parsed as markup."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return Text(text, style=_style(style), no_wrap=True, overflow="ellipsis", end="")


def task_status(status: str) -> Text:
    return cell(TASK_STATUS_WORDS.get(status, status), STATUS_STYLES.get(status, ""))


def status(word: str) -> Text:
    return cell(word, STATUS_STYLES.get(word, ""))


def priority(value: str) -> Text:
    return cell(value, PRIORITY_STYLES.get(value, ""))


def short_id(value: str | None, length: int = 8) -> str:
    """``task_01jd8x2k3m7q9r5t8v1w3y`` -> ``t8v1w3y``-style tail: unique enough to tell rows
    apart on screen; the full id is in the detail view and copied with ``y``."""
    if not value:
        return "-"
    _, sep, rest = value.partition("_")
    if not sep and len(value) <= 16:
        return value  # a name-like id (agent-dev-1): keep it whole
    body = rest if sep else value
    return body if len(body) <= length else body[-length:]


Instant = str | float | None
"""A time as records carry it: the wire's ISO text (``contract.Time``), or epoch seconds."""


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> float:
    return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp()


def epoch(value: Instant) -> float | None:
    """A record's time as epoch seconds (None stays None): the screens compute ages with it."""
    if value is None or isinstance(value, float | int):
        return value
    return _parse(value) if value else None


def age(seconds: float | None) -> str:
    """Compact age: 5s, 3m, 2h, 4d."""
    if seconds is None:
        return "-"
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86_400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86_400)}d"


def ago(ts: Instant, now: float) -> str:
    when = epoch(ts)
    return "never" if when is None else f"{age(now - when)} ago"


def since(ts: Instant, now: float) -> str:
    """The compact age of ``ts`` at ``now`` ("-" for none)."""
    when = epoch(ts)
    return "-" if when is None else age(now - when)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{int(seconds)}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def clock_text(ts: Instant, *, seconds: bool = True) -> str:
    stamp = datetime.fromtimestamp(epoch(ts) or 0.0, UTC)
    return stamp.strftime("%H:%M:%S" if seconds else "%H:%M")


def datetime_text(ts: Instant, *, zone: bool = True) -> str:
    when = epoch(ts)
    if when is None:
        return "-"
    text = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{text} UTC" if zone else text


def money(value: float | None) -> str:
    if not value:
        return "$0"
    return f"${value:.4f}" if value < 0.01 else f"${value:.2f}"


def progress_bar(progress: int, width: int = 5) -> str:
    """``▰▰▱▱▱ 40%``: the bar repeats the number, the number is what counts."""
    progress = max(0, min(100, int(progress)))
    filled = round(progress * width / 100)
    return "▰" * filled + "▱" * (width - filled) + f" {progress:>3d}%"


def sla_parts(created_at: Instant, sla_target: float | None, now: float, *,
              final: bool) -> tuple[str, str]:
    """(text, style) of the time left before a task's SLA target."""
    if sla_target is None or final:
        return "-", "dim"
    left = (epoch(created_at) or 0.0) + sla_target - now
    if left < 0:
        return f"-{age(-left)}", "bold red"
    return age(left), "yellow" if left < sla_target * 0.2 else ""


def sla_left(created_at: Instant, sla_target: float | None, now: float, *, final: bool) -> Text:
    return cell(*sla_parts(created_at, sla_target, now, final=final))


def display_path(path: str) -> str:
    """A file path as the operator would type it: relative when under the current folder."""
    if not path:
        return ""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def pretty_json(value: Any, limit: int = 20_000) -> str:
    if value is None:
        return "-"
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "\n… (truncated)"


def one_line(text: str | None, limit: int = 200) -> str:
    if not text:
        return ""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def event_summary(event: Any, *, subject: bool = True) -> str:
    """What an event says, in one line (after its time and type)."""
    p = event.payload or {}
    parts: list[str] = []
    who = event.task_id or event.run_id or event.agent_id or p.get("approval_id")
    if who and subject:
        parts.append(short_id(who))
    etype = event.event_type
    if etype.startswith("task."):
        for key in ("type", "priority"):
            if p.get(key):
                parts.append(str(p[key]))
        if etype == "task.progress":
            parts.append(f"{p.get('progress', 0)}%")
            if p.get("message"):
                parts.append(one_line(p["message"], 60))
        elif etype == "task.log":
            parts.append(f"{p.get('level', '')}: {one_line(p.get('message'), 60)}")
        elif p.get("error"):
            parts.append(one_line(p["error"], 60))
        elif p.get("assigned_agent") and etype in ("task.created", "task.assigned"):
            parts.append(f"-> {p['assigned_agent']}")
        if event.source_agent and etype in ("task.started", "task.completed", "task.failed"):
            parts.append(f"by {short_id(event.source_agent, 14)}")
    elif etype.startswith("approval."):
        if p.get("status") and etype == "approval.decided":
            parts.append(decision_word(str(p["status"]), str(p.get("kind") or "")))
            if p.get("decided_by"):
                parts.append(f"by {p['decided_by']}")
            answer = p.get("response")
            if isinstance(answer, dict) and answer:
                parts.append(one_line("; ".join(f"{k}: {v}" for k, v in answer.items()), 60))
            elif p.get("rejection_reason"):
                parts.append(one_line(str(p["rejection_reason"]), 60))
        else:
            parts.append(str(p.get("kind", "")))
            parts.append(one_line(p.get("reason") or p.get("prompt"), 60))
    elif etype.startswith("agent."):
        name = p.get("name") or ""
        if name:
            parts.append(str(name))
        if p.get("health"):
            old = p.get("old_health")
            parts.append(f"{old} -> {p['health']}" if old else str(p["health"]))
    elif etype.startswith("run."):
        kind = etype.removeprefix("run.")
        if p.get("step_id"):
            parts.append(str(p["step_id"]))
        if kind == "agent_turn":
            calls = ", ".join(str(c.get("name")) for c in p.get("tool_calls") or [])
            parts.append(f"turn {p.get('turn', '?')}" + (f" calls {calls}" if calls else ""))
            if p.get("text"):
                parts.append(one_line(str(p["text"]), 80))
        elif kind == "tool_execution":
            args = json.dumps(p.get("args"), default=str) if p.get("args") else ""
            parts.append(f"{p.get('tool_name')}({one_line(args, 60)})")
        elif kind == "tool_result":
            ok = "ok" if p.get("ok", True) else "FAILED"
            parts.append(f"{p.get('tool_name')} {ok}: {one_line(str(p.get('preview', '')), 60)}")
        elif kind == "started":
            parts.append(one_line(str(p.get("orchestration_name") or ""), 40))
            if p.get("message"):
                parts.append(repr(one_line(str(p["message"]), 40)))
        elif kind == "paused":
            parts.append("waiting for human input")
        elif kind == "resumed":
            parts.append(f"answered by {p.get('answered_by')}")
        else:
            for key in ("step_name", "status", "error", "output", "by"):
                if p.get(key) and key != "step_name":
                    parts.append(one_line(str(p[key]), 60))
    else:
        if p:
            parts.append(one_line(json.dumps(p, default=str), 80))
    return "  ".join(x for x in parts if x)


def decision_word(status: str, kind: str) -> str:
    """An approval's outcome in words: approved, answered, rejected, expired or cancelled.

    Why a gate says "answered": the engine stores every answered gate as ``approved`` (the
    gate was passed, whatever the form says), so a gate whose ``decision`` field was
    "reject" used to show as "approved" (issue 13). The answer itself says what was decided.
    """
    if status == "approved" and kind == "gate":
        return "answered"
    return status
