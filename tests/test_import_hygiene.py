"""Dependencies point console -> server -> engine, never back; headless commands stay light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports_after(module: str) -> set[str]:
    code = (f"import sys, {module}; "
            "print('\\n'.join(sorted(m.split('.')[0] for m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    return set(out.split())


def test_engine_imports_neither_server_nor_console() -> None:
    loaded = _imports_after("engine.engine")
    assert "server" not in loaded and "console" not in loaded and "textual" not in loaded


def test_headless_cli_does_not_import_textual() -> None:
    loaded = _imports_after("console.cli")
    assert "textual" not in loaded
    loaded = _imports_after("console.runtime")
    assert "textual" not in loaded


def test_no_module_imports_upwards() -> None:
    for package, forbidden in (("engine", ("server", "console")), ("server", ("console",))):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            for name in forbidden:
                assert f"from {name}" not in text and f"import {name}" not in text, (
                    f"{path.relative_to(ROOT)} imports {name}")
