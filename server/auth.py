"""Who is calling: JWTs, API keys and OAuth client credentials, resolved to a ``Principal``.

Seed 003 defines the roles (admin > agent > user) and both credential kinds; seed 001 adds
``POST /oauth/token`` with client credentials. Choices made on purpose:

- JWTs are HS256 only. ``jwt.decode`` always gets ``algorithms=["HS256"]`` so a token whose
  header says ``none``, ``HS512`` or ``RS256`` is refused before any signature check, and
  ``exp`` and ``sub`` are required claims (a token without expiry would be valid forever).
- The secret must be at least 32 bytes: HS256 with a short secret is brute-forceable
  offline from any one token. A short or missing secret stops the server at start
  (``AuthSetupError``), never at the first request.
- API keys and OAuth client secrets are kept only as SHA-256 digests, and every lookup
  compares against *all* of them with ``hmac.compare_digest`` without stopping at a match,
  so neither the content nor the position of a key leaks through timing.
- Nothing here logs or formats a token, key or secret; error details name the problem only.

Usage (the server builds one ``Authenticator`` at start, see ``server.app``)::

    auth = Authenticator(config.auth)          # raises AuthSetupError on a bad setup
    token = auth.mint("dev-agent-1", "agent")
    principal = auth.authenticate(token)       # raises AuthError (-> 401) if invalid
    principal.role, principal.subject, principal.kind
    role_at_least(principal.role, "agent")     # True
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

import jwt

from switchboard.engine.config import AuthConfig

Role = Literal["admin", "agent", "user"]
CredentialKind = Literal["jwt", "api_key", "oauth"]

ROLES: Final[tuple[Role, ...]] = get_args(Role)
ROLE_RANK: Final[Mapping[str, int]] = {"user": 1, "agent": 2, "admin": 3}
"""Seed 003's hierarchy: admin > agent > user. Higher rank includes every lower right."""

MIN_SECRET_BYTES: Final = 32
MAX_TOKEN_CHARS: Final = 4096
"""Longer credentials are refused before parsing: nothing legitimate is that long."""

JWT_ALGORITHM: Final = "HS256"


_VERIFIED_CACHE_SIZE: Final = 4096


class AuthSetupError(Exception):
    """The auth configuration cannot work; raised at start with the fix in the message."""


class AuthError(Exception):
    """Credentials were presented but are not valid. ``detail`` is safe to send (-> 401)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    ``subject`` is the JWT ``sub``, the API key's configured name, or the OAuth client id;
    it is what seed 003 shows as ``approved_by``. ``kind`` says which credential was used:
    ``oauth`` for a JWT obtained with client credentials (it carries a ``client_id``
    claim), ``jwt`` for any other token, ``api_key``. The audit log records it.
    """

    subject: str
    role: Role
    kind: CredentialKind

    def at_least(self, minimum: Role) -> bool:
        """True if this principal's role is ``minimum`` or higher."""
        return role_at_least(self.role, minimum)

    @property
    def rate_key(self) -> str:
        """Identity used for rate-limit buckets (stable, never the credential itself)."""
        return f"{self.kind}:{self.subject}"


def role_at_least(role: str, minimum: str) -> bool:
    """Seed 003's ordering: ``role_at_least("admin", "agent")`` is True; unknown roles never pass."""
    have = ROLE_RANK.get(role)
    need = ROLE_RANK.get(minimum)
    if need is None:
        raise ValueError(f"unknown role {minimum!r}; expected one of {', '.join(ROLES)}")
    return have is not None and have >= need


@dataclass(frozen=True, slots=True)
class OAuthToken:
    """What ``POST /oauth/token`` returns (seed 001 / RFC 6749 section 5.1)."""

    access_token: str
    expires_in: int
    token_type: str = "bearer"
    subject: str = ""
    """Who the token is for (the client id) and its role: for the audit log, not the wire."""
    role: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
        }


@dataclass(frozen=True, slots=True)
class _HashedKey:
    digest: bytes
    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class _HashedClient:
    id_digest: bytes
    secret_digest: bytes
    client_id: str
    role: Role


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


def _looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def credential_from_headers(headers: Mapping[str, str]) -> str | None:
    """The credential a request presents, or None if it presents none.

    ``Authorization: Bearer <JWT or API key>`` wins over ``X-API-Key``. An ``Authorization``
    header with another scheme (``Basic ...``) is a client error, not "no credentials":
    silently ignoring it would turn a misconfigured client into an anonymous one.
    """
    authorization = headers.get("Authorization")
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthError("Authorization header must be 'Bearer <token>'")
        return value.strip()
    api_key = headers.get("X-API-Key")
    if api_key is not None:
        if not api_key.strip():
            raise AuthError("X-API-Key header is empty")
        return api_key.strip()
    return None


class RevocationList:
    """Revoked JWTs in memory, consulted on every use of a token (cached or not).

    ``jtis`` maps a revoked token id to when it expires; ``subjects`` maps a principal to the
    time up to which its tokens are refused (by their ``iat``). Filled at start from the
    engine's store and updated by ``POST /auth/revoke`` after its commit. Tokens minted
    before ``jti`` existed can only be refused by subject.
    """

    def __init__(self) -> None:
        self.jtis: dict[str, float] = {}
        self.subjects: dict[str, float] = {}

    def add(self, kind: str, value: str, until: float, not_before: float | None) -> None:
        if kind == "jti":
            self.jtis[value] = until
        elif kind == "subject" and not_before is not None:
            self.subjects[value] = max(not_before, self.subjects.get(value, 0.0))

    def refuses(self, subject: str, jti: str | None, issued: float | None) -> str | None:
        """Why this token is refused, or None."""
        if jti is not None and jti in self.jtis:
            return "token revoked"
        cutoff = self.subjects.get(subject)
        if cutoff is not None and (issued is None or issued <= cutoff):
            return "token revoked (every token of this principal issued before the revocation)"
        return None


class Authenticator:
    """Verifies credentials and mints tokens from one ``AuthConfig``.

    Construct once at start; it validates the configuration eagerly so that a bad secret or
    a duplicated key is reported before the server accepts a connection.
    """

    def __init__(self, config: AuthConfig) -> None:
        secret = config.jwt_secret
        size = len(secret.encode("utf-8"))
        if size < MIN_SECRET_BYTES:
            state = "not set" if size == 0 else f"only {size} bytes"
            raise AuthSetupError(
                f"JWT secret is {state}; it must be at least {MIN_SECRET_BYTES} bytes. "
                "Set ORCHESTRATOR_JWT_SECRET (or [auth] jwt_secret in the config file), e.g. "
                "to the output of: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        self._secret = secret
        if config.jwt_ttl_seconds > config.max_token_ttl_seconds:
            raise AuthSetupError(
                f"[auth] jwt_ttl_seconds ({config.jwt_ttl_seconds}) is longer than "
                f"max_token_ttl_seconds ({config.max_token_ttl_seconds}); lower it or raise "
                "the maximum")
        self._ttl = config.jwt_ttl_seconds
        self._max_ttl = config.max_token_ttl_seconds
        self._leeway = config.jwt_leeway_seconds
        self.revoked = RevocationList()
        self._verified: dict[bytes, tuple[Principal, float]] = {}
        self._keys = self._hash_keys(config)
        self._clients = self._hash_clients(config)

    def __repr__(self) -> str:  # never show the secret, even in a crash screen's locals
        return f"Authenticator(api_keys={len(self._keys)}, oauth_clients={len(self._clients)})"

    @staticmethod
    def _hash_keys(config: AuthConfig) -> tuple[_HashedKey, ...]:
        seen: dict[bytes, str] = {}
        out: list[_HashedKey] = []
        for entry in config.api_keys:
            digest = _digest(entry.key)
            if digest in seen:
                raise AuthSetupError(
                    f"API keys {seen[digest]!r} and {entry.name!r} have the same value; "
                    "give each ORCHESTRATOR_API_KEY_<NAME> its own key"
                )
            seen[digest] = entry.name
            out.append(_HashedKey(digest, entry.name, entry.role))
        return tuple(out)

    @staticmethod
    def _hash_clients(config: AuthConfig) -> tuple[_HashedClient, ...]:
        ids: set[str] = set()
        out: list[_HashedClient] = []
        for client in config.oauth_clients:
            if client.client_id in ids:
                raise AuthSetupError(f"OAuth client {client.client_id!r} is configured twice")
            ids.add(client.client_id)
            out.append(
                _HashedClient(
                    _digest(client.client_id),
                    _digest(client.client_secret),
                    client.client_id,
                    client.role,
                )
            )
        return tuple(out)

    @property
    def max_ttl_seconds(self) -> int:
        """The longest lifetime a token may have (``[auth] max_token_ttl_seconds``)."""
        return self._max_ttl

    @property
    def ttl_seconds(self) -> int:
        """Default lifetime of minted tokens (``[auth] jwt_ttl_seconds``)."""
        return self._ttl

    # -- minting -------------------------------------------------------------------------

    def mint(self, subject: str, role: Role, ttl_seconds: int | None = None, *,
             client_id: str | None = None) -> str:
        """A signed HS256 JWT with ``sub``, ``role``, ``iat`` and ``exp`` (seed 003's claims),
        plus ``client_id`` (RFC 9068's claim) for tokens issued to an OAuth client, so
        requests made with them are known to come through client credentials.

        Callers decide *whether* minting is allowed (admin route, client credentials); this
        only checks the values. Raises ValueError for an empty subject, unknown role or a
        non-positive lifetime.
        """
        if not subject or len(subject) > 256:
            raise ValueError("subject must be 1 to 256 characters")
        if role not in ROLE_RANK:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        ttl = self._ttl if ttl_seconds is None else ttl_seconds
        if ttl <= 0:
            raise ValueError("ttl_seconds must be positive")
        if ttl > self._max_ttl:
            raise ValueError(f"ttl_seconds must be at most {self._max_ttl} "
                             "([auth] max_token_ttl_seconds)")
        now = int(time.time())  # pyjwt checks exp against the wall clock; mint on the same one
        claims: dict[str, Any] = {"sub": subject, "role": role, "iat": now, "exp": now + ttl,
                                  "jti": secrets.token_urlsafe(16)}
        if client_id is not None:
            claims["client_id"] = client_id
        return jwt.encode(claims, self._secret, algorithm=JWT_ALGORITHM)

    def client_credentials(
        self, client_id: str, client_secret: str, ttl_seconds: int | None = None
    ) -> OAuthToken:
        """OAuth 2.0 client_credentials grant: verify the client, mint a token for its role.

        Both the id and the secret are compared against every configured client in constant
        time. Raises AuthError("invalid client credentials") for any mismatch, without
        saying which half was wrong.
        """
        id_digest = _digest(client_id)
        secret_digest = _digest(client_secret)
        match: _HashedClient | None = None
        for client in self._clients:
            id_ok = hmac.compare_digest(client.id_digest, id_digest)
            secret_ok = hmac.compare_digest(client.secret_digest, secret_digest)
            if id_ok & secret_ok and match is None:
                match = client
        if match is None:
            raise AuthError("invalid client credentials")
        ttl = self._ttl if ttl_seconds is None else ttl_seconds
        token = self.mint(match.client_id, match.role, ttl, client_id=match.client_id)
        return OAuthToken(access_token=token, expires_in=ttl, subject=match.client_id,
                          role=match.role)

    # -- verification --------------------------------------------------------------------

    def authenticate(self, credential: str) -> Principal:
        """Resolve a bearer credential (JWT or API key) to a Principal, or raise AuthError.

        The API-key table is always consulted first and in full (constant time), so a key
        that happens to look like a JWT still works and timing does not reveal which path
        a credential took. Anything JWT-shaped that is not a key is verified as a JWT.
        Use this for WebSocket ``{"type": "auth", "token": ...}`` messages too.
        """
        if len(credential) > MAX_TOKEN_CHARS:
            raise AuthError("credential too long")
        digest = _digest(credential)  # once: the key table and the JWT cache both use it
        principal = self._key_for_digest(digest)
        if principal is not None:
            return principal
        if _looks_like_jwt(credential):
            return self._verify_jwt(credential, digest)
        raise AuthError("invalid API key")

    def authenticate_api_key(self, key: str) -> Principal:
        """Resolve an ``X-API-Key`` value (API keys only; JWTs belong in Authorization)."""
        if len(key) > MAX_TOKEN_CHARS:
            raise AuthError("credential too long")
        principal = self.verify_api_key(key)
        if principal is None:
            raise AuthError("invalid API key")
        return principal

    def authenticate_headers(self, headers: Mapping[str, str]) -> Principal | None:
        """Principal for a request's headers; None if it presents no credential at all.

        Raises AuthError for a malformed header or an invalid credential.
        """
        if "Authorization" not in headers and "X-API-Key" in headers:
            key = credential_from_headers(headers)
            return None if key is None else self.authenticate_api_key(key)
        credential = credential_from_headers(headers)
        return None if credential is None else self.authenticate(credential)

    def verify_api_key(self, key: str) -> Principal | None:
        """Constant-time lookup: compares with every stored digest, no early exit."""
        return self._key_for_digest(_digest(key))

    def _key_for_digest(self, digest: bytes) -> Principal | None:
        match: _HashedKey | None = None
        for entry in self._keys:
            if hmac.compare_digest(entry.digest, digest) and match is None:
                match = entry
        if match is None:
            return None
        return Principal(subject=match.name, role=match.role, kind="api_key")

    def verify_jwt(self, token: str) -> Principal:
        """Verify an HS256 JWT and its claims; raise AuthError with a safe reason.

        Verified tokens are remembered (by SHA-256 digest, never the token itself) until
        their ``exp``: an agent sends the same token on every request, and re-verifying it
        each time was the largest CPU cost of a small authenticated request.
        """
        return self._verify_jwt(token, _digest(token))

    def _verify_jwt(self, token: str, digest: bytes) -> Principal:
        """``verify_jwt`` with the token's SHA-256 already computed (``authenticate`` has it)."""
        cached = self._verified.get(digest)
        if cached is not None and time.time() > cached[1] + self._leeway:
            del self._verified[digest]
            cached = None
        if cached is None:
            cached = self._verify_jwt_uncached(token)
            if len(self._verified) >= _VERIFIED_CACHE_SIZE:
                self._verified.pop(next(iter(self._verified)))
            self._verified[digest] = cached
        principal, _, jti, issued = cached
        problem = self.revoked.refuses(principal.subject, jti, issued)
        if problem is not None:  # checked on every use: a revocation applies at once
            raise AuthError(problem)
        return principal

    def _verify_jwt_uncached(self, token: str) -> tuple[Principal, float, str | None, float | None]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[JWT_ALGORITHM],
                options={"require": ["exp", "sub"]},
                leeway=self._leeway,
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token is missing the {exc.claim!r} claim") from None
        except jwt.InvalidAlgorithmError:
            raise AuthError(f"token algorithm not allowed; only {JWT_ALGORITHM} is") from None
        except jwt.InvalidSignatureError:
            raise AuthError("token signature is invalid") from None
        except jwt.InvalidTokenError:
            raise AuthError("invalid token") from None
        for name in ("exp", "iat", "nbf"):  # pyjwt takes "exp": "1999999999" (it calls int())
            value = claims.get(name)
            if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)
                                   or not -(2**63) <= value < 2**63):
                raise AuthError(f"token {name!r} claim must be a NumericDate: a number of "
                                "seconds since the epoch that fits in 64 bits")
        subject = claims.get("sub")
        role = claims.get("role")
        if not isinstance(subject, str) or not subject:
            raise AuthError("token 'sub' claim must be a non-empty string")
        if not isinstance(role, str) or role not in ROLE_RANK:
            raise AuthError(f"token 'role' claim must be one of {', '.join(ROLES)}")
        if claims["exp"] > time.time() + self._max_ttl + self._leeway:
            raise AuthError(f"token lifetime is longer than this server allows "
                            f"({self._max_ttl} s, [auth] max_token_ttl_seconds)")
        client_id = claims.get("client_id")
        kind = "oauth" if isinstance(client_id, str) and client_id else "jwt"
        jti = claims.get("jti")
        if jti is not None and (not isinstance(jti, str) or not 1 <= len(jti) <= 256):
            raise AuthError("token 'jti' claim must be a string of 1 to 256 characters")
        issued = float(claims["iat"]) if "iat" in claims else None
        principal = Principal(subject=subject, role=role, kind=kind)  # type: ignore[arg-type]
        return principal, float(claims["exp"]), jti, issued

    def token_claims(self, token: str) -> dict[str, Any]:
        """A token's claims after checking its signature, expired or not (to revoke it)."""
        if len(token) > MAX_TOKEN_CHARS or not _looks_like_jwt(token):
            raise AuthError("not a JWT")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self._secret, algorithms=[JWT_ALGORITHM],
                options={"verify_exp": False, "require": ["exp", "sub"]})
        except jwt.InvalidTokenError:
            raise AuthError("not a token this server issued (bad signature or format)") from None
        return claims
