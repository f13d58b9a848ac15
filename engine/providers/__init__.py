"""LLM providers (DESIGN.md "Provider"): the contract, the offline builtin provider, an
OpenAI-compatible provider, a registry with a switchable default, and cost computation."""

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
from switchboard.engine.providers.openai import OpenAIProvider
from switchboard.engine.providers.pricing import compute_cost, price_for
from switchboard.engine.providers.registry import ProviderRegistry, UnknownProviderError, build_providers

__all__ = [
    "BUILTIN_LABEL",
    "BuiltinProvider",
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
