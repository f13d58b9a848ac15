"""``--demo`` wiring: the loopback address and the demo's rate-limit exemption."""

from __future__ import annotations

from pathlib import Path

from console.demo import loopback_url, prepare_demo_config
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
