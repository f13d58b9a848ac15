"""``--demo`` wiring: the loopback address and the demo's rate-limit exemption."""

from __future__ import annotations

from pathlib import Path

from switchboard.console.demo import loopback_url, prepare_demo_config
from tests.conftest import make_config


def test_loopback_url_replaces_wildcard_binds() -> None:
    assert loopback_url("http://0.0.0.0:8000/api/v1") == "http://127.0.0.1:8000/api/v1"
    assert loopback_url("http://[::]:9000/api/v1") == "http://127.0.0.1:9000/api/v1"
    assert loopback_url("http://10.1.2.3:8000/api/v1") == "http://10.1.2.3:8000/api/v1"


def test_demo_exempts_the_agent_role_once(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert config.rate_limits.exempt_roles == ["admin"]
    prepare_demo_config(config)
    prepare_demo_config(config)
    assert config.rate_limits.exempt_roles == ["admin", "agent"]


async def test_the_demo_lets_the_deployment_check_reach_its_own_server(tmp_path: Path) -> None:
    """The deployment example's verify step calls http://127.0.0.1:<port>/health: the SSRF
    guard refuses loopback unless listed, so the demo lists exactly 127.0.0.1."""
    from aiohttp import web

    from switchboard.engine.tools.http import http_tool
    from switchboard.engine.tools.registry import ToolContext

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "healthy"})

    app = web.Application()
    app.router.add_get("/health", health)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        config = make_config(tmp_path)
        assert config.tools.http.allow_hosts == []
        prepare_demo_config(config)
        assert config.tools.http.allow_hosts == ["127.0.0.1"]
        tool = http_tool(config.tools.http)
        result = await tool.handler({"url": f"http://127.0.0.1:{port}/health"}, ToolContext())
        assert result["status"] == 200
    finally:
        await runner.cleanup()


async def test_serve_demo_runtime_runs_the_fleet_over_its_own_api(tmp_path: Path) -> None:
    """``serve --demo``: the Runtime starts the API on a free port, then the fleet against it;
    stopping it stops the fleet first, so every agent says goodbye over the API."""
    from switchboard.console.runtime import Runtime
    from switchboard.server.sdk.client import AsyncClient
    from tests.server.conftest import SECRET

    config = make_config(tmp_path, server={"port": 0}, auth={"jwt_secret": SECRET},
                         orchestrations={"dir": str(tmp_path / "none")})
    runtime = Runtime(config, demo=True)
    await runtime.start()
    try:
        await runtime.demo_started()
        assert "agent" in config.rate_limits.exempt_roles
        async with AsyncClient(runtime.address, jwt_secret=SECRET, subject="t",
                               role="user") as client:
            agents = list(await client.agents.list(limit=100))
            created = (await client.stats()).queue.total_tasks
    finally:
        await runtime.stop()
    assert len(agents) == 7 and {a.status for a in agents} == {"active"}
    assert created >= 14
    stopped = await _agents_after(tmp_path, config)
    assert stopped == {"inactive"}


async def _agents_after(tmp_path: Path, config: object) -> set[str]:
    from switchboard.engine.engine import Engine

    engine = Engine(config, run_maintenance=False)  # type: ignore[arg-type]
    await engine.start()
    try:
        return {a.status for a in await engine.agents.all()}
    finally:
        await engine.stop()
