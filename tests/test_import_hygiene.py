"""Dependencies point console -> server -> engine, never back; headless commands stay light;
the install puts nothing but ``switchboard`` (and the seed-compatibility module) at the top."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports_after(module: str, cwd: Path = ROOT) -> set[str]:
    code = (f"import sys, {module}; "
            "print('\\n'.join(sorted(m for m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                         check=True).stdout
    return set(out.split())


def _has(loaded: set[str], package: str) -> bool:
    return any(m == package or m.startswith(package + ".") for m in loaded)


def test_engine_imports_neither_server_nor_console() -> None:
    loaded = _imports_after("switchboard.engine.engine")
    assert not _has(loaded, "switchboard.server")
    assert not _has(loaded, "switchboard.console")
    assert not _has(loaded, "textual")


def test_headless_cli_does_not_import_textual() -> None:
    assert not _has(_imports_after("switchboard.console.cli"), "textual")
    assert not _has(_imports_after("switchboard.console.runtime"), "textual")
    assert not _has(_imports_after("switchboard.console.audit_cmd"), "textual")


def test_no_module_imports_upwards() -> None:
    for package, forbidden in (("engine", ("server", "console")), ("server", ("console",))):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            for name in forbidden:
                assert f"switchboard.{name}" not in text, f"{path.relative_to(ROOT)} imports {name}"


def test_every_import_uses_the_switchboard_namespace() -> None:
    """A bare ``from engine import`` would load a second copy of the module under another
    name (two engines, two sets of classes) when run from the repository folder."""
    for folder in ("engine", "server", "console", "tests", "bench", "examples"):
        for path in (ROOT / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                stripped = line.strip()
                for name in ("engine", "server", "console"):
                    assert not stripped.startswith((f"from {name}.", f"from {name} ",
                                                    f"import {name}")), (
                        f"{path.relative_to(ROOT)}:{number}: use switchboard.{name}")


def test_no_generic_top_level_name_is_installed(tmp_path: Path) -> None:
    """Outside the repository folder only the namespaced names import."""
    code = ("import importlib.util, sys; "
            "print([n for n in ('engine', 'server', 'console') if importlib.util.find_spec(n)])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "[]"
    loaded = _imports_after("switchboard.console.cli", cwd=tmp_path)
    assert "switchboard.console.cli" in loaded


def _server_modules(loaded: set[str]) -> set[str]:
    """Modules of the server's HTTP half: everything under switchboard.server except the
    package itself, the wire contract and the SDK."""
    allowed = ("switchboard.server.contract", "switchboard.server.sdk")
    return {m for m in loaded if m.startswith("switchboard.server.")
            and not any(m == a or m.startswith(a + ".") for a in allowed)}


def test_contract_imports_neither_engine_nor_aiohttp() -> None:
    loaded = _imports_after("switchboard.server.contract")
    assert not _has(loaded, "switchboard.engine")
    assert not _has(loaded, "aiohttp")
    assert not _server_modules(loaded)


def test_sdk_imports_neither_engine_nor_the_server_http_half() -> None:
    for module in ("switchboard.server.sdk", "switchboard.server.sdk.worker_cli"):
        loaded = _imports_after(module)
        assert not _has(loaded, "switchboard.engine"), module
        assert not _server_modules(loaded), (module, sorted(_server_modules(loaded)))
        assert not _has(loaded, "aiohttp.web"), module
        assert not _has(loaded, "pydantic"), module
