"""Tools from MCP servers: each configured server's tools, registered as ordinary tools.

Why registered tools rather than something the agent loop knows about: an MCP tool is a
tool like any other to the executor (offered by name in an agent step's ``tools``, or run
by a tool step; ``tool_execution``/``tool_result`` events; timeouts; failures as results),
and to the rules around tools: their kind is ``mcp``, a privileged kind, so inline
workflows posted by non-admins may use them only where ``[tools]
inline_tools_for_non_admins`` allows "mcp" (see ``engine.orchestrations.inline``).

Names: ``mcp__<server>__<tool>``. Model APIs accept only ``[A-Za-z0-9_-]{1,64}`` as
function names, so other characters in a tool's name become ``_`` and a name that would
exceed 64 characters is skipped (logged).

Connections: one per server, opened at engine start and kept (a stdio server is a child
process; spawning it per call would cost seconds). The official SDK's client is a set of
anyio context managers that must be entered and left in the same task, so each connection
lives in a task of its own and calls go through its session. A server that cannot be
reached at start is retried on first use; its allow-listed tools are registered anyway
(with an open argument schema) so that definitions naming them still load. A call that
fails is never repeated (the server may have acted); if the server then no longer answers
a tools listing (its process exited, the connection dropped), the next call reconnects.

Outbound policy: the servers' commands and URLs come from the operator's config file, not
from callers, so they are not subject to the ``http`` tool's address checks (like
``[providers.openai] base_url``). What a server does with the arguments it is given is
its own affair: that is why its tools are privileged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from switchboard.engine.config import MCPProviderConfig, MCPServerConfig
from switchboard.engine.tools.registry import Tool, ToolContext, ToolError, ToolRegistry

log = logging.getLogger("switchboard.mcp")

KIND = "mcp"
PREFIX = "mcp__"
SEPARATOR = "__"
MAX_NAME = 64
CLOSE_TIMEOUT = 10.0
PING_TIMEOUT = 5.0
_INVALID = re.compile(r"[^A-Za-z0-9_-]")
OPEN_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": True}


def tool_name(server: str, tool: str) -> str:
    """The registry name of ``tool`` on ``server``: ``mcp__<server>__<tool>``."""
    return f"{PREFIX}{server}{SEPARATOR}{_INVALID.sub('_', tool)}"


def result_output(result: Any) -> Any:
    """An MCP ``CallToolResult`` as a tool output: the structured content when the server
    sent it, else the text (several text blocks joined), else a list of content blocks
    (binary data replaced by its size). Raises ToolError when the server flagged an error."""
    blocks: list[Any] = []
    texts: list[str] = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            texts.append(block.text)
            blocks.append({"type": "text", "text": block.text})
        elif kind in ("image", "audio"):
            blocks.append({"type": kind, "mime_type": getattr(block, "mime_type", None),
                           "bytes": len(getattr(block, "data", "") or "") * 3 // 4})
        else:
            blocks.append(block.model_dump(mode="json", exclude_none=True))
    text = "\n".join(texts)
    if result.is_error:
        raise ToolError(text or "the MCP server reported an error", output=None)
    if result.structured_content is not None:
        return result.structured_content
    if len(texts) == len(blocks):
        return text
    return blocks


class MCPConnection:
    """One configured server: connects, lists its tools, calls them."""

    def __init__(self, config: MCPServerConfig, *, connect_timeout: float,
                 log_dir: Path | None = None, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.connect_timeout = connect_timeout
        self.log_dir = log_dir
        self._env = env if env is not None else os.environ
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._closing: asyncio.Event | None = None
        self._lock = asyncio.Lock()
        self._errlog: TextIO | None = None
        self.last_error: str | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def connected(self) -> bool:
        return self._client is not None and self._task is not None and not self._task.done()

    def _transport(self, stack: contextlib.AsyncExitStack) -> Any:
        """The SDK transport for this server (an async context manager of two streams);
        what it needs closed afterwards goes on ``stack``."""
        if self.config.transport == "stdio":
            from mcp.client.stdio import StdioServerParameters, stdio_client

            params = StdioServerParameters(command=self.config.command or "",
                                           args=list(self.config.args),
                                           env=dict(self.config.env) or None,
                                           cwd=self.config.cwd)
            return stdio_client(params, errlog=self._stderr())
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        headers = {}
        if self.config.bearer_token_env:
            token = self._env.get(self.config.bearer_token_env)
            if not token:
                raise ConnectionError(f"set the environment variable "
                                      f"{self.config.bearer_token_env} (the server's token)")
            headers["Authorization"] = f"Bearer {token}"
        client = httpx2.AsyncClient(headers=headers,
                                    timeout=httpx2.Timeout(self.config.timeout_seconds,
                                                           read=None))
        stack.push_async_callback(client.aclose)  # a client we pass in is ours to close
        return streamable_http_client(self.config.url or "", http_client=client)

    def _stderr(self) -> TextIO:
        """Where a stdio server's stderr goes: a log file, never the console's terminal."""
        if self._errlog is None or self._errlog.closed:
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                self._errlog = open(self.log_dir / f"mcp-{self.name}.log", "a",
                                    encoding="utf-8")
            else:
                self._errlog = open(os.devnull, "w", encoding="utf-8")
        return self._errlog

    async def _own(self, ready: asyncio.Future[list[Any]], closing: asyncio.Event) -> None:
        """The task that owns the SDK client for as long as the connection lives."""
        from mcp import Client

        try:
            async with contextlib.AsyncExitStack() as stack, Client(
                    self._transport(stack), read_timeout_seconds=self.config.timeout_seconds,
                    mode="auto") as client:
                tools = await _list_tools(client)
                self._client = client
                ready.set_result(tools)
                await closing.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception)
                                    else ConnectionError(f"{type(exc).__name__}"))
            elif not isinstance(exc, asyncio.CancelledError):
                log.warning("MCP server %s: connection ended: %s", self.name, _describe(exc))
                self.last_error = _describe(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self._client = None

    async def open(self) -> list[Any]:
        """Connect (if not connected) and return the server's tools (``mcp.types.Tool``).
        Raises ConnectionError with the reason."""
        async with self._lock:
            if self.connected:
                return await _list_tools(self._client)
            await self._stop_task()
            loop = asyncio.get_running_loop()
            ready: asyncio.Future[list[Any]] = loop.create_future()
            self._closing = asyncio.Event()
            self._task = asyncio.create_task(self._own(ready, self._closing),
                                             name=f"mcp-{self.name}")
            try:
                async with asyncio.timeout(self.connect_timeout):
                    tools = await asyncio.shield(ready)
            except BaseException as exc:
                await self._stop_task()
                self.last_error = (f"no answer within {self.connect_timeout:g}s"
                                   if isinstance(exc, TimeoutError) else _describe(exc))
                if isinstance(exc, asyncio.CancelledError):
                    raise
                raise ConnectionError(f"MCP server {self.name!r}: {self.last_error}") from None
            self.last_error = None
            return tools

    async def call(self, tool: str, arguments: dict[str, Any], timeout: float) -> Any:
        """Call ``tool`` with ``arguments``; the output as ``result_output`` gives it."""
        if not self.connected:
            await self.open()
        client = self._client
        try:
            result = await client.call_tool(tool, arguments, read_timeout_seconds=timeout)
        except Exception as exc:
            # not retried: the server may have acted before failing. If it no longer answers
            # (its process exited, the connection dropped), the next call reconnects.
            if not await self._answers(client):
                await self._stop_task()
            raise ToolError(f"MCP server {self.name!r}: {_describe(exc)}") from None
        return result_output(result)

    async def _answers(self, client: Any) -> bool:
        """Does the server still answer? (A tools listing: ``ping`` is gone from the
        2026-07-28 protocol.)"""
        try:
            async with asyncio.timeout(PING_TIMEOUT):
                await client.list_tools(cache_mode="bypass")
        except Exception:
            return False
        return True

    async def _stop_task(self) -> None:
        task, self._task = self._task, None
        if self._closing is not None:
            self._closing.set()
        if task is not None and not task.done():
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await asyncio.shield(task)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            except BaseException:
                pass
        self._client = None

    async def close(self) -> None:
        await self._stop_task()
        if self._errlog is not None:
            self._errlog.close()
            self._errlog = None


async def _list_tools(client: Any) -> list[Any]:
    tools: list[Any] = []
    cursor: str | None = None
    for _ in range(100):  # a paginator that never ends cannot hang start-up
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def _describe(exc: BaseException) -> str:
    """A one-line reason, digging into exception groups (anyio task groups raise them)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class MCPToolSource:
    """Every configured server, and the tools they contribute to a registry."""

    def __init__(self, config: MCPProviderConfig, *, log_dir: Path | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.connections = {
            server.name: MCPConnection(server, connect_timeout=config.connect_timeout_seconds,
                                       log_dir=log_dir, env=env)
            for server in config.servers
        }
        self.registered: dict[str, tuple[str, str]] = {}
        """registry name -> (server, the tool's own name)"""
        self._registry: ToolRegistry | None = None

    async def start(self, registry: ToolRegistry) -> None:
        """Connect to every server (concurrently) and register the tools they offer."""
        self._registry = registry
        names = list(self.connections)
        results = await asyncio.gather(*(self.connections[n].open() for n in names),
                                       return_exceptions=True)
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("%s; its allow-listed tools are registered and it is retried on "
                            "first use", result)
                self._register(self.connections[name], None)
            else:
                self._register(self.connections[name], result)
                log.info("MCP server %s: %d tool(s) registered", name,
                         sum(1 for s, _ in self.registered.values() if s == name))

    def _register(self, connection: MCPConnection, listed: Sequence[Any] | None) -> None:
        """Register ``connection``'s allowed tools (with their schemas when ``listed``)."""
        registry = self._registry
        if registry is None:
            return
        allowed = list(connection.config.tools)
        if listed is None:
            entries = [(name, "", OPEN_SCHEMA) for name in allowed]
        else:
            offered = {tool.name: tool for tool in listed}
            for name in allowed:
                if name not in offered:
                    log.warning("MCP server %s does not offer the allow-listed tool %r "
                                "(it offers: %s)", connection.name, name,
                                ", ".join(sorted(offered)) or "nothing")
            entries = [(tool.name, tool.description or "", dict(tool.input_schema or OPEN_SCHEMA))
                       for tool in listed if not allowed or tool.name in allowed]
        for original, description, schema in entries:
            name = tool_name(connection.name, original)
            if len(name) > MAX_NAME:
                log.warning("MCP tool %r of server %s skipped: %s is longer than %d characters",
                            original, connection.name, name, MAX_NAME)
                continue
            owner = self.registered.get(name)
            if owner is not None and owner != (connection.name, original):
                log.warning("MCP tool %r of server %s skipped: its name %s is taken by %r",
                            original, connection.name, name, owner[1])
                continue
            self.registered[name] = (connection.name, original)
            registry.register(Tool(
                name=name, kind=KIND, timeout=connection.config.timeout_seconds,
                description=(f"{description} " if description else "")
                + f"(MCP server {connection.name}, tool {original})",
                parameters=schema, handler=self._handler(connection, original)),
                replace=True)

    def _handler(self, connection: MCPConnection,
                 original: str) -> Callable[[dict[str, Any], ToolContext], Any]:
        async def handler(args: dict[str, Any], _ctx: ToolContext) -> Any:
            if not connection.connected:
                try:
                    listed = await connection.open()
                except ConnectionError as exc:
                    raise ToolError(str(exc)) from None
                self._register(connection, listed)  # the real schemas, now that it answered
            return await connection.call(original, args, connection.config.timeout_seconds)

        return handler

    def names(self, server: str | None = None) -> list[str]:
        """Registered MCP tool names (of one server, or all)."""
        return sorted(n for n, (s, _) in self.registered.items() if server in (None, s))

    def resolve(self, name: str) -> str | None:
        """A registry name for ``name``: itself if registered, else the one tool of that
        bare MCP name (``kubernetes-validator``) if exactly one server offers it."""
        if name in self.registered:
            return name
        matches = [n for n, (_, original) in self.registered.items() if original == name]
        return matches[0] if len(matches) == 1 else None

    def status(self) -> dict[str, dict[str, Any]]:
        """Per server: connected, its registered tools, the last connection error."""
        return {name: {"transport": c.config.transport, "connected": c.connected,
                       "tools": self.names(name), "error": c.last_error}
                for name, c in self.connections.items()}

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.connections.values()),
                             return_exceptions=True)
