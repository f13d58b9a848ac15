"""Built-in tools that work offline: simulated ``web_search``, ``publish`` and ``notify``,
plus genuinely useful ``word_count`` and ``current_time``.

Why simulated tools at all: the demo and the example orchestrations must show real
tool_execution/tool_result events with no network and no side effects. Each simulated
tool says so in its output (``"simulated": true`` and a notice), so its results are never
mistaken for real search hits or a real publication.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from switchboard.engine.clock import Clock, SystemClock, iso
from switchboard.engine.tools.registry import Tool, ToolContext

SIMULATED_NOTICE = "Simulated offline tool: no network was used; results are not real."

_SITES = ["example.org", "example.com", "example.net"]
_KINDS = ["overview", "analysis", "case study", "news roundup", "reference guide"]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "item"


def _seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


async def web_search(args: dict[str, Any], _ctx: ToolContext) -> dict[str, Any]:
    query = str(args["query"]).strip()
    count = max(1, min(int(args.get("max_results", 3)), 5))
    seed = _seed(query)
    results = []
    for i in range(count):
        kind = _KINDS[(seed >> (i * 3)) % len(_KINDS)]
        site = _SITES[(seed >> (i * 5)) % len(_SITES)]
        results.append({
            "title": f"{query}: {kind}",
            "url": f"https://{site}/{_slug(query)}/{_slug(kind)}",
            "snippet": f"{kind.capitalize()} of {query} (simulated result {i + 1} of {count}).",
        })
    return {"simulated": True, "notice": SIMULATED_NOTICE, "query": query, "results": results}


async def word_count(args: dict[str, Any], _ctx: ToolContext) -> dict[str, int]:
    text = str(args["text"])
    return {"words": len(text.split()), "characters": len(text),
            "lines": text.count("\n") + 1 if text else 0}


def _current_time(clock: Clock) -> Tool:
    async def handler(_args: dict[str, Any], _ctx: ToolContext) -> dict[str, Any]:
        now = clock.now()
        return {"utc": iso(now), "epoch": now}

    return Tool(name="current_time", description="The current date and time in UTC.",
                handler=handler, parameters={"type": "object", "properties": {}}, timeout=5)


async def publish(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    title = str(args["title"])
    body = str(args.get("body", ""))
    return {"simulated": True, "notice": SIMULATED_NOTICE, "published": True,
            "title": title, "words": len(body.split()),
            "url": f"offline://published/{_slug(title)}",
            "idempotency_key": ctx.idempotency_key}


async def notify(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    return {"simulated": True, "notice": SIMULATED_NOTICE, "delivered": True,
            "channel": str(args["channel"]), "message": str(args["message"]),
            "idempotency_key": ctx.idempotency_key}


def builtin_tools(clock: Clock | None = None) -> list[Tool]:
    """The offline tools every registry starts with."""
    clock = clock or SystemClock()
    string = {"type": "string"}
    return [
        Tool(name="web_search", simulated=True, timeout=10, handler=web_search,
             description="Search the web (SIMULATED offline: deterministic fake results).",
             parameters={"type": "object", "required": ["query"], "properties": {
                 "query": {**string, "description": "What to search for"},
                 "max_results": {"type": "integer", "minimum": 1, "maximum": 5}}}),
        Tool(name="word_count", timeout=5, handler=word_count,
             description="Count words, characters and lines of a text.",
             parameters={"type": "object", "required": ["text"],
                         "properties": {"text": string}}),
        _current_time(clock),
        Tool(name="publish", simulated=True, timeout=10, handler=publish,
             description="Publish a document (SIMULATED offline: nothing leaves this machine).",
             parameters={"type": "object", "required": ["title"],
                         "properties": {"title": string, "body": string}}),
        Tool(name="notify", simulated=True, timeout=10, handler=notify,
             description="Send a notification to a channel (SIMULATED offline).",
             parameters={"type": "object", "required": ["channel", "message"],
                         "properties": {"channel": string, "message": string}}),
    ]
