"""How the client proves who it is: a static bearer credential, or a JWT minted locally.

Seed 003's ``OrchestratorClient`` mints its own HS256 JWT from ``ORCHESTRATOR_JWT_SECRET``
(``sub``, ``role``, ``iat``, ``exp``); ``SecretJwt`` does the same and mints a fresh one
shortly before the old one expires, so a worker that runs for days never gets a 401.
API keys and pre-minted tokens go in ``StaticToken``. Both are sent as
``Authorization: Bearer ...`` (the server resolves keys and JWTs alike) and, on WebSockets,
in the first ``auth`` message: never in a URL, never in a log line or a repr.
"""

from __future__ import annotations

import time
from typing import Protocol

import jwt

JWT_ALGORITHM = "HS256"


class Credentials(Protocol):
    """Anything that can produce the current bearer credential."""

    def bearer(self) -> str: ...


class StaticToken:
    """An API key or an already minted JWT."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value or not value.strip():
            raise ValueError("the API key / token is empty")
        self._value = value.strip()

    def bearer(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "StaticToken(***)"


class SecretJwt:
    """Mints ``{"sub", "role", "iat", "exp"}`` HS256 tokens from the shared secret (seed 003).

    ``refresh_margin`` seconds before expiry the next call mints a new token.
    """

    __slots__ = ("_expires", "_refresh_margin", "_secret", "_token", "role", "subject", "ttl")

    def __init__(self, secret: str, subject: str, role: str = "agent", *,
                 ttl_seconds: int = 86_400, refresh_margin: float = 300.0) -> None:
        if not secret:
            raise ValueError("the JWT secret is empty")
        if not subject:
            raise ValueError("a JWT needs a subject (the user or agent id)")
        if role not in ("admin", "agent", "user"):
            raise ValueError("role must be admin, agent or user")
        self._secret = secret
        self.subject = subject
        self.role = role
        self.ttl = ttl_seconds
        self._refresh_margin = min(refresh_margin, ttl_seconds / 2)
        self._token = ""
        self._expires = 0.0

    def bearer(self) -> str:
        now = time.time()
        if now >= self._expires - self._refresh_margin:
            issued = int(now)
            self._token = jwt.encode(
                {"sub": self.subject, "role": self.role, "iat": issued, "exp": issued + self.ttl},
                self._secret, algorithm=JWT_ALGORITHM)
            self._expires = issued + self.ttl
        return self._token

    def __repr__(self) -> str:
        return f"SecretJwt(subject={self.subject!r}, role={self.role!r}, secret=***)"


def resolve_credentials(
    *, api_key: str | None = None, token: str | None = None, jwt_secret: str | None = None,
    subject: str | None = None, role: str = "agent", credentials: Credentials | None = None,
) -> Credentials | None:
    """Pick exactly one way of authenticating from the constructor's keyword arguments."""
    given = [name for name, value in (("api_key", api_key), ("token", token),
                                       ("jwt_secret", jwt_secret), ("credentials", credentials))
             if value]
    if len(given) > 1:
        raise ValueError(f"give one of api_key, token, jwt_secret, credentials (got {given})")
    if credentials is not None:
        return credentials
    if api_key:
        return StaticToken(api_key)
    if token:
        return StaticToken(token)
    if jwt_secret:
        return SecretJwt(jwt_secret, subject or "switchboard-client", role)
    return None
