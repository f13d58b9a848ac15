"""Seed 002's ``adk`` provider: agent turns through Google's Agent Development Kit.

Why ADK's model layer and not its agent loop: our executor owns the tool-calling loop
(each tool call is an event, obeys the step's tool list and the privilege rules, and is
checkpointed); ADK's ``Runner`` would call the tools itself, outside all of that. So each
turn is one ADK model call: our messages and tool specs become an ADK ``LlmRequest``
(``google.genai`` contents, function declarations with JSON Schema parameters), an ADK
``BaseLlm`` answers with an ``LlmResponse``, and its text, function calls and token
counts come back as our ``Turn``.

Which ``BaseLlm``: with ``[providers.adk] base_url`` set (the default is OpenAI's), a small
``BaseLlm`` of ours that speaks to any OpenAI-compatible endpoint through the ``openai``
provider's HTTP client (retries, ``Retry-After``, streamed tool calls; ADK's own route
there is LiteLLM, which we do not take on: it is large and two of its 2026 releases were
a supply-chain attack). With ``base_url = ""``, ADK's model registry picks the model class
from its name (``gemini-*`` through google-genai, with ``GOOGLE_API_KEY``).

google-adk is an optional extra (``pip install 'switchboard-console[adk]'``, about 20
packages); without it the provider is listed with ``available: false`` and the reason.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from functools import cache
from typing import Any

from switchboard.engine.config import ADKProviderConfig
from switchboard.engine.providers.base import (
    Message,
    ProviderFeatures,
    ProviderResponseError,
    ProviderUnavailableError,
    ToolCall,
    ToolSpec,
    Turn,
    TurnChunk,
    Usage,
)
from switchboard.engine.providers.extras import missing_extra
from switchboard.engine.providers.openai import OpenAIProvider

SDK_MODULE = "google.adk"


# -- our messages <-> google.genai contents ---------------------------------------------------

def to_llm_request(messages: Sequence[Message], tools: Sequence[ToolSpec], model: str, *,
                   temperature: float | None = None, max_tokens: int | None = None) -> Any:
    """Our conversation as an ADK ``LlmRequest``."""
    from google.adk.models.llm_request import LlmRequest
    from google.genai import types

    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    contents: list[Any] = []
    for message in messages:
        if message.role == "user":
            contents.append(types.Content(role="user", parts=[types.Part(text=message.content)]))
        elif message.role == "assistant":
            parts = [types.Part(text=message.content)] if message.content else []
            parts += [types.Part(function_call=types.FunctionCall(
                id=call.id, name=call.name, args=dict(call.arguments)))
                for call in message.tool_calls]
            contents.append(types.Content(role="model", parts=parts))
        elif message.role == "tool":
            contents.append(types.Content(role="user", parts=[types.Part(
                function_response=types.FunctionResponse(
                    id=message.tool_call_id, name=message.name or "",
                    response={"result": message.content}))]))
    config = types.GenerateContentConfig(
        system_instruction=system or None, temperature=temperature,
        max_output_tokens=max_tokens,
        tools=[types.Tool(function_declarations=[
            types.FunctionDeclaration(name=t.name, description=t.description,
                                      parameters_json_schema=t.parameters) for t in tools])]
        if tools else None)
    return LlmRequest(model=model, contents=contents, config=config)


def from_llm_request(request: Any) -> tuple[list[Message], list[ToolSpec]]:
    """An ADK ``LlmRequest`` as our messages and tool specs (for OpenAI-compatible calls)."""
    messages: list[Message] = []
    config = request.config
    system: Any = config.system_instruction if config is not None else None
    if isinstance(system, str) and system:
        messages.append(Message.system(system))
    elif system is not None and getattr(system, "parts", None):
        messages.append(Message.system("".join(p.text or "" for p in system.parts)))
    for content in request.contents or []:
        texts = [p.text for p in content.parts or [] if p.text]
        calls = [p.function_call for p in content.parts or [] if p.function_call]
        replies = [p.function_response for p in content.parts or [] if p.function_response]
        if content.role == "model":
            messages.append(Message(role="assistant", content="".join(texts), tool_calls=[
                ToolCall(id=c.id or f"call_{i}", name=c.name or "", arguments=dict(c.args or {}))
                for i, c in enumerate(calls)]))
            continue
        for reply in replies:
            response = reply.response or {}
            text = response.get("result") if set(response) == {"result"} else None
            messages.append(Message(role="tool", tool_call_id=reply.id, name=reply.name,
                                    content=text if isinstance(text, str)
                                    else json.dumps(response)))
        if texts:
            messages.append(Message.user("".join(texts)))
    specs: list[ToolSpec] = []
    for tool in (config.tools or []) if config is not None else []:
        for decl in getattr(tool, "function_declarations", None) or []:
            schema = decl.parameters_json_schema
            if schema is None and decl.parameters is not None:
                schema = decl.parameters.model_dump(mode="json", exclude_none=True)
            specs.append(ToolSpec(name=decl.name or "", description=decl.description or "",
                                  parameters=schema or {"type": "object", "properties": {}}))
    return messages, specs


def to_llm_response(turn: Turn, *, partial: bool = False) -> Any:
    """Our ``Turn`` (or a streamed piece of text) as an ADK ``LlmResponse``."""
    from google.adk.models.llm_response import LlmResponse
    from google.genai import types

    parts = [types.Part(text=turn.text)] if turn.text else []
    parts += [types.Part(function_call=types.FunctionCall(id=c.id, name=c.name,
                                                          args=dict(c.arguments)))
              for c in turn.tool_calls]
    usage = types.GenerateContentResponseUsageMetadata(
        prompt_token_count=turn.usage.input_tokens,
        candidates_token_count=turn.usage.output_tokens,
        total_token_count=turn.usage.total_tokens) if not partial else None
    return LlmResponse(content=types.Content(role="model", parts=parts), partial=partial,
                       usage_metadata=usage, model_version=turn.model or None,
                       finish_reason=None if partial else types.FinishReason.STOP,
                       turn_complete=not partial)


def from_llm_response(response: Any, provider: str, model: str) -> Turn:
    """An ADK ``LlmResponse`` as our ``Turn``; ProviderResponseError for an error reply."""
    if response is None:
        raise ProviderResponseError(provider, "the model returned no response")
    if response.error_code or response.error_message:
        raise ProviderResponseError(provider, f"{response.error_code or 'error'}: "
                                    f"{response.error_message or 'no detail'}")
    parts = response.content.parts if response.content is not None else None
    texts = [p.text for p in parts or [] if p.text and not p.thought]
    calls = [ToolCall(id=p.function_call.id or f"call_{i}", name=p.function_call.name or "",
                      arguments=dict(p.function_call.args or {}))
             for i, p in enumerate(parts or []) if p.function_call]
    meta = response.usage_metadata
    usage = Usage(input_tokens=(meta.prompt_token_count or 0) if meta else 0,
                  output_tokens=(meta.candidates_token_count or 0) if meta else 0)
    finish = response.finish_reason
    return Turn(text="".join(texts), tool_calls=calls, usage=usage,
                model=response.model_version or model, provider=provider,
                finish_reason="tool_calls" if calls else
                (str(getattr(finish, "value", finish)).lower() if finish else None))


@cache
def openai_compatible_llm_class() -> type:
    """The ADK ``BaseLlm`` for OpenAI-compatible endpoints (built on first use: ADK is
    optional, so nothing here may import it at module level)."""
    from google.adk.models.base_llm import BaseLlm
    from google.adk.models.llm_request import LlmRequest
    from google.adk.models.llm_response import LlmResponse
    from pydantic import PrivateAttr

    class OpenAICompatibleLlm(BaseLlm):
        """Any OpenAI-compatible chat-completions endpoint, as an ADK model."""

        _http: OpenAIProvider = PrivateAttr()

        def __init__(self, *, model: str, http: OpenAIProvider) -> None:
            super().__init__(model=model)
            self._http = http

        @classmethod
        def supported_models(cls) -> list[str]:
            return []

        async def generate_content_async(self, llm_request: LlmRequest, stream: bool = False
                                         ) -> AsyncIterator[LlmResponse]:
            messages, tools = from_llm_request(llm_request)
            config = llm_request.config
            options = {"temperature": config.temperature if config else None,
                       "max_tokens": config.max_output_tokens if config else None}
            model = llm_request.model or self.model
            if not stream:
                yield to_llm_response(await self._http.complete(messages, tools, model,
                                                                 **options))
                return
            async for chunk in self._http.stream(messages, tools, model, **options):
                if chunk.turn is not None:
                    yield to_llm_response(chunk.turn)
                elif chunk.text:
                    yield to_llm_response(Turn(text=chunk.text), partial=True)

    return OpenAICompatibleLlm


class ADKProvider:
    """Turns through an ADK model: OpenAI-compatible endpoint, or ADK's model registry."""

    name = "adk"
    display_name = "ADKProvider"

    def __init__(self, config: ADKProviderConfig, *, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.default_model = config.model
        self.features = ProviderFeatures(generation=True, execution=True, refinement=True,
                                         streaming=True, compose=True)
        self._missing = missing_extra(SDK_MODULE, "adk", "google-adk (Google's Agent "
                                      "Development Kit)")
        self._http = (OpenAIProvider(base_url=config.base_url, model=config.model,
                                     api_key_env=config.api_key_env,
                                     timeout_seconds=config.timeout_seconds,
                                     max_retries=config.max_retries, env=env)
                      if config.base_url else None)
        self._llms: dict[str, Any] = {}

    def unavailable_reason(self) -> str | None:
        if self._missing:
            return self._missing
        if self._http is not None and not self._http.available():
            return (f"no API key for {self.config.base_url}: set the environment variable "
                    f"{self.config.api_key_env}")
        return None

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def configure(self, **options: Any) -> None:
        if self._http is not None:
            self._http.configure(**options)

    def llm(self, model: str | None = None) -> Any:
        """The ADK model object for ``model`` (cached per name)."""
        reason = self.unavailable_reason()
        if reason is not None:
            raise ProviderUnavailableError(self.name, reason)
        key = model or self.default_model
        llm = self._llms.get(key)
        if llm is None:
            if self._http is not None:
                llm = openai_compatible_llm_class()(model=key, http=self._http)
            else:
                from google.adk.models.registry import LLMRegistry

                try:
                    llm = LLMRegistry.new_llm(key)
                except ValueError as exc:
                    raise ProviderUnavailableError(self.name, f"ADK has no model {key!r}: "
                                                   f"{exc}") from None
            self._llms[key] = llm
        return llm

    async def complete(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = (),
                       model: str | None = None, *, temperature: float | None = None,
                       max_tokens: int | None = None) -> Turn:
        llm = self.llm(model)
        request = to_llm_request(messages, tools, llm.model, temperature=temperature,
                                 max_tokens=max_tokens)
        final = None
        async for response in llm.generate_content_async(request, stream=False):
            final = response
        return from_llm_response(final, self.name, llm.model)

    async def stream(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = (),
                     model: str | None = None, *, temperature: float | None = None,
                     max_tokens: int | None = None) -> AsyncIterator[TurnChunk]:
        llm = self.llm(model)
        request = to_llm_request(messages, tools, llm.model, temperature=temperature,
                                 max_tokens=max_tokens)
        final = None
        async for response in llm.generate_content_async(request, stream=True):
            if response.partial:
                text = "".join(p.text or "" for p in (response.content.parts or [])
                               if p.text) if response.content else ""
                if text:
                    yield TurnChunk(text=text)
            else:
                final = response
        yield TurnChunk(turn=from_llm_response(final, self.name, llm.model))

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
