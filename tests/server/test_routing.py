"""Route declarations refuse mistakes at import/start time rather than at request time."""

from __future__ import annotations

import subprocess
import sys

import pytest
from aiohttp import web

from switchboard.server.routing import RouteRegistry, RouteTable


def test_role_must_be_declared() -> None:
    table = RouteTable()
    with pytest.raises(TypeError):
        table.get("/x")  # type: ignore[call-arg]


def test_unknown_role_and_relative_path_are_refused() -> None:
    table = RouteTable()
    with pytest.raises(ValueError, match="role"):
        table.get("/x", role="root")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="start with '/'"):
        table.get("x", role=None)


def test_responses_are_contract_records() -> None:
    """``response=`` names a msgspec Struct (or a list of one), never a pydantic model: the
    contract is the one definition of what a route answers."""
    from pydantic import BaseModel

    from switchboard.server import contract

    class Out(BaseModel):
        ok: bool

    table = RouteTable()
    with pytest.raises(TypeError, match="msgspec Struct"):
        table.get("/x", role=None, response=Out)
    with pytest.raises(TypeError, match="msgspec Struct"):
        table.get("/x", role=None, response=dict)
    table.get("/a", role=None, response=contract.Task)
    table.get("/b", role=None, response=list[contract.OrchestrationSummary])


def test_handlers_must_be_coroutines() -> None:
    table = RouteTable()
    with pytest.raises(TypeError, match="async def"):

        @table.get("/x", role=None)
        def sync(request: web.Request) -> None: ...


def test_duplicate_operation_ids_are_refused() -> None:
    one, two = RouteTable(), RouteTable()

    @one.get("/a", role=None)
    async def same(request: web.Request) -> None: ...

    @two.get("/b", role=None, operation_id="same")
    async def other(request: web.Request) -> None: ...

    with pytest.raises(ValueError, match="operation id 'same'"):
        RouteRegistry().mount(web.Application().router, one, two)


def test_summary_and_description_come_from_the_docstring() -> None:
    table = RouteTable(tag="t")

    @table.post("/x/{x_id:\\d+}", role="agent")
    async def do(request: web.Request) -> None:
        """Do the thing.

        At length.
        """

    (spec,) = table
    assert (spec.summary, spec.description, spec.tags) == ("Do the thing.", "At length.", ("t",))
    assert spec.openapi_path == "/x/{x_id}" and spec.path_names == ("x_id",)


def test_server_never_imports_console_or_textual() -> None:
    code = (
        "import sys, switchboard.server.app, switchboard.server.openapi, switchboard.server.middlewares;"
        "bad = [m for m in sys.modules if m.startswith(('switchboard.console', 'textual'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
