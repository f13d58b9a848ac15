"""Tool registry: offline built-ins, http against a real local server, allow-listed commands
and Python callables."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from switchboard.engine.clock import ManualClock
from switchboard.engine.config import HttpToolConfig, OrchestrationsConfig
from switchboard.engine.tools import (
    SIMULATED_NOTICE,
    Tool,
    ToolContext,
    ToolError,
    ToolRegistry,
    UnknownToolError,
    build_tools,
    builtin_tools,
    command_tool,
)


@pytest.fixture
def tools() -> ToolRegistry:
    # the local test site is on loopback: opt in, as an operator would (see test_http_ssrf)
    return build_tools(OrchestrationsConfig(), clock=ManualClock(),
                       http=HttpToolConfig(allow_hosts=["127.0.0.1"]))


async def test_default_registry(tools: ToolRegistry) -> None:
    assert tools.names() == ["current_time", "http", "notify", "publish", "web_search",
                             "word_count"]
    assert not tools.has("command")  # disabled without an allow-list
    assert not tools.has("os:system")  # no python callables without an allow-list
    with pytest.raises(UnknownToolError, match="unknown tool 'nope'"):
        await tools.call("nope", {})


async def test_simulated_web_search_is_labelled_and_deterministic(tools: ToolRegistry) -> None:
    first = await tools.call("web_search", {"query": "quantum computing"})
    again = await tools.call("web_search", {"query": "quantum computing"})
    assert first.ok and first.output == again.output
    assert first.output["simulated"] is True
    assert first.output["notice"] == SIMULATED_NOTICE
    assert len(first.output["results"]) == 3
    assert all(r["url"].startswith("https://example.") for r in first.output["results"])


async def test_word_count_and_current_time(tools: ToolRegistry) -> None:
    result = await tools.call("word_count", {"text": "one two  three\nfour"})
    assert result.output == {"words": 4, "characters": 19, "lines": 2}
    now = await tools.call("current_time", {})
    assert now.output == {"utc": "2026-01-01T00:00:00.000Z", "epoch": 1_767_225_600.0}


async def test_simulated_publish_carries_the_idempotency_key(tools: ToolRegistry) -> None:
    result = await tools.call("publish", {"title": "Hello World", "body": "a b c"},
                              context=ToolContext(idempotency_key="run1:step-publish"))
    assert result.output["simulated"] is True
    assert result.output["url"] == "offline://published/hello-world"
    assert result.output["idempotency_key"] == "run1:step-publish"


async def test_bad_arguments_are_a_failed_result(tools: ToolRegistry) -> None:
    missing = await tools.call("word_count", {})
    assert not missing.ok and missing.error == "missing required argument 'text'"
    wrong = await tools.call("web_search", {"query": 5})
    assert wrong.error == "argument 'query' must be string"
    assert wrong.as_text() == "ERROR: argument 'query' must be string"


async def test_timeouts_and_handler_crashes_become_results() -> None:
    async def slow(_args: dict, _ctx: ToolContext) -> str:
        await asyncio.sleep(5)
        return "never"

    async def broken(_args: dict, _ctx: ToolContext) -> str:
        raise ValueError("kaput")

    registry = ToolRegistry()
    registry.register(Tool(name="slow", description="", handler=slow, timeout=0.05))
    registry.register(Tool(name="broken", description="", handler=broken))
    timed_out = await registry.call("slow", {})
    assert not timed_out.ok and timed_out.error == "timed out after 0.05s"
    assert (await registry.call("slow", {}, timeout=0.01)).error == "timed out after 0.01s"
    crashed = await registry.call("broken", {})
    assert crashed.error == "ValueError: kaput"
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Tool(name="slow", description="", handler=slow))


async def test_result_preview_is_short_and_single_line(tools: ToolRegistry) -> None:
    result = await tools.call("word_count", {"text": "x " * 500})
    assert result.preview() == '{"words":500,"characters":1000,"lines":1}'
    search = await tools.call("web_search", {"query": "a\nb " * 50})
    assert len(search.preview()) == 200 and "\n" not in search.preview()


def test_specs_for_agents(tools: ToolRegistry) -> None:
    specs = tools.specs(["web_search", "word_count"])
    assert [s.name for s in specs] == ["web_search", "word_count"]
    assert specs[0].parameters["required"] == ["query"]
    assert "SIMULATED" in specs[0].description
    with pytest.raises(UnknownToolError):
        tools.specs(["teleport"])


# -- http against a real local server -------------------------------------------------


@pytest.fixture
async def site() -> AsyncIterator[str]:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"status": "healthy", "method": request.method,
                                  "key": request.headers.get("Idempotency-Key"),
                                  "body": await request.text()})

    async def fail(_request: web.Request) -> web.Response:
        return web.Response(status=503, text="down for maintenance")

    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(0.5)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_route("*", "/health", ok)
    app.router.add_get("/fail", fail)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


async def test_http_get_and_post(tools: ToolRegistry, site: str) -> None:
    got = await tools.call("http", {"url": f"{site}/health"})
    assert got.ok and got.output["status"] == 200
    assert got.output["json"]["status"] == "healthy"
    posted = await tools.call("http", {"url": f"{site}/health", "method": "post",
                                       "json": {"a": 1}},
                              context=ToolContext(idempotency_key="k1"))
    assert posted.output["json"] == {"status": "healthy", "method": "POST", "key": "k1",
                                     "body": '{"a":1}'}


async def test_http_errors(tools: ToolRegistry, site: str) -> None:
    failed = await tools.call("http", {"url": f"{site}/fail"})
    assert not failed.ok and failed.error == f"HTTP 503 from {site}/fail"
    assert failed.output["body"] == "down for maintenance"
    timed_out = await tools.call("http", {"url": f"{site}/slow", "timeout": 0.1})
    assert timed_out.error == f"request to {site}/slow timed out after 0.1s"
    bad = await tools.call("http", {"url": "file:///etc/passwd"})
    assert bad.error == "url must be an absolute http(s) URL, got 'file:///etc/passwd'"


# -- command ----------------------------------------------------------------------------


async def test_command_runs_only_allow_listed_executables(tmp_path: Path) -> None:
    registry = build_tools(OrchestrationsConfig(tool_commands=["echo"]))
    ran = await registry.call("command", {"argv": ["echo", "hello", "; rm -rf /"]})
    assert ran.ok
    assert ran.output["stdout"] == "hello ; rm -rf /\n"  # no shell: passed literally
    refused = await registry.call("command", {"argv": ["ls", "/"]})
    assert not refused.ok
    assert refused.error == ("executable 'ls' is not allow-listed "
                             "(orchestrations.tool_commands: echo)")
    sneaky = await registry.call("command", {"argv": ["/bin/echo", "x"]})
    assert not sneaky.ok and "not allow-listed" in (sneaky.error or "")
    fake = tmp_path / "echo"
    fake.write_text("#!/bin/sh\necho pwned\n")
    fake.chmod(0o755)
    relative = await registry.call("command", {"argv": [str(fake)]})
    assert not relative.ok


async def test_disabled_command_tool_refuses_everything() -> None:
    registry = ToolRegistry()
    registry.register(command_tool([]))
    result = await registry.call("command", {"argv": ["echo", "hi"]})
    assert not result.ok and "disabled" in (result.error or "")


async def test_command_failure_timeout_and_clean_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    python = sys.executable
    registry = ToolRegistry()
    registry.register(command_tool([python], timeout=5))
    env = await registry.call("command", {"argv": [
        python, "-c", "import os; print(os.environ.get('OPENAI_API_KEY'))"]})
    assert env.output["stdout"] == "None\n"
    failed = await registry.call("command", {"argv": [
        python, "-c", "import sys; sys.stderr.write('bad'); sys.exit(3)"]})
    assert not failed.ok and failed.error.endswith("exited with code 3")  # type: ignore[union-attr]
    assert failed.output["stderr"] == "bad" and failed.output["exit_code"] == 3
    slow = await registry.call("command", {"argv": [python, "-c", "import time; time.sleep(10)"]},
                               timeout=0.3)
    assert not slow.ok and slow.error == "timed out after 0.3s"
    echoed = await registry.call("command", {"argv": [
        python, "-c", "import sys; print(sys.stdin.read().upper())"], "stdin": "abc"})
    assert echoed.output["stdout"] == "ABC\n"


# -- python callables -------------------------------------------------------------------


async def test_python_callables_need_the_allow_list() -> None:
    registry = build_tools(OrchestrationsConfig(
        tool_python=["json:dumps", "tests.engine.tool_fixtures"]))
    dumped = await registry.call("json:dumps", {"obj": [1, 2]})
    assert dumped.ok and dumped.output == "[1, 2]"
    assert not registry.has("json:loads")  # only json:dumps was listed
    assert not registry.has("os:system")
    assert not registry.has("tests.engine.tool_fixtures:_private")
    added = await registry.call("tests.engine.tool_fixtures:add", {"a": 2, "b": 3})
    assert added.output == 5
    spec = registry.get("tests.engine.tool_fixtures:add").spec()
    assert spec.parameters == {"type": "object", "required": ["a"], "properties": {
        "a": {"type": "integer"}, "b": {"type": "integer"}}}
    assert spec.description == "Add two numbers (a tool fixture)."
    greeted = await registry.call("tests.engine.tool_fixtures:greet", {"name": "Ada"})
    assert greeted.output == "hello Ada"
    bad = await registry.call("tests.engine.tool_fixtures:add", {"a": "x"})
    assert bad.error == "argument 'a' must be integer"


def test_tool_error_keeps_output() -> None:
    error = ToolError("failed", output={"x": 1})
    assert str(error) == "failed" and error.output == {"x": 1}
    assert {t.name for t in builtin_tools() if t.simulated} == {"web_search", "publish",
                                                                 "notify"}
