"""The provider contract: what an agent step needs from an LLM backend.

Why our own small types instead of the OpenAI SDK's: the builtin offline provider, the
OpenAI-compatible one and any future backend must look the same to the agent loop, and turns
are recorded in run history and events (msgspec Structs encode cheaply and identically
everywhere). A provider does one model call per ``complete``; the tool-calling loop, tool
execution, turn limits and cost accounting belong to the executor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

Role = Literal["system", "user", "assistant", "tool"]


class ToolSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A tool as an LLM sees it: name, what it does, JSON Schema of its arguments."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = msgspec.field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )

    def openai(self) -> dict[str, Any]:
        """Chat-completions ``tools[]`` entry."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


class ToolCall(msgspec.Struct, frozen=True, kw_only=True):
    """A model's request to call a tool; ``id`` ties the result message back to it."""

    id: str
    name: str
    arguments: dict[str, Any] = {}


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """Token counts of one call (or a sum of calls)."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(input_tokens=self.input_tokens + other.input_tokens,
                     output_tokens=self.output_tokens + other.output_tokens)


class Message(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One chat message. Assistant messages may carry tool calls; tool messages answer one."""

    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = []
    tool_call_id: str | None = None
    name: str | None = None

    @classmethod
    def system(cls, content: str) -> Message:
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls(role="user", content=content)

    @classmethod
    def tool_result(cls, call: ToolCall, content: str) -> Message:
        return cls(role="tool", content=content, tool_call_id=call.id, name=call.name)


class Turn(msgspec.Struct, frozen=True, kw_only=True):
    """One model reply: text, tool calls (possibly several), usage."""

    text: str = ""
    tool_calls: list[ToolCall] = []
    usage: Usage = msgspec.field(default_factory=Usage)
    model: str = ""
    provider: str = ""
    finish_reason: str | None = None

    def message(self) -> Message:
        """The assistant message to append to the conversation before tool results."""
        return Message(role="assistant", content=self.text, tool_calls=list(self.tool_calls))


class TurnChunk(msgspec.Struct, frozen=True, kw_only=True):
    """A streamed piece: text as it arrives; the last chunk carries the assembled ``turn``."""

    text: str = ""
    turn: Turn | None = None


class ProviderFeatures(msgspec.Struct, frozen=True, kw_only=True):
    """Seed 002's feature flags, as listed by ``GET /providers``."""

    generation: bool = True
    execution: bool = True
    refinement: bool = True
    streaming: bool = True
    compose: bool = True


class ProviderError(Exception):
    """A provider call failed; ``message`` is for operators, ``status`` the HTTP status."""

    def __init__(
        self, provider: str, message: str, *, status: int | None = None, retryable: bool = False
    ) -> None:
        self.provider = provider
        self.message = message
        self.status = status
        self.retryable = retryable
        super().__init__(f"{provider}: {message}")


class ProviderResponseError(ProviderError):
    """The backend answered, but not with a well-formed chat-completions reply."""


class ProviderUnavailableError(ProviderError):
    """The provider is not usable as configured (e.g. no API key)."""


def unavailable_reason(provider: Provider) -> str:
    """Why ``provider`` cannot be used, as its operator should read it (providers that need
    an optional extra say how to install it)."""
    reason = getattr(provider, "unavailable_reason", None)
    text = reason() if callable(reason) else None
    return text or ("check its configuration, e.g. the API key environment variable")


@runtime_checkable
class Provider(Protocol):
    """An LLM backend. ``complete`` makes one call; ``stream`` yields text as it arrives
    and finishes with a chunk carrying the full ``Turn`` (only if ``features.streaming``)."""

    name: str
    display_name: str
    features: ProviderFeatures

    @property
    def default_model(self) -> str:
        """The model used when a step names none (an attribute or a property)."""
        ...

    def available(self) -> bool: ...

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        model: str | None = None,
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> Turn: ...

    def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        model: str | None = None,
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[TurnChunk]: ...

    async def aclose(self) -> None: ...
