"""Approvals in words, and the inbox's filter: shared by the Approvals screen and the
``switchboard approvals`` shell command, so both select and describe exactly the same rows.

Headless (no Textual): the shell command imports it.
"""

from __future__ import annotations

import json
import re

from switchboard.console.formatting import short_id
from switchboard.server.contract import Approval

PRIORITY_WORD = re.compile(r"^P[0-3]$")


def summary_of(a: Approval) -> str:
    """The most telling line: a gate's prompt, a custom reason, or what the task is about."""
    if a.kind == "gate":
        return a.prompt or a.request_reason or ""
    reason = a.request_reason or ""
    default = reason.endswith("requires human approval")
    if reason and not default:
        return reason
    context = a.agent_context or ""
    try:
        data = json.loads(context)
    except ValueError:
        return context or reason
    if isinstance(data, dict):
        for key in ("description", "summary", "title", "reason", "goal", "alert"):
            if data.get(key):
                return str(data[key])
        return ", ".join(f"{k}={v}" for k, v in data.items())
    return context


def task_type_of(a: Approval) -> str:
    """A task approval's task type, read from the engine's default request reason ("P1
    deployment task requires human approval"; the priority word may be older than an
    escalated priority); "" for a gate or a custom reason."""
    if a.kind == "gate":
        return ""
    words = (a.request_reason or "").split()
    if len(words) >= 3 and PRIORITY_WORD.match(words[0]) and words[2] == "task":
        return words[1]
    return ""


def subject_of(a: Approval) -> str:
    """What the approval is about, in one short word: a gate's step, a task's type."""
    if a.kind == "gate":
        return f"{a.step_id or 'gate'}"
    return task_type_of(a) or short_id(a.task_id)


def votes_text(a: Approval) -> str:
    """"1 of 2" for a quorum approval (the engine's own words), "" otherwise."""
    return a.progress if a.quorum > 1 else ""


def assignees_text(a: Approval) -> str:
    """Who may decide: the assignees, else the roles and users the approval lists, else
    the default deciders (agents and admins)."""
    if a.assignees:
        return ", ".join(a.assignees)
    if a.allowed_roles:
        return ", ".join(f"role:{role}" for role in a.allowed_roles)
    return "-"


def requested_by(a: Approval) -> str:
    """Who asked: the task's creator (or whoever retried it), a gate's run."""
    if a.requested_by:
        return a.requested_by
    if a.kind == "gate" and a.run_id:
        return f"run {short_id(a.run_id)}"
    return "-"


FILTER_HELP = ("words, p:P0 (or priority:), kind:task|gate, type:TASKTYPE (a gate's step id), "
               "id:PREFIX")


def parse_filter(text: str) -> tuple[dict[str, str], list[str]]:
    """``status:failed p:P0 deploy`` -> ({"status": "failed", "p": "P0"}, ["deploy"])."""
    fields: dict[str, str] = {}
    words: list[str] = []
    for token in text.split():
        key, sep, value = token.partition(":")
        if sep and key and value:
            fields[key.lower()] = value
        else:
            words.append(token.lower())
    return fields, words


class FilterError(ValueError):
    """A filter key the inbox does not know (the shell command's exit status 2)."""


KNOWN_KEYS = frozenset({"p", "priority", "kind", "type", "id"})


def matches(a: Approval, fields: dict[str, str], words: list[str],
            *extra: object) -> bool:
    """Whether ``a`` passes the inbox filter: every ``key:value`` and every word (words
    look in the id, kind, priority, type, reasons, prompt, task/run/step ids, deciders and
    ``extra``)."""
    prio = (fields.get("p") or fields.get("priority") or "").upper()
    if prio and a.priority != prio:
        return False
    kind = (fields.get("kind") or "").lower()
    if kind and a.kind != kind:
        return False
    wanted_type = (fields.get("type") or "").lower()
    if wanted_type and wanted_type != (task_type_of(a) if a.kind != "gate"
                                       else (a.step_id or "")).lower():
        return False
    prefix = (fields.get("id") or "").lower()
    if prefix and not a.approval_id.lower().startswith(prefix) \
            and not a.approval_id.lower().removeprefix("approval_").startswith(prefix):
        return False
    if not words:
        return True
    haystack = " ".join(str(v).lower() for v in (
        a.approval_id, a.kind, a.priority, task_type_of(a), a.request_reason, a.prompt,
        a.task_id, a.run_id, a.step_id, a.decided_by, a.requested_by, *a.assignees, *extra)
        if v)
    return all(word in haystack for word in words)


def select(items: list[Approval], text: str, *, strict: bool = False) -> list[Approval]:
    """The approvals matching the filter ``text``, in the given order. ``strict``: refuse a
    ``key:`` the inbox does not know (the shell command; the console treats it as a word)."""
    fields, words = parse_filter(text)
    unknown = sorted(set(fields) - KNOWN_KEYS)
    if strict and unknown:
        raise FilterError(f"unknown filter key {unknown[0]}: (use {FILTER_HELP})")
    for key in unknown:
        words.append(f"{key}:{fields.pop(key)}".lower())
    return [a for a in items if matches(a, fields, words)]
