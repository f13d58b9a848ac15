"""Seed 002's ``mcp`` provider: tools from MCP servers, with another provider's model.

Why a provider at all, when MCP servers offer tools, not a model: seed 002 lists ``mcp``
beside ``adk`` as an orchestration provider that can be listed, switched to, asked to
generate and used in a multi-provider strategy. So ``mcp`` is the MCP-enabled provider:
it owns the connections to the servers in ``[providers.mcp] servers`` (their tools land
in the engine's tool registry as ``mcp__<server>__<tool>``, see ``engine.tools.mcp``),
and its turns are made by the model of ``[providers.mcp] model_provider`` (default
``builtin``). MCP tools are usable from any agent step, whatever its provider: naming
``provider = "mcp"`` only chooses that model. In ``POST /compose`` a validation stage
with provider ``mcp`` calls MCP tools as validators.

Without the ``mcp`` SDK (``pip install 'switchboard-console[mcp]'``) or without servers
it is listed with ``available: false`` and the reason, and requests naming it are refused
with that reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from switchboard.engine.config import MCPProviderConfig
from switchboard.engine.providers.base import (
    Message,
    Provider,
    ProviderFeatures,
    ProviderUnavailableError,
    ToolSpec,
    Turn,
    TurnChunk,
)
from switchboard.engine.providers.extras import missing_extra

SDK_MODULE = "mcp"


class MCPProvider:
    """MCP servers' tools plus the configured model provider's turns."""

    name = "mcp"
    display_name = "MCPProvider"

    def __init__(self, config: MCPProviderConfig, resolve: Callable[[str], Provider], *,
                 env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self._resolve = resolve
        self._env = env
        self._missing = missing_extra(SDK_MODULE, "mcp", "the MCP SDK (PyPI package 'mcp')")
        self.source: Any = None  # engine.tools.mcp.MCPToolSource once started
        self.features = ProviderFeatures(generation=True, execution=True, refinement=True,
                                         streaming=True, compose=True)

    # -- the model behind it --------------------------------------------------------------

    @property
    def model_provider(self) -> Provider:
        """The provider that makes this one's turns (``[providers.mcp] model_provider``)."""
        return self._resolve(self.config.model_provider)

    @property
    def default_model(self) -> str:
        try:
            return self.model_provider.default_model
        except KeyError:  # an unknown model_provider: reported by unavailable_reason()
            return ""

    def unavailable_reason(self) -> str | None:
        """Why requests naming ``mcp`` are refused, or None when it is usable."""
        if self._missing:
            return self._missing
        if not self.config.servers:
            return "no MCP servers are configured: add them to [providers.mcp] servers"
        try:
            model = self.model_provider
        except KeyError as exc:
            return f"[providers.mcp] model_provider: {exc}"
        if not model.available():
            reason = getattr(model, "unavailable_reason", lambda: None)()
            return (f"its model provider {model.name!r} is not available"
                    + (f": {reason}" if reason else ""))
        return None

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def configure(self, **options: Any) -> None:
        """Switch options (timeout, retries) apply to the model provider."""
        configure = getattr(self.model_provider, "configure", None)
        if callable(configure):
            configure(**options)

    def _model(self) -> Provider:
        reason = self.unavailable_reason()
        if reason is not None:
            raise ProviderUnavailableError(self.name, reason)
        return self.model_provider

    async def complete(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = (),
                       model: str | None = None, *, temperature: float | None = None,
                       max_tokens: int | None = None) -> Turn:
        turn = await self._model().complete(messages, tools, model, temperature=temperature,
                                            max_tokens=max_tokens)
        return Turn(text=turn.text, tool_calls=turn.tool_calls, usage=turn.usage,
                    model=turn.model, provider=self.name, finish_reason=turn.finish_reason)

    async def stream(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = (),
                     model: str | None = None, *, temperature: float | None = None,
                     max_tokens: int | None = None) -> AsyncIterator[TurnChunk]:
        async for chunk in self._model().stream(messages, tools, model, temperature=temperature,
                                                max_tokens=max_tokens):
            if chunk.turn is not None:
                turn = chunk.turn
                yield TurnChunk(text=chunk.text, turn=Turn(
                    text=turn.text, tool_calls=turn.tool_calls, usage=turn.usage,
                    model=turn.model, provider=self.name, finish_reason=turn.finish_reason))
            else:
                yield chunk

    # -- the servers ----------------------------------------------------------------------

    async def start(self, tools: Any, *, log_dir: Path | None = None) -> None:
        """Connect to the configured servers and register their tools in ``tools`` (the
        engine's ToolRegistry). Nothing to do without the SDK or without servers."""
        if self._missing or not self.config.servers or self.source is not None:
            return
        from switchboard.engine.tools.mcp import MCPToolSource

        self.source = MCPToolSource(self.config, log_dir=log_dir, env=self._env)
        await self.source.start(tools)

    def tool_names(self) -> list[str]:
        """The registry names of every MCP tool (``mcp__<server>__<tool>``)."""
        return self.source.names() if self.source is not None else []

    def resolve_tool(self, name: str) -> str | None:
        """``name`` as a registered MCP tool: a registry name, or a tool's own name when
        exactly one server offers it. None if neither."""
        return self.source.resolve(name) if self.source is not None else None

    async def aclose(self) -> None:
        if self.source is not None:
            await self.source.close()
            self.source = None
