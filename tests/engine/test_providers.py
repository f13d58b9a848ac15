"""Builtin provider (offline, deterministic, labelled), provider registry, pricing."""

from __future__ import annotations

import msgspec
import pytest

from switchboard.engine.config import OpenAIProviderConfig, ProvidersConfig
from switchboard.engine.providers import (
    BUILTIN_LABEL,
    BuiltinProvider,
    Message,
    ProviderRegistry,
    ToolSpec,
    Turn,
    UnknownProviderError,
    Usage,
    build_providers,
    compute_cost,
    price_for,
)
from switchboard.engine.tools import ToolRegistry, builtin_tools

SEARCH = ToolSpec(name="web_search", description="search", parameters={
    "type": "object", "required": ["query"],
    "properties": {"query": {"type": "string"}, "max_results": {"type": "integer"}}})
COUNT = ToolSpec(name="word_count", description="count", parameters={
    "type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}})


def research_messages() -> list[Message]:
    return [Message.system("You are a research agent."),
            Message.user("Research the topic: Synapse AI platform")]


async def test_builtin_first_turn_calls_an_offered_tool() -> None:
    turn = await BuiltinProvider().complete(research_messages(), [COUNT, SEARCH])
    assert turn.text.startswith(BUILTIN_LABEL)
    assert [(c.name, c.arguments) for c in turn.tool_calls] == [
        ("web_search", {"query": "Synapse AI platform"})]
    assert turn.finish_reason == "tool_calls"
    assert turn.usage.input_tokens > 0 and turn.usage.output_tokens > 0
    assert turn.provider == "builtin" and turn.model == "builtin"


async def test_builtin_without_a_preferred_tool_uses_the_first_offered() -> None:
    turn = await BuiltinProvider().complete(
        [Message.user("Tell me about tea")], [COUNT])
    assert turn.tool_calls[0].name == "word_count"
    assert turn.tool_calls[0].arguments == {"text": "Tell me about tea"}


async def test_builtin_answers_with_tool_results_after_the_call() -> None:
    provider = BuiltinProvider()
    tools = ToolRegistry()
    for tool in builtin_tools():
        tools.register(tool)
    messages = research_messages()
    first = await provider.complete(messages, [SEARCH])
    messages.append(first.message())
    for call in first.tool_calls:
        result = await tools.call(call.name, call.arguments)
        messages.append(Message.tool_result(call, result.as_text()))
    final = await provider.complete(messages, [SEARCH])
    assert final.tool_calls == []
    assert final.finish_reason == "stop"
    assert final.text.startswith(BUILTIN_LABEL)
    assert "Topic: Synapse AI platform" in final.text
    assert "Synapse AI platform: " in final.text  # a simulated search title was used
    assert "Research notes" in final.text


async def test_builtin_is_deterministic() -> None:
    a = await BuiltinProvider().complete(research_messages(), [SEARCH])
    b = await BuiltinProvider().complete(research_messages(), [SEARCH])
    assert msgspec.json.encode(a) == msgspec.json.encode(b)
    c = await BuiltinProvider().complete(research_messages())
    d = await BuiltinProvider().complete(research_messages())
    assert c == d
    other = await BuiltinProvider().complete(
        [Message.system("You are a research agent."), Message.user("Research: tea")])
    assert other.text != c.text


@pytest.mark.parametrize(("system", "prompt", "marker"), [
    ("You are a writer.", "Write an article about tea based on this research:\n\nTopic: tea",
     "# Tea"),
    ("You are an incident triage agent.", "Triage this incident: db down", "Severity: P"),
    ("You write blameless post-mortems.", "Write the post-mortem for: db down",
     "# Post-mortem"),
    ("You are a release engineer.", "Plan the deployment of: web v2", "# Deployment plan"),
])
async def test_builtin_writes_plausible_text_per_role(system: str, prompt: str,
                                                      marker: str) -> None:
    turn = await BuiltinProvider().complete([Message.system(system), Message.user(prompt)])
    assert turn.text.startswith(BUILTIN_LABEL)
    assert marker in turn.text


async def test_builtin_streams_the_same_turn() -> None:
    provider = BuiltinProvider()
    chunks = [chunk async for chunk in provider.stream(research_messages())]
    final = chunks[-1].turn
    assert isinstance(final, Turn)
    assert "".join(c.text for c in chunks[:-1]) == final.text
    assert final == await provider.complete(research_messages())


def test_pricing_lookup_and_cost() -> None:
    prices = ProvidersConfig().prices
    assert price_for("gpt-4o-mini-2024-07-18", prices) == prices["gpt-4o-mini"]
    assert price_for("openai/gpt-4o", prices) == prices["gpt-4o"]
    assert price_for("unknown-model", prices) is None
    usage = Usage(input_tokens=1_000_000, output_tokens=500_000)
    assert compute_cost(usage, "gpt-4o-mini", prices) == pytest.approx(0.15 + 0.30)
    assert compute_cost(usage, "gpt-4o", prices) == pytest.approx(2.5 + 5.0)
    assert compute_cost(usage, "mystery", prices) == 0.0
    assert Usage(input_tokens=1, output_tokens=2) + Usage(input_tokens=3) == Usage(
        input_tokens=4, output_tokens=2)


def test_registry_describes_providers_in_seed_002_shape() -> None:
    registry = build_providers(ProvidersConfig(), env={})
    described = registry.describe()
    assert described["default"] == "builtin"
    assert described["providers"]["builtin"] == {
        "name": "BuiltinProvider", "available": True,
        "features": {"generation": True, "execution": True, "refinement": True,
                     "streaming": True, "compose": True}}
    assert described["providers"]["openai"]["available"] is False  # no key in env


def test_registry_switches_default_and_refuses_unusable_providers() -> None:
    registry = build_providers(ProvidersConfig(), env={"OPENAI_API_KEY": "sk-test"})
    assert registry.switch("openai", {"timeout": 60000, "max_retries": 5}) == {
        "success": True, "provider": "openai", "default": "openai"}
    openai = registry.get()
    assert openai.name == "openai"
    assert openai.timeout_seconds == 60.0 and openai.max_retries == 5  # type: ignore[attr-defined]
    with pytest.raises(UnknownProviderError, match="unknown provider 'nope'"):
        registry.switch("nope")
    without_key = build_providers(ProvidersConfig(), env={})
    with pytest.raises(ValueError, match="not available"):
        without_key.set_default("openai")
    assert without_key.default == "builtin"


def test_configured_default_falls_back_to_builtin_when_unusable() -> None:
    config = ProvidersConfig(default="openai")
    assert build_providers(config, env={}).default == "builtin"
    assert build_providers(config, env={"OPENAI_API_KEY": "k"}).default == "openai"
    local = ProvidersConfig(default="openai", openai=OpenAIProviderConfig(
        base_url="http://127.0.0.1:11434/v1"))
    assert build_providers(local, env={}).default == "openai"  # local servers need no key


def test_empty_registry_lists_what_exists() -> None:
    registry = ProviderRegistry()
    registry.register(BuiltinProvider())
    with pytest.raises(UnknownProviderError, match="available: builtin"):
        registry.get("openai")
