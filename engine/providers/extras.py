"""Providers that need an optional extra: is it installed, and what to tell someone who
asked for it when it is not.

Why ``find_spec`` and not an import: importing the MCP SDK costs about a second and ADK
almost as much; ``switchboard serve`` lists every provider at start, and most installs use
neither. The module is imported on first real use instead.
"""

from __future__ import annotations

import importlib.util

DISTRIBUTION = "switchboard-console"


def install_hint(extra: str) -> str:
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def missing_extra(module: str, extra: str, what: str) -> str | None:
    """None when ``module`` can be imported; otherwise why not and how to enable it."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package, or a module blocked in sys.modules
        found = False
    if found:
        return None
    return f"{what} is not installed; enable it with: {install_hint(extra)}"
