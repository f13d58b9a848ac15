"""``--demo`` wiring: the simulated fleet of ``server.demo_fleet``, pointed at this process's
own HTTP API.

The fleet is an ordinary API client (``Worker``s with agent JWTs, a task generator with an
admin JWT), minted from the server's secret; nothing here reaches into the engine. So what
the demo shows on the console is what a real deployment with remote workers shows.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from switchboard.engine.config import Config
from switchboard.server.demo_fleet import DemoFleet, DemoSettings

WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def loopback_url(address: str) -> str:
    """The API address as a local client reaches it (a wildcard bind becomes 127.0.0.1)."""
    parts = urlsplit(address)
    host = parts.hostname or ""
    if host in WILDCARD_HOSTS:
        netloc = f"127.0.0.1:{parts.port}" if parts.port else "127.0.0.1"
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def prepare_demo_config(config: Config) -> None:
    """Settings a live demo needs on top of the operator's config.

    The simulated agents report progress far more often than seed 001's per-principal
    default (1,000 requests/hour) allows; a demo that starts answering 429 after half an
    hour shows nothing useful, so ``--demo`` exempts the agent role, as a real deployment
    sizes ``[rate_limits]`` for its fleet."""
    if "agent" not in config.rate_limits.exempt_roles:
        config.rate_limits.exempt_roles = [*config.rate_limits.exempt_roles, "agent"]
    # The deployment example's verify step checks the demo server's own /health on
    # 127.0.0.1; the http tool refuses loopback unless listed (issue 9's SSRF guard), so
    # the demo lists exactly that address, as an operator would list an internal host.
    if "127.0.0.1" not in config.tools.http.allow_hosts:
        config.tools.http.allow_hosts = [*config.tools.http.allow_hosts, "127.0.0.1"]


def build_demo_fleet(config: Config, address: str,
                     settings: DemoSettings | None = None) -> DemoFleet:
    """A fleet for the API at ``address``, with tokens minted from ``config``'s secret."""
    return DemoFleet(loopback_url(address), config.auth.jwt_secret, settings=settings)
