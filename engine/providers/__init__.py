"""LLM providers (DESIGN.md "Provider"): the contract, the offline builtin provider, an
OpenAI-compatible provider, a registry with a switchable default, and cost computation."""

from engine.providers.base import (
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
from engine.providers.builtin import LABEL as BUILTIN_LABEL
from engine.providers.builtin import BuiltinProvider
from engine.providers.openai import OpenAIProvider
from engine.providers.pricing import compute_cost, price_for
from engine.providers.registry import ProviderRegistry, UnknownProviderError, build_providers

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
