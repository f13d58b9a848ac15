"""``server.host.Host``: the engine is the API app's cleanup context, so the two start and
stop as one, in order, and a port that cannot be bound leaves nothing running."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
import pytest

from switchboard.server.auth import AuthSetupError
from switchboard.server.host import Host
from tests.conftest import make_config


def config(tmp_path: Path, port: int = 0, secret: str = "host-test-secret-0123456789abcdef"):
    return make_config(tmp_path / "data", server={"host": "127.0.0.1", "port": port},
                       auth={"jwt_secret": secret})


async def test_engine_and_api_start_and_stop_as_one(tmp_path: Path) -> None:
    host = Host(config(tmp_path))
    assert not host.engine.started and host.address == "in-process"
    await host.start()
    try:
        assert host.engine.started and host.port
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://127.0.0.1:{host.port}/health") as resp:
            assert resp.status == 200 and (await resp.json())["status"] == "healthy"
        assert host.address == f"http://127.0.0.1:{host.port}/api/v1"
    finally:
        await host.stop()
    assert not host.engine.started  # the engine stopped with the app
    with socket.socket() as probe:  # and the port is free again
        probe.bind(("127.0.0.1", host.port))
    await host.stop()  # twice is harmless


async def test_a_port_in_use_leaves_nothing_running(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        host = Host(config(tmp_path, port=taken.getsockname()[1]))
        with pytest.raises(OSError):
            await host.start()
    assert not host.engine.started and host.runner is None


def test_a_bad_secret_fails_before_any_port_is_opened(tmp_path: Path) -> None:
    with pytest.raises(AuthSetupError):
        Host(config(tmp_path, secret="short"))
