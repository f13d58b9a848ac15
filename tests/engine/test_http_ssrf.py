"""The ``http`` tool does not reach inside the network unless the operator says so.

A real aiohttp server on 127.0.0.1 plays the internal service (it counts the requests that
reach it, so a refusal is proven by a zero, not by an error message alone). Names reach it
three ways: the IP literal, ``localhost`` (the system resolver), and names mapped by a test
resolver handed to the tool (no /etc/hosts edits). Redirects are followed hop by hop, each
hop checked; ``[tools.http] allow_hosts`` (exact names or CIDRs) lets a host through.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from switchboard.engine.config import ConfigError, HttpToolConfig, load_config
from switchboard.engine.tools import ToolRegistry
from switchboard.engine.tools.http import address_class, http_tool


@dataclass
class Internal:
    """The internal service: its port and every path that was requested."""

    port: int
    hits: list[str] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
async def internal() -> AsyncIterator[Internal]:
    state = Internal(0)

    async def secret(request: web.Request) -> web.Response:
        state.hits.append(request.path)
        return web.json_response({"secret": "s3cr3t", "host": request.host})

    async def redirect(request: web.Request) -> web.Response:
        state.hits.append(request.path)
        code = int(request.query.get("code", "302"))
        return web.Response(status=code, headers={"Location": request.query["to"]})

    async def loop(request: web.Request) -> web.Response:
        state.hits.append(request.path)
        raise web.HTTPFound("/loop")

    app = web.Application()
    app.router.add_get("/secret", secret)
    app.router.add_route("*", "/redirect", redirect)
    app.router.add_get("/loop", loop)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.port = runner.addresses[0][1]
    try:
        yield state
    finally:
        await runner.cleanup()


class MapResolver(AbstractResolver):
    """Resolves names from a table; each name's answers are served in turn (a rebinding
    DNS server answers differently on each query). Counts queries per name."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.queries: dict[str, int] = {}

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        answers = self.table.get(host)
        if answers is None:  # everything else: the system's resolver
            return await ThreadedResolver().resolve(host, port, family)
        n = self.queries.get(host, 0)
        self.queries[host] = n + 1
        address = answers[min(n, len(answers) - 1)]
        fam = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [{"hostname": host, "host": address, "port": port, "family": fam,
                 "proto": 0, "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        return None


def registry(allow_hosts: list[str] | None = None, resolver: AbstractResolver | None = None,
             max_redirects: int = 5) -> ToolRegistry:
    tools = ToolRegistry()
    tools.register(http_tool(HttpToolConfig(allow_hosts=allow_hosts or [],
                                            max_redirects=max_redirects), resolver=resolver))
    return tools


async def call(tools: ToolRegistry, url: str, **args: Any) -> Any:
    return await tools.call("http", {"url": url, "timeout": 5, **args})


# -- address classes --------------------------------------------------------------------------

@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6 is unwrapped
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
    ("fd00::1", "private"), ("fd00:ec2::254", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("0.0.0.0", "unspecified"), ("0.1.2.3", "unspecified"), ("::", "unspecified"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("100.64.0.1", "shared (CGNAT)"), ("100.127.255.254", "shared (CGNAT)"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"),
    ("192.0.2.10", "reserved"), ("198.18.0.1", "reserved"),  # documentation, benchmarking
    ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
    ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 around 169.254.169.254
    ("93.184.215.14", None), ("8.8.8.8", None), ("2606:4700:4700::1111", None),
])
def test_address_classes(address: str, kind: str | None) -> None:
    assert address_class(ipaddress.ip_address(address)) == kind


# -- refusals ---------------------------------------------------------------------------------

async def test_loopback_ip_literal_is_refused(internal: Internal) -> None:
    result = await call(registry(), internal.url("/secret"))
    assert not result.ok
    assert result.error == (
        "refused to connect to 127.0.0.1 (host '127.0.0.1'): it is a loopback address; "
        "to allow it, add '127.0.0.1' to [tools.http] allow_hosts")
    assert result.output is None and internal.hits == []


async def test_localhost_is_refused_after_resolution(internal: Internal) -> None:
    result = await call(registry(), internal.url("/secret", host="localhost"))
    assert not result.ok and internal.hits == []
    assert "(host 'localhost')" in result.error and "loopback" in result.error
    assert "[tools.http] allow_hosts" in result.error


async def test_a_name_that_resolves_inside_is_refused(internal: Internal) -> None:
    resolver = MapResolver({"metadata.test": ["169.254.169.254"],
                            "svc.test": ["127.0.0.1"], "intranet.test": ["10.0.0.5"]})
    tools = registry(resolver=resolver)
    for host, kind in (("svc.test", "loopback"), ("metadata.test", "link-local"),
                       ("intranet.test", "private")):
        result = await call(tools, internal.url("/secret", host=host))
        assert not result.ok
        assert f"(host '{host}'): it is a {kind} address" in result.error, result.error
        assert f"add '{host}' to [tools.http] allow_hosts" in result.error
    assert internal.hits == []


async def test_the_checked_address_is_the_one_connected(internal: Internal) -> None:
    """DNS rebinding: the first answer is allowed (a CIDR in the allow-list), the second
    would be loopback. The tool resolves once per connection and connects to what it checked,
    so the internal service is never reached (a check-then-resolve-again tool would)."""
    resolver = MapResolver({"rebind.test": ["192.0.2.7", "127.0.0.1"]})
    tools = registry(allow_hosts=["192.0.2.0/24"], resolver=resolver)
    await tools.call("http", {"url": internal.url("/secret", host="rebind.test"), "timeout": 1})
    # (the call itself fails: nothing answers at 192.0.2.7)
    assert internal.hits == [] and resolver.queries == {"rebind.test": 1}


async def test_redirect_from_an_allowed_host_to_a_forbidden_one(internal: Internal) -> None:
    resolver = MapResolver({"allowed.test": ["127.0.0.1"]})
    tools = registry(allow_hosts=["allowed.test"], resolver=resolver)
    for target in (internal.url("/secret"), internal.url("/secret", host="localhost"),
                   "http://169.254.169.254/latest/meta-data/"):
        start = internal.url(f"/redirect?to={target}", host="allowed.test")
        result = await call(tools, start)
        assert not result.ok, target
        assert "refused to connect" in result.error and "[tools.http] allow_hosts" in result.error
    assert internal.hits == ["/redirect"] * 3  # the hop to /secret never happened
    # a 307 keeps the method and body; still checked
    result = await call(tools, internal.url(f"/redirect?code=307&to={internal.url('/secret')}",
                                            host="allowed.test"), method="POST", json={"a": 1})
    assert not result.ok and internal.hits[-1] == "/redirect"


async def test_redirects_within_allowed_hosts_are_followed(internal: Internal) -> None:
    resolver = MapResolver({"allowed.test": ["127.0.0.1"]})
    tools = registry(allow_hosts=["allowed.test"], resolver=resolver)
    target = internal.url("/secret", host="allowed.test")
    result = await call(tools, internal.url(f"/redirect?to={target}", host="allowed.test"))
    assert result.ok, result.error
    assert result.output["json"]["secret"] == "s3cr3t"
    assert result.output["redirects"] == [target]
    assert internal.hits == ["/redirect", "/secret"]


async def test_redirects_are_capped(internal: Internal) -> None:
    tools = registry(allow_hosts=["127.0.0.1"], max_redirects=3)
    result = await call(tools, internal.url("/loop"))
    assert not result.ok
    assert result.error == (f"request to {internal.url('/loop')} stopped after 3 redirects "
                            "([tools.http] max_redirects)")
    assert internal.hits == ["/loop"] * 4


async def test_non_http_redirect_targets_are_refused(internal: Internal) -> None:
    tools = registry(allow_hosts=["127.0.0.1"])
    result = await call(tools, internal.url("/redirect?to=file:///etc/passwd"))
    assert not result.ok and "file:///etc/passwd" in result.error


async def test_numeric_host_tricks_are_refused(internal: Internal) -> None:
    tools = registry()
    for host in ("2130706433", "0x7f.1", "127.1", "[::ffff:127.0.0.1]", "0.0.0.0"):
        result = await call(tools, f"http://{host}:{internal.port}/secret")
        assert not result.ok, host
    assert internal.hits == []


# -- the allow-list ---------------------------------------------------------------------------

@pytest.mark.parametrize("allow", [["127.0.0.1"], ["127.0.0.0/8"], ["LOCALHOST"], ["::1", "localhost"]])
async def test_allow_hosts_lets_a_host_through(internal: Internal, allow: list[str]) -> None:
    host = "localhost" if any("localhost" in a.lower() for a in allow) else "127.0.0.1"
    result = await call(registry(allow_hosts=allow), internal.url("/secret", host=host))
    assert result.ok, result.error
    assert result.output["json"]["secret"] == "s3cr3t"
    assert internal.hits == ["/secret"]


async def test_allowing_a_name_does_not_allow_its_address(internal: Internal) -> None:
    resolver = MapResolver({"allowed.test": ["127.0.0.1"]})
    tools = registry(allow_hosts=["allowed.test"], resolver=resolver)
    assert (await call(tools, internal.url("/secret", host="allowed.test"))).ok
    assert not (await call(tools, internal.url("/secret"))).ok
    assert internal.hits == ["/secret"]


def test_allow_hosts_entries_are_checked_at_load() -> None:
    config = load_config(env={}, overrides={"tools": {"http": {
        "allow_hosts": ["Example.internal.", "10.0.0.0/8", "::1"]}}})
    assert config.tools.http.allow_hosts == ["example.internal", "10.0.0.0/8", "::1"]
    for bad in (["http://x"], ["10.0.0.0/33"], [""], ["a b"]):
        with pytest.raises(ConfigError) as info:
            load_config(env={}, overrides={"tools": {"http": {"allow_hosts": bad}}})
        assert info.value.key.startswith("tools.http.allow_hosts")


async def test_the_engine_registry_uses_the_config(tmp_path: Any, internal: Internal) -> None:
    from switchboard.engine.engine import Engine
    from tests.conftest import make_config

    for allow, ok in (([], False), (["127.0.0.1"], True)):
        engine = Engine(make_config(tmp_path, tools={"http": {"allow_hosts": allow}}),
                        run_maintenance=False)
        result = await engine.tools.call("http", {"url": internal.url("/secret")})
        assert result.ok is ok, result.error
