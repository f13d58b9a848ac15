"""Functions the tool tests register as ``module:function`` tools."""

from __future__ import annotations


def add(a: int, b: int = 0) -> int:
    """Add two numbers (a tool fixture)."""
    return a + b


async def greet(name: str) -> str:
    """Say hello, asynchronously."""
    return f"hello {name}"


def _private() -> str:
    return "hidden"
