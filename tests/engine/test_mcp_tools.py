"""The mcp provider against REAL MCP servers built with the official SDK (tests/engine/
mcp_server.py): a stdio subprocess and a streamable-HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.engine.config import ConfigError, load_config
from switchboard.engine.engine import Engine
from switchboard.engine.errors import ValidationFailed
from switchboard.engine.orchestrations.generate import WorkflowGenerator
from switchboard.engine.providers.mcp import MCPProvider
from tests.conftest import make_config

pytestmark = pytest.mark.slow  # real MCP server subprocesses (stdio and HTTP)
ROOT = Path(__file__).resolve().parents[2]
SERVER_MODULE = "tests.engine.mcp_server"
STDIO = {"name": "demo", "transport": "stdio", "command": sys.executable,
         "args": ["-m", SERVER_MODULE], "cwd": str(ROOT)}

AGENT_DEF = """
id = "shouting"
[state_schema]
topic = { type = "string" }
loud = { type = "string" }
total = { type = "object" }
[[steps]]
id = "loud"
type = "agent"
prompt = "Research: {topic}"
tools = ["mcp__demo__shout"]
output_key = "loud"
[[steps]]
id = "sum"
type = "tool"
tool = "mcp__demo__add"
args = { a = 2, b = 40 }
output_key = "total"
[[steps]]
id = "via_mcp"
type = "agent"
provider = "mcp"
prompt = "Research: {topic}"
tools = ["mcp__demo__shout"]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def make_engine(tmp_path: Path, servers: list[dict[str, Any]], *,
                      defs: dict[str, str] | None = None, **mcp: Any) -> Engine:
    folder = tmp_path / "defs"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (defs or {}).items():
        (folder / f"{name}.toml").write_text(text)
    config = make_config(tmp_path / "data", orchestrations={"dir": str(folder), "watch": False},
                         providers={"mcp": {"servers": servers, **mcp}})
    engine = Engine(config, run_maintenance=False)
    await engine.start()
    return engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    eng = await make_engine(tmp_path, [STDIO], defs={"shouting": AGENT_DEF})
    try:
        yield eng
    finally:
        await eng.stop()


@contextlib.contextmanager
def http_server(port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-m", SERVER_MODULE, "http", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_listening(port: int, seconds: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port}") from None
            await asyncio.sleep(0.1)
        else:
            writer.close()
            await writer.wait_closed()
            return


# -- stdio ------------------------------------------------------------------------------------

async def test_stdio_tools_are_registered_with_their_schemas(engine: Engine) -> None:
    names = [n for n in engine.tools.names() if n.startswith("mcp__")]
    assert names == sorted(f"mcp__demo__{t}" for t in (
        "add", "shout", "fail", "slow", "crash", "getenv", "kubernetes-validator",
        "prometheus-validator"))
    add = engine.tools.get("mcp__demo__add")
    assert add.kind == "mcp"
    assert add.parameters["required"] == ["a", "b"]
    assert add.parameters["properties"]["a"]["type"] == "integer"
    assert "Add two integers." in add.description and "MCP server demo" in add.description
    provider = engine.providers.get("mcp")
    assert provider.available()
    assert engine.providers.describe()["providers"]["mcp"] == {
        "name": "MCPProvider", "available": True, "features": {
            "generation": True, "execution": True, "refinement": True, "streaming": True,
            "compose": True}}


async def test_stdio_calls_results_and_errors(engine: Engine) -> None:
    result = await engine.tools.call("mcp__demo__add", {"a": 2, "b": 3})
    assert result.ok and result.output == {"result": 5}
    shouted = await engine.tools.call("mcp__demo__shout", {"text": "quiet"})
    assert shouted.ok and shouted.as_text() == '{"result":"QUIET"}'
    refused = await engine.tools.call("mcp__demo__fail", {"reason": "no disk"})
    assert not refused.ok and "refused: no disk" in (refused.error or "")
    bad = await engine.tools.call("mcp__demo__add", {"a": "two", "b": 3})
    assert not bad.ok and bad.error == "argument 'a' must be integer"  # checked before the call
    slow = await engine.tools.call("mcp__demo__slow", {"seconds": 5}, timeout=0.5)
    assert not slow.ok and slow.error == "timed out after 0.5s"


async def test_a_crashed_server_is_restarted_by_the_next_call(engine: Engine) -> None:
    crashed = await engine.tools.call("mcp__demo__crash", {})
    assert not crashed.ok and "MCP server 'demo'" in (crashed.error or "")
    again = await engine.tools.call("mcp__demo__add", {"a": 1, "b": 1})
    assert again.ok and again.output == {"result": 2}


async def test_stdio_environment_is_minimal_plus_configured(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRATOR_JWT_SECRET", "must-not-leak-0123456789")
    eng = await make_engine(tmp_path, [{**STDIO, "env": {"GREETING": "hello"}}])
    try:
        leaked = await eng.tools.call("mcp__demo__getenv", {"name": "ORCHESTRATOR_JWT_SECRET"})
        assert leaked.output == {"result": "<unset>"}
        given = await eng.tools.call("mcp__demo__getenv", {"name": "GREETING"})
        assert given.output == {"result": "hello"}
    finally:
        await eng.stop()


async def test_server_stderr_goes_to_a_log_file_not_the_terminal(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    eng = await make_engine(tmp_path, [STDIO])
    try:
        assert (await eng.tools.call("mcp__demo__add", {"a": 1, "b": 2})).ok
    finally:
        await eng.stop()
    log = (tmp_path / "data" / "mcp-demo.log").read_text()
    assert "switchboard test MCP server starting" in log
    assert "MCP server starting" not in capfd.readouterr().err


async def test_allow_list_limits_the_tools(tmp_path: Path) -> None:
    eng = await make_engine(tmp_path, [{**STDIO, "tools": ["add", "missing"]}])
    try:
        assert [n for n in eng.tools.names() if n.startswith("mcp__")] == ["mcp__demo__add"]
    finally:
        await eng.stop()


async def test_agent_and_tool_steps_use_mcp_tools(engine: Engine) -> None:
    run = await engine.runs.start(engine.orchestrations.get("shouting"), "release notes")
    run = await engine.runs.wait(run.run_id, 60)
    assert run.status == "completed", run.error
    assert run.shared_state["total"] == {"result": 42}
    events = [e for e in await engine.bus.history(0) if e.run_id == run.run_id]
    calls = [e.payload for e in events if e.event_type == "run.tool_execution"]
    results = [e.payload for e in events if e.event_type == "run.tool_result"]
    assert [c["tool_name"] for c in calls] == ["mcp__demo__shout", "mcp__demo__add",
                                               "mcp__demo__shout"]
    assert all(r["ok"] for r in results), results
    assert "RELEASE NOTES" in results[0]["preview"]
    turns = [e.payload for e in events if e.event_type == "run.agent_turn"]
    assert {t["provider"] for t in turns if t["step_id"] == "via_mcp"} == {"mcp"}
    assert {t["provider"] for t in turns if t["step_id"] == "loud"} == {"builtin"}


async def test_generation_through_mcp_uses_its_model(engine: Engine) -> None:
    gen = WorkflowGenerator(engine.providers, engine.tools, engine.clock)
    result = await gen.generate("Research MCP adoption", {}, provider="mcp")
    assert result.validation.valid
    assert result.metadata["provider"] == "mcp"
    assert result.metadata["generator"] == "builtin-deterministic"


# -- streamable HTTP --------------------------------------------------------------------------

async def test_streamable_http_server(tmp_path: Path) -> None:
    port = free_port()
    with http_server(port):
        await wait_listening(port)
        eng = await make_engine(tmp_path, [{"name": "remote", "transport": "streamable_http",
                                            "url": f"http://127.0.0.1:{port}/mcp",
                                            "tools": ["add", "shout"]}])
        try:
            assert [n for n in eng.tools.names() if n.startswith("mcp__")] == [
                "mcp__remote__add", "mcp__remote__shout"]
            result = await eng.tools.call("mcp__remote__shout", {"text": "over http"})
            assert result.ok and result.output == {"result": "OVER HTTP"}
        finally:
            await eng.stop()


async def test_unreachable_server_is_retried_on_first_use(tmp_path: Path) -> None:
    port = free_port()
    eng = await make_engine(tmp_path, [{"name": "late", "transport": "streamable_http",
                                        "url": f"http://127.0.0.1:{port}/mcp",
                                        "tools": ["add"]}], connect_timeout_seconds=5)
    try:
        # registered from the allow-list (open schema) so definitions naming it still load
        assert eng.tools.get("mcp__late__add").parameters["additionalProperties"] is True
        down = await eng.tools.call("mcp__late__add", {"a": 1, "b": 2})
        assert not down.ok and "MCP server 'late'" in (down.error or "")
        with http_server(port):
            await wait_listening(port)
            up = await eng.tools.call("mcp__late__add", {"a": 1, "b": 2})
            assert up.ok and up.output == {"result": 3}
            # the real schema replaced the placeholder once the server answered
            assert eng.tools.get("mcp__late__add").parameters["required"] == ["a", "b"]
    finally:
        await eng.stop()


async def test_http_bearer_token_comes_from_the_named_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aiohttp import web

    seen: list[str | None] = []

    async def refuse(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response({"error": "no"}, status=401)

    app = web.Application()
    app.router.add_route("*", "/mcp", refuse)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/mcp"
    server = {"name": "guarded", "transport": "streamable_http", "url": url,
              "bearer_token_env": "GUARDED_MCP_TOKEN", "tools": ["add"]}
    try:
        eng = await make_engine(tmp_path / "unset", [server], connect_timeout_seconds=5)
        try:
            unset = await eng.tools.call("mcp__guarded__add", {"a": 1, "b": 1})
            assert not unset.ok and "GUARDED_MCP_TOKEN" in (unset.error or "")
            assert seen == []  # nothing was sent without the token
        finally:
            await eng.stop()
        monkeypatch.setenv("GUARDED_MCP_TOKEN", "tok-123")
        eng = await make_engine(tmp_path / "set", [server], connect_timeout_seconds=5)
        try:
            refused = await eng.tools.call("mcp__guarded__add", {"a": 1, "b": 1})
            assert not refused.ok and "MCP server 'guarded'" in (refused.error or "")
            assert seen and set(seen) == {"Bearer tok-123"}
        finally:
            await eng.stop()
    finally:
        await runner.cleanup()


# -- not installed, not configured, bad config ------------------------------------------------

async def test_without_the_sdk_mcp_is_listed_unavailable_with_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)  # what an install without the extra sees
    eng = await make_engine(tmp_path, [STDIO])
    try:
        listed = eng.providers.describe()["providers"]["mcp"]
        assert listed["available"] is False
        assert "pip install 'switchboard-console[mcp]'" in listed["reason"]
        assert not [n for n in eng.tools.names() if n.startswith("mcp__")]
        gen = WorkflowGenerator(eng.providers, eng.tools, eng.clock)
        with pytest.raises(ValidationFailed) as info:
            await gen.generate("Research x", {}, provider="mcp")
        assert info.value.field == "provider"
        assert "pip install 'switchboard-console[mcp]'" in info.value.message
    finally:
        await eng.stop()


async def test_without_servers_mcp_says_so(tmp_path: Path) -> None:
    eng = await make_engine(tmp_path, [])
    try:
        provider = eng.providers.get("mcp")
        assert isinstance(provider, MCPProvider)
        assert provider.unavailable_reason() == (
            "no MCP servers are configured: add them to [providers.mcp] servers")
    finally:
        await eng.stop()


@pytest.mark.parametrize(("server", "message"), [
    ({"name": "a__b", "command": "x"}, "single '_'"),
    ({"name": "s", "transport": "stdio"}, "needs 'command'"),
    ({"name": "s", "transport": "streamable_http", "url": "ftp://x"}, "http:// or https://"),
    ({"name": "s", "transport": "websocket", "command": "x"}, "transport"),
])
def test_server_config_is_checked(server: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={}, overrides={"providers": {"mcp": {"servers": [server]}}})
    assert message in str(info.value)
    with pytest.raises(ConfigError, match="unique"):
        load_config(env={}, overrides={"providers": {"mcp": {"servers": [
            {"name": "s", "command": "x"}, {"name": "s", "command": "y"}]}}})
    with pytest.raises(ConfigError, match="another provider"):
        load_config(env={}, overrides={"providers": {"mcp": {"model_provider": "mcp"}}})
