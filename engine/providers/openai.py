"""A provider for any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama,
llama.cpp, Together...).

Why aiohttp rather than the official SDK: aiohttp is already our HTTP stack, and we need
exact control over what matters to operators: retry on 429/5xx with exponential backoff that
honours ``Retry-After``, a clear error (with a snippet of the body) when a server returns
something that is not a chat-completions reply, and streamed tool-call deltas assembled
into whole calls. The API key is read from the environment variable the config names, at
call time, so rotating it needs no restart and it never sits in config files.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from email.utils import parsedate_to_datetime
from time import time
from typing import Any

import aiohttp
import msgspec

from switchboard.engine.config import OpenAIProviderConfig
from switchboard.engine.providers.base import (
    Message,
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

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 60.0


def _snippet(body: bytes | str, limit: int = 200) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text[:limit] + ("..." if len(text) > limit else "")


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse ``Retry-After`` (seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time() if now is None else now))


def encode_message(message: Message) -> dict[str, Any]:
    """Our message -> chat-completions message."""
    out: dict[str, Any] = {"role": message.role}
    if message.role == "assistant" and message.tool_calls:
        out["content"] = message.content or None
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": msgspec.json.encode(call.arguments).decode(),
                },
            }
            for call in message.tool_calls
        ]
        return out
    out["content"] = message.content
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id
        if message.name:
            out["name"] = message.name
    return out


def _text_of(content: Any, provider: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some servers send content parts
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    raise ProviderResponseError(
        provider, f"message.content must be text, got {type(content).__name__}")


def parse_arguments(raw: Any, name: str, provider: str) -> dict[str, Any]:
    """Tool-call arguments arrive as a JSON string; a dict is accepted too."""
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if not isinstance(raw, str):
        raise ProviderResponseError(provider, f"tool call {name!r}: arguments must be a JSON "
                                    f"string, got {type(raw).__name__}")
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise ProviderResponseError(
            provider, f"tool call {name!r} has arguments that are not valid JSON: "
            f"{_snippet(raw, 120)!r}") from None
    if not isinstance(value, dict):
        raise ProviderResponseError(provider, f"tool call {name!r}: arguments must be a JSON "
                                    "object")
    return value


def _usage(data: Any) -> Usage:
    if not isinstance(data, dict):
        return Usage()
    return Usage(input_tokens=int(data.get("prompt_tokens") or 0),
                 output_tokens=int(data.get("completion_tokens") or 0))


def parse_completion(body: bytes, provider: str, model: str) -> Turn:
    """A non-streamed chat-completions reply -> Turn; ProviderResponseError if malformed."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise ProviderResponseError(provider, f"reply is not JSON: {_snippet(body)!r}") from None
    if not isinstance(data, dict):
        raise ProviderResponseError(provider, f"reply is not a JSON object: {_snippet(body)!r}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ProviderResponseError(
            provider, f"reply has no choices[0] (not a chat-completions reply?): "
            f"{_snippet(body)!r}")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise ProviderResponseError(provider, f"reply has no choices[0].message: "
                                    f"{_snippet(body)!r}")
    calls: list[ToolCall] = []
    raw_calls = message.get("tool_calls") or []
    if not isinstance(raw_calls, list):
        raise ProviderResponseError(provider, "choices[0].message.tool_calls must be a list")
    for index, raw in enumerate(raw_calls):
        function = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ProviderResponseError(
                provider, f"tool_calls[{index}] has no function name: {_snippet(str(raw))!r}")
        name = function["name"]
        calls.append(ToolCall(id=str(raw.get("id") or f"call_{index}"), name=name,
                              arguments=parse_arguments(function.get("arguments"), name,
                                                        provider)))
    return Turn(
        text=_text_of(message.get("content"), provider),
        tool_calls=calls,
        usage=_usage(data.get("usage")),
        model=str(data.get("model") or model),
        provider=provider,
        finish_reason=choices[0].get("finish_reason"),
    )


class _StreamAssembler:
    """Accumulates streamed deltas: text pieces and tool calls split across chunks by index."""

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self.text: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.usage = Usage()
        self.finish_reason: str | None = None

    def feed(self, payload: bytes) -> str:
        try:
            data = msgspec.json.decode(payload)
        except msgspec.DecodeError:
            raise ProviderResponseError(self.provider, f"stream chunk is not JSON: "
                                        f"{_snippet(payload)!r}") from None
        if not isinstance(data, dict):
            raise ProviderResponseError(self.provider, "stream chunk is not a JSON object")
        if data.get("model"):
            self.model = str(data["model"])
        if data.get("usage"):
            self.usage = _usage(data["usage"])
        choices = data.get("choices") or []
        if not isinstance(choices, list):
            raise ProviderResponseError(self.provider, "stream chunk choices must be a list")
        piece = ""
        for choice in choices[:1]:
            if not isinstance(choice, dict):
                raise ProviderResponseError(self.provider, "stream chunk choice is not an object")
            delta = choice.get("delta") or {}
            if not isinstance(delta, dict):
                raise ProviderResponseError(self.provider, "stream chunk delta is not an object")
            piece = _text_of(delta.get("content"), self.provider)
            if piece:
                self.text.append(piece)
            for raw in delta.get("tool_calls") or []:
                if not isinstance(raw, dict):
                    raise ProviderResponseError(self.provider, "tool call delta is not an object")
                index = int(raw.get("index", 0))
                slot = self.calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
                if raw.get("id"):
                    slot["id"] = str(raw["id"])
                function = raw.get("function") or {}
                if function.get("name"):
                    slot["name"] += str(function["name"])
                if function.get("arguments"):
                    slot["arguments"] += str(function["arguments"])
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        return piece

    def turn(self) -> Turn:
        calls = []
        for index in sorted(self.calls):
            slot = self.calls[index]
            if not slot["name"]:
                raise ProviderResponseError(self.provider,
                                            f"streamed tool call #{index} never got a name")
            calls.append(ToolCall(id=slot["id"] or f"call_{index}", name=slot["name"],
                                  arguments=parse_arguments(slot["arguments"], slot["name"],
                                                            self.provider)))
        return Turn(text="".join(self.text), tool_calls=calls, usage=self.usage,
                    model=self.model, provider=self.provider, finish_reason=self.finish_reason)


class OpenAIProvider:
    """Chat completions over HTTP with retries. One instance per configured endpoint."""

    name = "openai"
    display_name = "OpenAIProvider"

    def __init__(
        self,
        *,
        base_url: str = "https://api.openai.com/v1",
        model: str = "gpt-4o-mini",
        api_key_env: str = "OPENAI_API_KEY",
        timeout_seconds: float = 60.0,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        env: Mapping[str, str] | None = None,
        features: ProviderFeatures | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.default_model = model
        self.api_key_env = api_key_env
        self.timeout_seconds = timeout_seconds
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._env = env if env is not None else os.environ
        self.features = features or ProviderFeatures()
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_config(
        cls, config: OpenAIProviderConfig, env: Mapping[str, str] | None = None, **kwargs: Any
    ) -> OpenAIProvider:
        return cls(base_url=config.base_url, model=config.model, api_key_env=config.api_key_env,
                   timeout_seconds=config.timeout_seconds, max_retries=config.max_retries,
                   env=env, **kwargs)

    # -- configuration -------------------------------------------------------------------

    def api_key(self) -> str | None:
        return self._env.get(self.api_key_env) or None

    def _needs_key(self) -> bool:
        return "api.openai.com" in self.base_url

    def available(self) -> bool:
        """Usable if a key is set, or the endpoint is not OpenAI's (local servers need none)."""
        return bool(self.api_key()) or not self._needs_key()

    def configure(self, *, timeout_seconds: float | None = None,
                  max_retries: int | None = None, **_ignored: Any) -> None:
        """Seed 002's switch-provider options."""
        if timeout_seconds is not None:
            self.timeout_seconds = float(timeout_seconds)
        if max_retries is not None:
            self.max_retries = int(max_retries)

    # -- HTTP ----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = self.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        elif self._needs_key():
            raise ProviderUnavailableError(
                self.name, f"no API key: set the environment variable {self.api_key_env}")
        return headers

    def _body(self, messages: Sequence[Message], tools: Sequence[ToolSpec], model: str | None,
              temperature: float | None, max_tokens: int | None, stream: bool) -> bytes:
        body: dict[str, Any] = {
            "model": model or self.default_model,
            "messages": [encode_message(m) for m in messages],
        }
        if tools:
            body["tools"] = [tool.openai() for tool in tools]
            body["tool_choice"] = "auto"
        if temperature is not None:
            body["temperature"] = temperature
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return msgspec.json.encode(body)

    def _session_for_use(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        base = float(min(self.backoff_base * (2 ** attempt), self.backoff_max))
        return base + random.uniform(0, base * 0.1)

    async def _post(self, body: bytes, stream: bool) -> aiohttp.ClientResponse:
        """POST with retries; returns an OK response whose body is not yet read."""
        url = f"{self.base_url}/chat/completions"
        headers = self._headers()
        timeout = (aiohttp.ClientTimeout(total=None, sock_connect=self.timeout_seconds,
                                         sock_read=self.timeout_seconds)
                   if stream else aiohttp.ClientTimeout(total=self.timeout_seconds))
        session = self._session_for_use()
        attempts = self.max_retries + 1
        last = ""
        for attempt in range(attempts):
            retry_after: float | None = None
            try:
                response = await session.post(url, data=body, headers=headers, timeout=timeout)
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                last = f"cannot reach {url}: {type(exc).__name__} {exc}".strip()
            else:
                if response.status < 400:
                    return response
                text = await response.read()
                response.release()
                last = self._http_error(response.status, text)
                if response.status not in RETRY_STATUSES:
                    raise ProviderError(self.name, last, status=response.status)
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                if attempt == attempts - 1:
                    raise ProviderError(self.name, f"{last} (gave up after {attempts} attempts)",
                                        status=response.status, retryable=True)
            if attempt < attempts - 1:
                await asyncio.sleep(self._delay(attempt, retry_after))
        raise ProviderError(self.name, f"{last} (gave up after {attempts} attempts)",
                            retryable=True)

    def _http_error(self, status: int, body: bytes) -> str:
        detail = _snippet(body)
        try:
            data = msgspec.json.decode(body)
            if isinstance(data, dict) and isinstance(data.get("error"), dict):
                detail = str(data["error"].get("message") or detail)
            elif isinstance(data, dict) and isinstance(data.get("error"), str):
                detail = data["error"]
        except msgspec.DecodeError:
            pass
        if status in (401, 403):
            return (f"HTTP {status}: authentication failed ({detail}); check the key in "
                    f"${self.api_key_env}")
        return f"HTTP {status}: {detail}"

    # -- the protocol --------------------------------------------------------------------

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        model: str | None = None,
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> Turn:
        body = self._body(messages, tools, model, temperature, max_tokens, stream=False)
        response = await self._post(body, stream=False)
        try:
            raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderError(self.name, f"reading the reply failed: {exc}",
                                retryable=True) from None
        finally:
            response.release()
        return parse_completion(raw, self.name, model or self.default_model)

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        model: str | None = None,
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[TurnChunk]:
        """Server-sent chunks -> text pieces, then the assembled turn (tool calls included)."""
        body = self._body(messages, tools, model, temperature, max_tokens, stream=True)
        response = await self._post(body, stream=True)
        assembler = _StreamAssembler(self.name, model or self.default_model)
        done = False
        try:
            content_type = response.headers.get("Content-Type", "")
            if "text/event-stream" not in content_type:
                # Some servers ignore stream=true and answer with one JSON document.
                raw = await response.read()
                turn = parse_completion(raw, self.name, model or self.default_model)
                if turn.text:
                    yield TurnChunk(text=turn.text)
                yield TurnChunk(turn=turn)
                return
            async for raw_line in response.content:
                line = raw_line.strip()
                if not line or line.startswith(b":") or not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    done = True
                    break
                piece = assembler.feed(payload)
                if piece:
                    yield TurnChunk(text=piece)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderError(self.name, f"stream interrupted: {exc}", retryable=True) from None
        finally:
            response.release()
        if not done and assembler.finish_reason is None:
            raise ProviderResponseError(self.name, "stream ended before [DONE] or a finish_reason")
        yield TurnChunk(turn=assembler.turn())

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
