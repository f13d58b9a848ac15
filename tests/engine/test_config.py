"""Configuration: file, environment, overrides, and errors that say where and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.engine.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_defaults() -> None:
    config = load_config(env={})
    assert config.server.host == "127.0.0.1" and config.server.port == 8000
    assert config.storage.synchronous == "FULL"
    assert config.routing.table["bugfix"] == "dev_agent"
    assert config.rate_limits.endpoints["POST /tasks"] == "10/minute"


def test_example_config_is_valid_and_complete() -> None:
    config = load_config(ROOT / "config.example.toml", env={})
    assert config.server.port == 8000


def test_env_overrides(tmp_path) -> None:
    env = {
        "SWITCHBOARD_RATE_LIMITS_ENABLED": "false",
        "SWITCHBOARD_SERVER_PORT": "9100",
        "ORCHESTRATOR_JWT_SECRET": "s" * 40,
        "ORCHESTRATOR_API_KEY_DEV_AGENT": "key-0123456789abcdef:agent",
    }
    config = load_config(env=env)
    assert config.rate_limits.enabled is False
    assert config.server.port == 9100
    assert config.auth.jwt_secret == "s" * 40
    assert config.auth.api_keys[0].name == "dev_agent"
    assert config.auth.api_keys[0].role == "agent"


def test_api_key_with_colons_splits_on_last(tmp_path) -> None:
    config = load_config(env={"ORCHESTRATOR_API_KEY_X": "a:b:c-0123456789abcdef:admin"})
    assert config.auth.api_keys[0].key == "a:b:c-0123456789abcdef"


def test_bad_api_key_role() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(env={"ORCHESTRATOR_API_KEY_X": "0123456789abcdef:root"})
    assert err.value.key == "ORCHESTRATOR_API_KEY_X"


def test_unknown_key_in_file(tmp_path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[server]\nprot = 8000\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert err.value.source == str(path)
    assert err.value.key == "server.prot"
    assert "unknown setting" in err.value.reason


def test_bad_value_in_file(tmp_path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[rate_limits]\ndefault = 'lots'\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert err.value.key == "rate_limits.default"
    assert "10/minute" in err.value.reason


def test_toml_syntax_error_names_line(tmp_path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[server]\nport = \n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert "line 2" in str(err.value)


def test_missing_file() -> None:
    with pytest.raises(ConfigError):
        load_config("/nonexistent/switchboard.toml", env={})


def test_cli_overrides_win_over_env() -> None:
    config = load_config(overrides={"server": {"port": 7000}}, env={"SWITCHBOARD_SERVER_PORT": "9"})
    assert config.server.port == 7000


def _keys(data: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in data.items():
        out.add(prefix + key)
        if isinstance(value, dict) and key not in ("endpoints", "table", "prices", "keymap",
                                                  "assign", "quorum", "sla"):
            out |= _keys(value, prefix + key + ".")
    return out


def _model_keys(model, prefix: str = "") -> set[str]:
    from pydantic import BaseModel

    out = set()
    for name, field in model.model_fields.items():
        out.add(prefix + name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out |= _model_keys(annotation, prefix + name + ".")
    return out


def test_example_documents_every_setting() -> None:
    import tomllib

    from switchboard.engine.config import Config

    data = tomllib.loads((ROOT / "config.example.toml").read_text())
    assert _keys(data) == _model_keys(Config)


def test_client_variables_are_not_settings() -> None:
    config = load_config(env={"SWITCHBOARD_TOKEN": "t", "SWITCHBOARD_URL": "http://x"})
    assert config.server.port == 8000
