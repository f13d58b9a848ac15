"""The adk provider: without google-adk (always tested) and with it, through ADK's model
layer against a REAL local OpenAI-compatible server (tested where the ``adk`` extra is
installed; the main dev environment does not install it, see the README)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.engine.config import ADKProviderConfig, ProvidersConfig
from switchboard.engine.engine import Engine
from switchboard.engine.errors import ValidationFailed
from switchboard.engine.orchestrations.generate import WorkflowGenerator
from switchboard.engine.providers import (
    ADKProvider,
    Message,
    ProviderUnavailableError,
    ToolSpec,
    build_providers,
)
from tests.conftest import make_config
from tests.engine.test_openai_provider import FakeServer, Reply, chunk, completion, server

__all__ = ["server"]  # the fake chat-completions server fixture, shared with the openai tests

HINT = "pip install 'switchboard-console[adk]'"
SEARCH = ToolSpec(name="web_search", description="search", parameters={
    "type": "object", "required": ["query"], "properties": {"query": {"type": "string"}}})
ADK_DEF = """
id = "adk-agent"
[state_schema]
topic = { type = "string" }
[[steps]]
id = "research"
type = "agent"
provider = "adk"
prompt = "Research: {topic}"
tools = ["word_count"]
"""


@pytest.fixture
def without_adk(monkeypatch: pytest.MonkeyPatch) -> None:
    """What an install without the extra sees (a blocked import, whether or not it is here)."""
    monkeypatch.setitem(sys.modules, "google.adk", None)


# -- without the extra ------------------------------------------------------------------------

@pytest.mark.usefixtures("without_adk")
async def test_without_adk_it_is_listed_unavailable_with_the_fix() -> None:
    registry = build_providers(ProvidersConfig(), env={"OPENAI_API_KEY": "sk-x"})
    listed = registry.describe()["providers"]["adk"]
    assert listed["name"] == "ADKProvider" and listed["available"] is False
    assert listed["reason"] == ("google-adk (Google's Agent Development Kit) is not installed; "
                                f"enable it with: {HINT}")
    with pytest.raises(ValueError, match=r"provider 'adk' is not available: .*\[adk\]"):
        registry.switch("adk")
    assert registry.default == "builtin"
    with pytest.raises(ProviderUnavailableError) as info:
        await registry.get("adk").complete([Message.user("hi")])
    assert HINT in info.value.message


@pytest.mark.usefixtures("without_adk")
async def test_without_adk_requests_naming_it_are_refused_with_the_fix(tmp_path: Path) -> None:
    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "adk-agent.toml").write_text(ADK_DEF)
    engine = Engine(make_config(tmp_path / "data", orchestrations={"dir": str(folder),
                                                                   "watch": False}),
                    run_maintenance=False)
    await engine.start()
    try:
        gen = WorkflowGenerator(engine.providers, engine.tools, engine.clock)
        with pytest.raises(ValidationFailed) as refused:
            await gen.generate("Research x", {}, provider="adk")
        assert refused.value.field == "provider" and HINT in refused.value.message
        # a definition naming adk loads (the provider exists); its run fails saying why
        run = await engine.runs.start(engine.orchestrations.get("adk-agent"), "tea")
        run = await engine.runs.wait(run.run_id, 30)
        assert run.status == "failed" and HINT in (run.error or "")
    finally:
        await engine.stop()


# -- with the extra: ADK's model layer over an OpenAI-compatible endpoint ---------------------

@pytest.fixture
async def adk(server: FakeServer) -> AsyncIterator[ADKProvider]:
    pytest.importorskip("google.adk", reason="google-adk is not installed (the adk extra)")
    provider = ADKProvider(ADKProviderConfig(base_url=server.url, model="test-model",
                                             api_key_env="TEST_KEY", timeout_seconds=5,
                                             max_retries=0), env={"TEST_KEY": "sk-local"})
    assert provider.available(), provider.unavailable_reason()
    yield provider
    await provider.aclose()


async def test_a_turn_goes_through_adk(server: FakeServer, adk: ADKProvider) -> None:
    from google.adk.models.base_llm import BaseLlm

    assert isinstance(adk.llm(), BaseLlm)
    server.script.append(Reply(json=completion("Hello from ADK", usage=(11, 4))))
    turn = await adk.complete([Message.system("Be brief."), Message.user("hi")], temperature=0.1)
    assert turn.text == "Hello from ADK" and turn.tool_calls == []
    assert (turn.usage.input_tokens, turn.usage.output_tokens) == (11, 4)
    assert turn.provider == "adk" and turn.model == "test-model"
    sent = server.requests[0]
    assert sent["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "hi"}]
    assert sent["temperature"] == 0.1
    assert server.headers[0]["Authorization"] == "Bearer sk-local"


async def test_tool_calls_round_trip_through_adk(server: FakeServer, adk: ADKProvider) -> None:
    server.script.append(Reply(json=completion(None, tool_calls=[{
        "id": "call_1", "type": "function",
        "function": {"name": "web_search", "arguments": '{"query": "tea"}'}}])))
    server.script.append(Reply(json=completion("Tea is a drink.")))
    messages = [Message.user("What is tea?")]
    first = await adk.complete(messages, [SEARCH])
    assert [(c.id, c.name, c.arguments) for c in first.tool_calls] == [
        ("call_1", "web_search", {"query": "tea"})]
    assert first.finish_reason == "tool_calls"
    messages += [first.message(), Message.tool_result(first.tool_calls[0], '{"results": []}')]
    second = await adk.complete(messages, [SEARCH])
    assert second.text == "Tea is a drink."
    assert server.requests[0]["tools"] == [SEARCH.openai()]
    assert server.requests[1]["messages"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "web_search", "arguments": '{"query":"tea"}'}}]},
        {"role": "tool", "content": '{"results": []}', "tool_call_id": "call_1",
         "name": "web_search"},
    ]


async def test_streaming_through_adk(server: FakeServer, adk: ADKProvider) -> None:
    server.script.append(Reply(sse=[
        chunk({"role": "assistant", "content": "Hel"}), chunk({"content": "lo"}),
        chunk({}, finish="stop"),
        {"id": "c", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}},
        b"[DONE]"]))
    chunks = [c async for c in adk.stream([Message.user("hi")])]
    assert [c.text for c in chunks[:-1]] == ["Hel", "lo"]
    turn = chunks[-1].turn
    assert turn is not None and turn.text == "Hello" and turn.usage.output_tokens == 2


async def test_an_agent_step_runs_through_adk(server: FakeServer, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("google.adk", reason="google-adk is not installed (the adk extra)")
    monkeypatch.setenv("TEST_KEY", "sk-local")
    server.script.append(Reply(json=completion(None, tool_calls=[{
        "id": "call_7", "type": "function",
        "function": {"name": "word_count", "arguments": '{"text": "one two three"}'}}])))
    server.script.append(Reply(json=completion("Three words.")))
    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "adk-agent.toml").write_text(ADK_DEF)
    adk_config: dict[str, Any] = {"base_url": server.url, "model": "test-model",
                                  "api_key_env": "TEST_KEY", "max_retries": 0}
    engine = Engine(make_config(tmp_path / "data", orchestrations={"dir": str(folder),
                                                                   "watch": False},
                                providers={"adk": adk_config}), run_maintenance=False)
    await engine.start()
    try:
        run = await engine.runs.start(engine.orchestrations.get("adk-agent"), "counting")
        run = await engine.runs.wait(run.run_id, 30)
        assert run.status == "completed", run.error
        events = [e for e in await engine.bus.history(0) if e.run_id == run.run_id]
        turns = [e.payload for e in events if e.event_type == "run.agent_turn"]
        assert [t["provider"] for t in turns] == ["adk", "adk"]
        results = [e.payload for e in events if e.event_type == "run.tool_result"]
        assert results[0]["tool_name"] == "word_count" and results[0]["ok"] is True
        assert server.requests[1]["messages"][-1]["tool_call_id"] == "call_7"
    finally:
        await engine.stop()
