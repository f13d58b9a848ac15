"""Who asked for a change, as the engine records it: in approvals, events and the audit log.

Why the engine has its own type rather than the server's ``Principal``: the engine must not
import the wire, and its callers are not all HTTP clients (the in-process console, the
maintenance loop, a run acting for its own steps). The server converts each authenticated
principal into an ``Actor`` once per request (``server.resources.common.actor_of``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

ROLE_RANK: Final = {"user": 1, "agent": 2, "admin": 3}
"""Seed 003's hierarchy, used for *route* minimums only; gates use exact membership."""

AUTH_METHODS: Final = ("jwt", "api_key", "oauth", "console", "system")


@dataclass(frozen=True)
class Actor:
    """A principal acting on the engine.

    ``name`` is the JWT ``sub``, the API key's name, the OAuth client id, the console's
    operator, or a system name (``system``, ``timeout``, ``run:<id>``). ``kind`` is how it
    authenticated (one of ``AUTH_METHODS``), recorded in the audit log; ``request_id``
    ties an audit row to the API request (and its log lines) that caused it.
    """

    name: str
    role: str = "admin"
    kind: str = "system"
    request_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def at_least(self, minimum: str) -> bool:
        return ROLE_RANK.get(self.role, 0) >= ROLE_RANK.get(minimum, 99)


SYSTEM: Final = Actor("system", "admin", "system")
"""The engine acting on its own (maintenance, recovery); never a person."""
