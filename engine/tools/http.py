"""The ``http`` tool: one HTTP request with a timeout, never into the server's own network
unless the operator allows it.

Why it returns non-2xx responses as failures with the response attached: a tool step that
verifies a deployment must fail (or branch via ``on_failure``) on a 500, and the operator
needs to see what the server said. Bodies are capped so a large download cannot bloat run
history.

Why an outbound policy (issue 9): the request is made by the server, so whoever writes a URL
into a definition, an inline ``/execute`` body or a run parameter (``health_url``) could make
the server fetch its own API, the cloud metadata service (169.254.169.254) or anything on the
internal network, and read the answer back in the run's output. So the tool refuses every
address that is not globally routable (``address_class``) unless the host is listed in
``[tools.http] allow_hosts``. Three details make that check hold:

- It runs after DNS resolution, inside the connector's resolver (``GuardedResolver``): the
  addresses checked are the addresses connected to, so a name that resolves to a public
  address once and to 127.0.0.1 the next time (DNS rebinding) cannot slip in between check
  and connect. IP-literal hosts, which aiohttp never resolves, are checked before each hop.
- Redirects are followed by hand, at most ``max_redirects``, each hop checked like the
  first: an allowed host cannot bounce the request to a forbidden one. Credentials
  (``Authorization``, ``Cookie``) are not carried to another origin.
- Proxy settings from the environment are ignored (``trust_env=False``): a proxy would
  resolve names itself, out of the check's sight.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgspec
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from switchboard.engine.config import HttpToolConfig
from switchboard.engine.tools.registry import Tool, ToolContext, ToolError

MAX_BODY_BYTES = 65_536
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
REDIRECTS = frozenset({301, 302, 303, 307, 308})
CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")
SETTING = "[tools.http] allow_hosts"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_PRIVATE = tuple(ipaddress.ip_network(n) for n in
                 ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64): it routes there."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def address_class(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public destination (``"loopback"``, ``"private"``, ...), or None
    if it is globally routable."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return address_class(inner)
    if ip.is_unspecified or ip in _THIS_NETWORK:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip in _CGNAT:
        return "shared (CGNAT)"
    if any(ip in network for network in _PRIVATE):
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "reserved"
    return None


class OutboundRefused(Exception):
    """The destination is inside the network and not allow-listed. Deliberately not an
    ``OSError``: aiohttp would wrap that into a generic connection error."""

    def __init__(self, host: str, address: str, kind: str) -> None:
        super().__init__(f"refused to connect to {address} (host {host!r}): it is a {kind} "
                         f"address; to allow it, add {host!r} to {SETTING}")


class OutboundPolicy:
    """``[tools.http] allow_hosts`` applied: exact host names, or addresses in listed
    networks, pass; any other non-public address is refused."""

    def __init__(self, allow_hosts: Sequence[str] = ()) -> None:
        names: set[str] = set()
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allow_hosts:
            text = entry.strip().lower().rstrip(".")
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                names.add(text)
        self.names = frozenset(names)
        self.networks = tuple(networks)

    def check(self, host: str, address: str) -> None:
        """Raise OutboundRefused unless ``host`` (as written in the URL) may be reached at
        ``address`` (what it resolved to)."""
        if host.lower().rstrip(".") in self.names:
            return
        ip = ipaddress.ip_address(address)
        if any(ip in network for network in self.networks):
            return
        kind = address_class(ip)
        if kind is not None:
            raise OutboundRefused(host, str(ip), kind)

    def check_literal(self, url: URL) -> None:
        """Hosts written as IP addresses are never resolved: check them as written."""
        host = url.raw_host or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return
        self.check(host, host)


class GuardedResolver(AbstractResolver):
    """Resolves through ``inner`` (the system's resolver by default) and refuses the whole
    answer if any address is forbidden. The connector connects only to addresses this
    returned, so what was checked is what is used."""

    def __init__(self, policy: OutboundPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner
        self._owns_inner = inner is None

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if self._inner is None:
            self._inner = DefaultResolver()
        answers = await self._inner.resolve(host, port, family)
        for answer in answers:
            self.policy.check(host, answer["host"])
        return answers

    async def close(self) -> None:
        if self._owns_inner and self._inner is not None:
            await self._inner.close()
            self._inner = None


def _parse_url(url: str) -> URL:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ToolError(f"url must be an absolute http(s) URL, got {url!r}")
    try:
        return URL(url)
    except ValueError as exc:
        raise ToolError(f"url {url!r} is not valid: {exc}") from None


def _request_body(args: dict[str, Any], headers: dict[str, str]) -> bytes | None:
    if args.get("json") is not None:
        headers.setdefault("Content-Type", "application/json")
        return msgspec.json.encode(args["json"])
    if args.get("body") is not None:
        return str(args["body"]).encode()
    return None


class _Fetcher:
    """One tool call: the request, then each redirect hop, every one checked."""

    def __init__(self, config: HttpToolConfig, resolver: AbstractResolver | None) -> None:
        self.policy = OutboundPolicy(config.allow_hosts)
        self.max_redirects = config.max_redirects
        self.resolver = resolver

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        method = str(args.get("method", "GET")).upper()
        if method not in METHODS:
            raise ToolError(f"method must be one of {', '.join(METHODS)}")
        url = str(args["url"])
        current = _parse_url(url)
        headers = {str(k): str(v) for k, v in (args.get("headers") or {}).items()}
        if ctx.idempotency_key and method != "GET":
            headers.setdefault("Idempotency-Key", ctx.idempotency_key)
        timeout = aiohttp.ClientTimeout(total=float(args.get("timeout", 30)))
        data = _request_body(args, headers)
        params = args.get("params") or None
        redirects: list[str] = []
        resolver = GuardedResolver(self.policy, self.resolver)
        connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False)
        try:
            async with aiohttp.ClientSession(timeout=timeout, connector=connector,
                                             trust_env=False) as session:
                while True:
                    self.policy.check_literal(current)
                    async with session.request(method, current, headers=headers, params=params,
                                               data=data, allow_redirects=False) as response:
                        location = response.headers.get("Location")
                        if response.status not in REDIRECTS or not location:
                            raw = await response.content.read(MAX_BODY_BYTES + 1)
                            status = response.status
                            content_type = response.headers.get("Content-Type", "")
                            break
                        target = response.url.join(URL(location))
                    if len(redirects) >= self.max_redirects:
                        raise ToolError(f"request to {url} stopped after {self.max_redirects} "
                                        "redirects ([tools.http] max_redirects)")
                    if target.scheme not in ("http", "https") or not target.host:
                        raise ToolError(f"request to {url} was redirected to {location!r}, "
                                        "which is not an http(s) URL")
                    if response.status == 303 or (response.status in (301, 302)
                                                  and method == "POST"):
                        method, data = "GET", None  # what browsers and aiohttp do
                        headers.pop("Content-Type", None)
                    if target.origin() != current.origin():
                        headers = {k: v for k, v in headers.items()
                                   if k.lower() not in CREDENTIAL_HEADERS}
                    redirects.append(str(target))
                    current, params = target, None
        except OutboundRefused as exc:
            raise ToolError(str(exc)) from None
        except TimeoutError:
            raise ToolError(f"request to {url} timed out after {timeout.total:g}s") from None
        except aiohttp.ClientError as exc:
            raise ToolError(f"request to {url} failed: {type(exc).__name__}: {exc}") from None
        finally:
            await resolver.close()
        return _result(url, status, content_type, raw, redirects)


def _result(url: str, status: int, content_type: str, raw: bytes,
            redirects: list[str]) -> dict[str, Any]:
    truncated = len(raw) > MAX_BODY_BYTES
    text = raw[:MAX_BODY_BYTES].decode("utf-8", "replace")
    result: dict[str, Any] = {"status": status, "url": url, "content_type": content_type,
                              "body": text, "truncated": truncated}
    if redirects:
        result["redirects"] = redirects
    if "json" in content_type and not truncated:
        try:
            result["json"] = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            pass
    if status >= 400:
        raise ToolError(f"HTTP {status} from {url}", output=result)
    return result


def http_tool(config: HttpToolConfig | None = None, *,
              resolver: AbstractResolver | None = None) -> Tool:
    """The ``http`` tool under ``config``'s outbound policy. ``resolver`` replaces the
    system's name resolution (tests map names to addresses with it); its answers are
    checked all the same."""
    obj = {"type": "object"}
    return Tool(
        name="http", kind="http", timeout=30,
        handler=_Fetcher(config or HttpToolConfig(), resolver),
        description="Make an HTTP request; non-2xx statuses count as failures. Internal "
                    "addresses are refused unless allow-listed.",
        parameters={"type": "object", "required": ["url"], "properties": {
            "url": {"type": "string"},
            "method": {"type": "string", "enum": list(METHODS)},
            "headers": obj, "params": obj, "json": {},
            "body": {"type": "string"}, "timeout": {"type": "number"}}},
    )
