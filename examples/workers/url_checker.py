"""A worker that checks URLs and summarises their health: status, latency, size, title.

    URL_CHECK_ALLOWED_HOSTS="status.example.com,127.0.0.1" switchboard worker \\
        examples/workers/url_checker.py:handle --type ops_agent --url http://127.0.0.1:8000

Task payload (a ``monitoring`` task routes to ops_agent)::

    {"urls": ["http://127.0.0.1:8000/health"], "timeout": 5, "expect_status": 200}

Why a host allow-list: the worker fetches what a task names, so without one, anyone who
can create tasks could make it probe the worker's internal network. The default allows
only loopback. The task fails if any URL is down or answers other than ``expect_status``;
the result always carries every URL's figures.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from switchboard.server.contract import Task
from switchboard.server.sdk.worker import TaskContext, TaskFailed

DEFAULT_HOSTS = ("127.0.0.1", "localhost", "::1")
MAX_URLS = 50
MAX_BODY = 65_536
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def allowed_hosts() -> frozenset[str]:
    raw = os.environ.get("URL_CHECK_ALLOWED_HOSTS")
    names = [h.strip().lower() for h in raw.split(",")] if raw else list(DEFAULT_HOSTS)
    return frozenset(h for h in names if h)


def check_url(url: Any) -> str:
    if not isinstance(url, str):
        raise TaskFailed(f"every url must be a string (got {url!r})")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TaskFailed(f"{url!r} is not an http(s) URL")
    if parts.hostname.lower() not in allowed_hosts():
        raise TaskFailed(f"host {parts.hostname!r} is not allowed "
                         f"(URL_CHECK_ALLOWED_HOSTS: {', '.join(sorted(allowed_hosts()))})")
    return url


async def probe(session: aiohttp.ClientSession, url: str, timeout: float) -> dict[str, Any]:
    """One URL's figures; a failure is a result (``ok: false``), not an exception."""
    started = time.perf_counter()
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout),
                               allow_redirects=False) as resp:
            body = await resp.content.read(MAX_BODY)
            match = _TITLE.search(body)
            return {"url": url, "ok": True, "status": resp.status,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                    "content_type": resp.headers.get("Content-Type"), "bytes": len(body),
                    "title": match.group(1).decode(errors="replace").strip()[:200]
                    if match else None}
    except (aiohttp.ClientError, TimeoutError) as exc:
        return {"url": url, "ok": False, "status": None, "error": f"{type(exc).__name__}: {exc}",
                "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


async def handle(task: Task, ctx: TaskContext) -> dict[str, Any]:
    urls = task.payload.get("urls") or ([task.payload["url"]] if "url" in task.payload else [])
    if not urls or len(urls) > MAX_URLS:
        raise TaskFailed(f"payload.urls must list 1 to {MAX_URLS} URLs")
    checked = [check_url(u) for u in urls]
    timeout = float(task.payload.get("timeout", 5.0))
    expect = task.payload.get("expect_status", 200)
    results: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        for index, url in enumerate(checked, 1):
            result = await probe(session, url, timeout)
            result["healthy"] = result["ok"] and result["status"] == expect
            results.append(result)
            await ctx.progress(int(100 * index / len(checked)),
                               f"{url}: {result.get('status') or result.get('error')} "
                               f"in {result['latency_ms']} ms")
            await asyncio.sleep(0)
    healthy = sum(1 for r in results if r["healthy"])
    summary = {"checked": len(results), "healthy": healthy, "unhealthy": len(results) - healthy,
               "results": results}
    if healthy < len(results):
        down = ", ".join(r["url"] for r in results if not r["healthy"])
        raise TaskFailed(f"{len(results) - healthy} of {len(results)} unhealthy: {down}")
    return summary
