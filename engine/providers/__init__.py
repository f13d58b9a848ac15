"""LLM providers (DESIGN.md "Provider"): the contract, the offline builtin provider, an
OpenAI-compatible provider, seed 002's mcp (MCP servers' tools) and adk (Google ADK, an
optional extra), a registry with a switchable default, and cost computation."""

from switchboard.engine.providers.adk import ADKProvider
from switchboard.engine.providers.base import (
    Message,
    Provider,
    ProviderError,
    ProviderFeatures,
    ProviderResponseError,
    ProviderUnavailableError,
    ToolCall,
    ToolSpec,
    Turn,
    TurnChunk,
    Usage,
)
from switchboard.engine.providers.builtin import LABEL as BUILTIN_LABEL
from switchboard.engine.providers.builtin import BuiltinProvider
from switchboard.engine.providers.mcp import MCPProvider
from switchboard.engine.providers.openai import OpenAIProvider
from switchboard.engine.providers.pricing import compute_cost, price_for
from switchboard.engine.providers.registry import ProviderRegistry, UnknownProviderError, build_providers

__all__ = [
    "BUILTIN_LABEL",
    "ADKProvider",
    "BuiltinProvider",
    "MCPProvider",
    "Message",
    "OpenAIProvider",
    "Provider",
    "ProviderError",
    "ProviderFeatures",
    "ProviderRegistry",
    "ProviderResponseError",
    "ProviderUnavailableError",
    "ToolCall",
    "ToolSpec",
    "Turn",
    "TurnChunk",
    "UnknownProviderError",
    "Usage",
    "build_providers",
    "compute_cost",
    "price_for",
]
