"""The openai provider against a REAL local aiohttp server speaking chat completions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from aiohttp import web

from switchboard.engine.providers import (
    Message,
    OpenAIProvider,
    ProviderError,
    ProviderResponseError,
    ProviderUnavailableError,
    ToolSpec,
    Turn,
)
from switchboard.engine.providers.openai import retry_after_seconds

SEARCH = ToolSpec(name="web_search", description="search", parameters={
    "type": "object", "required": ["query"], "properties": {"query": {"type": "string"}}})


@dataclass
class Reply:
    """One scripted answer: a JSON body, raw bytes, or SSE events."""

    status: int = 200
    json: Any = None
    raw: bytes | None = None
    sse: list[Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class FakeServer:
    url: str
    script: list[Reply]
    requests: list[dict[str, Any]]
    headers: list[dict[str, str]]


def completion(text: str | None = "hi", tool_calls: list[dict[str, Any]] | None = None,
               usage: tuple[int, int] = (10, 5)) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"id": "cmpl-1", "object": "chat.completion", "model": "test-model",
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if tool_calls else "stop"}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1]}}


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    script: list[Reply] = []
    requests: list[dict[str, Any]] = []
    headers: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        requests.append(msgspec.json.decode(await request.read()))
        headers.append(dict(request.headers))
        reply = script.pop(0) if script else Reply(status=500, json={"error": "script empty"})
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.sse is not None:
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for event in reply.sse:
                data = event if isinstance(event, bytes) else msgspec.json.encode(event)
                await response.write(b"data: " + data + b"\n\n")
            await response.write_eof()
            return response
        body = reply.raw if reply.raw is not None else msgspec.json.encode(reply.json)
        return web.Response(status=reply.status, body=body, headers={
            "Content-Type": "application/json", **reply.headers})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield FakeServer(url=f"http://{host}:{port}/v1", script=script, requests=requests,
                     headers=headers)
    await runner.cleanup()


@pytest.fixture
async def provider(server: FakeServer) -> AsyncIterator[OpenAIProvider]:
    p = OpenAIProvider(base_url=server.url, model="test-model", api_key_env="TEST_KEY",
                       env={"TEST_KEY": "sk-local"}, timeout_seconds=2, max_retries=2,
                       backoff_base=0.01)
    yield p
    await p.aclose()


async def test_plain_completion(server: FakeServer, provider: OpenAIProvider) -> None:
    server.script.append(Reply(json=completion("Hello there", usage=(12, 3))))
    turn = await provider.complete([Message.system("sys"), Message.user("hi")], temperature=0.2)
    assert turn.text == "Hello there" and turn.tool_calls == []
    assert (turn.usage.input_tokens, turn.usage.output_tokens) == (12, 3)
    assert turn.model == "test-model" and turn.provider == "openai"
    assert turn.finish_reason == "stop"
    sent = server.requests[0]
    assert sent["model"] == "test-model" and sent["temperature"] == 0.2
    assert sent["messages"] == [{"role": "system", "content": "sys"},
                                {"role": "user", "content": "hi"}]
    assert "tools" not in sent
    assert server.headers[0]["Authorization"] == "Bearer sk-local"


async def test_tool_call_round_trip(server: FakeServer, provider: OpenAIProvider) -> None:
    server.script.append(Reply(json=completion(None, tool_calls=[{
        "id": "call_1", "type": "function",
        "function": {"name": "web_search", "arguments": '{"query": "tea"}'}}])))
    server.script.append(Reply(json=completion("Tea is a drink.")))
    messages = [Message.user("What is tea?")]
    first = await provider.complete(messages, [SEARCH])
    assert [(c.id, c.name, c.arguments) for c in first.tool_calls] == [
        ("call_1", "web_search", {"query": "tea"})]
    assert first.text == ""
    messages += [first.message(), Message.tool_result(first.tool_calls[0], '{"results": []}')]
    second = await provider.complete(messages, [SEARCH])
    assert second.text == "Tea is a drink."
    assert server.requests[0]["tools"] == [SEARCH.openai()]
    assert server.requests[0]["tool_choice"] == "auto"
    assert server.requests[1]["messages"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "web_search", "arguments": '{"query":"tea"}'}}]},
        {"role": "tool", "content": '{"results": []}', "tool_call_id": "call_1",
         "name": "web_search"},
    ]


async def test_429_then_success_honours_retry_after(server: FakeServer,
                                                    provider: OpenAIProvider) -> None:
    server.script.append(Reply(status=429, json={"error": {"message": "slow down"}},
                               headers={"Retry-After": "0.3"}))
    server.script.append(Reply(json=completion("ok")))
    started = time.monotonic()
    turn = await provider.complete([Message.user("hi")])
    assert turn.text == "ok"
    assert len(server.requests) == 2
    assert time.monotonic() - started >= 0.28  # waited Retry-After, not the 10 ms backoff


async def test_500_is_retried_with_backoff(server: FakeServer, provider: OpenAIProvider) -> None:
    server.script.append(Reply(status=500, json={"error": {"message": "boom"}}))
    server.script.append(Reply(status=502, raw=b"<html>bad gateway</html>"))
    server.script.append(Reply(json=completion("recovered")))
    assert (await provider.complete([Message.user("hi")])).text == "recovered"
    assert len(server.requests) == 3


async def test_gives_up_after_max_retries(server: FakeServer, provider: OpenAIProvider) -> None:
    for _ in range(3):
        server.script.append(Reply(status=503, json={"error": {"message": "overloaded"}}))
    with pytest.raises(ProviderError) as caught:
        await provider.complete([Message.user("hi")])
    assert len(server.requests) == 3  # 1 + max_retries
    assert caught.value.status == 503 and caught.value.retryable
    assert "overloaded" in str(caught.value) and "gave up after 3 attempts" in str(caught.value)


async def test_client_errors_are_not_retried(server: FakeServer,
                                             provider: OpenAIProvider) -> None:
    server.script.append(Reply(status=400, json={"error": {"message": "bad model"}}))
    with pytest.raises(ProviderError, match="HTTP 400: bad model") as caught:
        await provider.complete([Message.user("hi")])
    assert not caught.value.retryable and len(server.requests) == 1
    server.script.append(Reply(status=401, json={"error": {"message": "invalid key"}}))
    with pytest.raises(ProviderError, match=r"authentication failed.*\$TEST_KEY"):
        await provider.complete([Message.user("hi")])


@pytest.mark.parametrize(("reply", "reason"), [
    (Reply(raw=b"<html>not json</html>"), "reply is not JSON: '<html>not json</html>'"),
    (Reply(json={"result": "hi"}), "reply has no choices[0]"),
    (Reply(json={"choices": []}), "reply has no choices[0]"),
    (Reply(json={"choices": [{"text": "legacy"}]}), "no choices[0].message"),
    (Reply(json=completion(None, tool_calls=[{"id": "c", "type": "function", "function": {
        "name": "web_search", "arguments": "{query: tea"}}])), "not valid JSON: '{query: tea'"),
    (Reply(json=completion(None, tool_calls=[{"id": "c", "function": {}}])),
     "has no function name"),
    (Reply(json={"choices": [{"message": {"content": 5}}]}), "content must be text"),
])
async def test_malformed_replies_give_clear_errors(
    server: FakeServer, provider: OpenAIProvider, reply: Reply, reason: str
) -> None:
    server.script.append(reply)
    with pytest.raises(ProviderResponseError) as caught:
        await provider.complete([Message.user("hi")], [SEARCH])
    assert reason in str(caught.value)
    assert str(caught.value).startswith("openai: ")
    assert len(server.requests) == 1


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "c", "model": "test-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


async def test_streaming_text_and_tool_call_deltas(server: FakeServer,
                                                   provider: OpenAIProvider) -> None:
    server.script.append(Reply(sse=[
        chunk({"role": "assistant", "content": "Let me "}),
        chunk({"content": "search."}),
        chunk({"tool_calls": [{"index": 0, "id": "call_9", "type": "function",
                               "function": {"name": "web_search", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"que'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ry": "tea"}'}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_10",
                               "function": {"name": "web_search",
                                            "arguments": '{"query": "milk"}'}}]}),
        chunk({}, finish="tool_calls"),
        {"id": "c", "choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 9}},
        b"[DONE]",
    ]))
    chunks = [c async for c in provider.stream([Message.user("tea?")], [SEARCH])]
    assert [c.text for c in chunks[:-1]] == ["Let me ", "search."]
    turn = chunks[-1].turn
    assert isinstance(turn, Turn)
    assert turn.text == "Let me search."
    assert [(c.id, c.name, c.arguments) for c in turn.tool_calls] == [
        ("call_9", "web_search", {"query": "tea"}), ("call_10", "web_search", {"query": "milk"})]
    assert (turn.usage.input_tokens, turn.usage.output_tokens) == (20, 9)
    assert turn.finish_reason == "tool_calls"
    assert server.requests[0]["stream"] is True
    assert server.requests[0]["stream_options"] == {"include_usage": True}


async def test_stream_is_retried_before_it_starts(server: FakeServer,
                                                  provider: OpenAIProvider) -> None:
    server.script.append(Reply(status=429, json={"error": "busy"}, headers={"Retry-After": "0"}))
    server.script.append(Reply(sse=[chunk({"content": "ok"}, finish="stop"), b"[DONE]"]))
    chunks = [c async for c in provider.stream([Message.user("hi")])]
    assert chunks[-1].turn is not None and chunks[-1].turn.text == "ok"


async def test_stream_cut_short_is_an_error(server: FakeServer,
                                            provider: OpenAIProvider) -> None:
    server.script.append(Reply(sse=[chunk({"content": "half"})]))
    with pytest.raises(ProviderResponseError, match="stream ended before"):
        [c async for c in provider.stream([Message.user("hi")])]


async def test_malformed_stream_chunk(server: FakeServer, provider: OpenAIProvider) -> None:
    server.script.append(Reply(sse=[b"{oops"]))
    with pytest.raises(ProviderResponseError, match="stream chunk is not JSON"):
        [c async for c in provider.stream([Message.user("hi")])]


async def test_timeout_is_retried_then_reported(server: FakeServer) -> None:
    slow = OpenAIProvider(base_url=server.url, api_key_env="K", env={}, timeout_seconds=0.2,
                          max_retries=1, backoff_base=0.01)
    server.script.extend([Reply(json=completion("late"), delay=0.5),
                          Reply(json=completion("late"), delay=0.5)])
    try:
        with pytest.raises(ProviderError, match="gave up after 2 attempts") as caught:
            await slow.complete([Message.user("hi")])
        assert caught.value.retryable
        assert len(server.requests) == 2
    finally:
        await slow.aclose()


async def test_unreachable_server(unused_tcp_port: int) -> None:
    p = OpenAIProvider(base_url=f"http://127.0.0.1:{unused_tcp_port}/v1", env={},
                       max_retries=1, backoff_base=0.01)
    try:
        with pytest.raises(ProviderError, match="cannot reach"):
            await p.complete([Message.user("hi")])
    finally:
        await p.aclose()


async def test_missing_api_key_for_openai_dot_com() -> None:
    p = OpenAIProvider(env={})
    assert not p.available()
    with pytest.raises(ProviderUnavailableError, match="OPENAI_API_KEY"):
        await p.complete([Message.user("hi")])
    await p.aclose()


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
