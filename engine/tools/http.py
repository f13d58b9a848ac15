"""The ``http`` tool: one HTTP request with a timeout.

Why it returns non-2xx responses as failures with the response attached: a tool step that
verifies a deployment must fail (or branch via ``on_failure``) on a 500, and the operator
needs to see what the server said. Bodies are capped so a large download cannot bloat run
history.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgspec

from switchboard.engine.tools.registry import Tool, ToolContext, ToolError

MAX_BODY_BYTES = 65_536
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


async def http_request(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    method = str(args.get("method", "GET")).upper()
    if method not in METHODS:
        raise ToolError(f"method must be one of {', '.join(METHODS)}")
    url = str(args["url"])
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise ToolError(f"url must be an absolute http(s) URL, got {url!r}")
    headers = {str(k): str(v) for k, v in (args.get("headers") or {}).items()}
    if ctx.idempotency_key and method != "GET":
        headers.setdefault("Idempotency-Key", ctx.idempotency_key)
    timeout = aiohttp.ClientTimeout(total=float(args.get("timeout", 30)))
    data: bytes | None = None
    if args.get("json") is not None:
        data = msgspec.json.encode(args["json"])
        headers.setdefault("Content-Type", "application/json")
    elif args.get("body") is not None:
        data = str(args["body"]).encode()
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.request(
            method, url, headers=headers, params=args.get("params") or None, data=data
        ) as response:
            raw = await response.content.read(MAX_BODY_BYTES + 1)
            status = response.status
            content_type = response.headers.get("Content-Type", "")
    except TimeoutError:
        raise ToolError(f"request to {url} timed out after {timeout.total:g}s") from None
    except aiohttp.ClientError as exc:
        raise ToolError(f"request to {url} failed: {type(exc).__name__}: {exc}") from None
    truncated = len(raw) > MAX_BODY_BYTES
    text = raw[:MAX_BODY_BYTES].decode("utf-8", "replace")
    result: dict[str, Any] = {"status": status, "url": url, "content_type": content_type,
                              "body": text, "truncated": truncated}
    if "json" in content_type and not truncated:
        try:
            result["json"] = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            pass
    if status >= 400:
        raise ToolError(f"HTTP {status} from {url}", output=result)
    return result


def http_tool() -> Tool:
    obj = {"type": "object"}
    return Tool(
        name="http", kind="http", timeout=30, handler=http_request,
        description="Make an HTTP request; non-2xx statuses count as failures.",
        parameters={"type": "object", "required": ["url"], "properties": {
            "url": {"type": "string"},
            "method": {"type": "string", "enum": list(METHODS)},
            "headers": obj, "params": obj, "json": {},
            "body": {"type": "string"}, "timeout": {"type": "number"}}},
    )
