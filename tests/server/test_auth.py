"""Authentication: setup errors, JWT verification (attacks included), API keys, OAuth."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import jwt
import pytest

from switchboard.engine.config import AuthConfig
from switchboard.server.auth import (
    Authenticator,
    AuthError,
    AuthSetupError,
    Principal,
    credential_from_headers,
    role_at_least,
)
from tests.server.conftest import KEYS, SECRET, AppClient, bearer, make_config

# The HS512 attack is signed with our (HS256-sized) secret on purpose; pyjwt warns about it.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], key: bytes | None = None) -> str:
    """A JWT built by hand, so headers pyjwt would refuse to produce can be sent."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "dev-agent-1", "role": "agent", "iat": now, "exp": now + 3600} | extra


# -- roles ---------------------------------------------------------------------------------


def test_role_hierarchy_matches_seed_003() -> None:
    assert role_at_least("admin", "agent") and role_at_least("admin", "user")
    assert role_at_least("agent", "agent") and role_at_least("agent", "user")
    assert not role_at_least("user", "agent") and not role_at_least("agent", "admin")
    assert not role_at_least("root", "user")
    with pytest.raises(ValueError, match="unknown role"):
        role_at_least("admin", "root")


# -- setup ---------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["", "x" * 31])
def test_short_or_missing_secret_stops_startup_with_the_fix(secret: str) -> None:
    with pytest.raises(AuthSetupError) as err:
        Authenticator(AuthConfig(jwt_secret=secret))
    message = str(err.value)
    assert "ORCHESTRATOR_JWT_SECRET" in message and "32 bytes" in message
    if secret:
        assert secret not in message


def test_secret_of_exactly_32_bytes_is_enough() -> None:
    Authenticator(AuthConfig(jwt_secret="x" * 32))


def test_duplicate_api_key_values_are_refused_without_echoing_them() -> None:
    key = "same-key-0123456789abcdef"
    config = AuthConfig(
        jwt_secret=SECRET,
        api_keys=[
            {"name": "one", "key": key, "role": "user"},
            {"name": "two", "key": key, "role": "admin"},
        ],
    )
    with pytest.raises(AuthSetupError, match="'one' and 'two'") as err:
        Authenticator(config)
    assert key not in str(err.value)


def test_repr_never_shows_secrets(auth: Authenticator) -> None:
    text = repr(auth)
    assert SECRET not in text and all(key not in text for key in KEYS.values())


# -- tokens --------------------------------------------------------------------------------


def test_minted_token_round_trips_with_seed_claims(auth: Authenticator) -> None:
    token = auth.mint("dev-agent-1", "agent", ttl_seconds=60)
    decoded = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert decoded["sub"] == "dev-agent-1" and decoded["role"] == "agent"
    assert decoded["exp"] - decoded["iat"] == 60
    assert auth.authenticate(token) == Principal("dev-agent-1", "agent", "jwt")


def test_seed_003_client_token_is_accepted(auth: Authenticator) -> None:
    # Seed 003's OrchestratorClient._create_token, verbatim in spirit: datetimes, 24 h.
    from datetime import UTC, datetime, timedelta

    payload = {
        "sub": "dev-agent-1",
        "role": "agent",
        "exp": datetime.now(UTC) + timedelta(hours=24),
        "iat": datetime.now(UTC),
    }
    token = jwt.encode(payload, SECRET, algorithm="HS256")
    assert auth.authenticate(token).role == "agent"


@pytest.mark.parametrize("bad", [("", "user"), ("x", "root"), ("x" * 300, "user")])
def test_mint_refuses_bad_values(auth: Authenticator, bad: tuple[str, str]) -> None:
    with pytest.raises(ValueError):
        auth.mint(bad[0], bad[1])  # type: ignore[arg-type]


def test_small_clock_skew_is_tolerated(auth: Authenticator) -> None:
    token = jwt.encode(claims(exp=int(time.time()) - 3), SECRET, algorithm="HS256")
    assert auth.authenticate(token).subject == "dev-agent-1"


ATTACKS: dict[str, Any] = {
    "alg none": lambda: forge({"alg": "none", "typ": "JWT"}, claims(role="admin")),
    "alg none, upper case": lambda: forge({"alg": "NONE", "typ": "JWT"}, claims(role="admin")),
    "HS512 with the right secret": lambda: jwt.encode(claims(), SECRET, algorithm="HS512"),
    "RS256 header, HMAC signature": lambda: forge(
        {"alg": "RS256", "typ": "JWT"}, claims(role="admin"), SECRET.encode()
    ),
    "missing exp": lambda: jwt.encode(
        {k: v for k, v in claims().items() if k != "exp"}, SECRET, algorithm="HS256"
    ),
    "missing sub": lambda: jwt.encode(
        {k: v for k, v in claims().items() if k != "sub"}, SECRET, algorithm="HS256"
    ),
    "expired": lambda: jwt.encode(claims(exp=int(time.time()) - 3600), SECRET, algorithm="HS256"),
    "wrong secret": lambda: jwt.encode(claims(), "another-secret-" + "y" * 32, algorithm="HS256"),
    "tampered role": lambda: _tamper(jwt.encode(claims(role="user"), SECRET, algorithm="HS256")),
    "role not in the set": lambda: jwt.encode(claims(role="superuser"), SECRET, algorithm="HS256"),
    "no role": lambda: jwt.encode(
        {k: v for k, v in claims().items() if k != "role"}, SECRET, algorithm="HS256"
    ),
    "role not a string": lambda: jwt.encode(claims(role=["admin"]), SECRET, algorithm="HS256"),
    "empty sub": lambda: jwt.encode(claims(sub=""), SECRET, algorithm="HS256"),
    "garbage": lambda: "eyJ.not.ajwt",
    "huge": lambda: "a." + "b" * 5_000 + ".c",
}


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["role"] = "admin"
    return f"{header}.{_b64(json.dumps(data).encode())}.{signature}"


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_jwt_attack_is_refused(auth: Authenticator, attack: str) -> None:
    with pytest.raises(AuthError):
        auth.authenticate(ATTACKS[attack]())


@pytest.mark.parametrize("attack", sorted(ATTACKS))
async def test_jwt_attack_gets_401_over_http(client: AppClient, attack: str) -> None:
    resp = await client.get("/api/v1/things", headers=bearer(ATTACKS[attack]()))
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    body = await resp.json()
    assert set(body) == {"detail"} and body["detail"]


async def test_expired_token_says_so(client: AppClient) -> None:
    resp = await client.get("/api/v1/things", headers=bearer(ATTACKS["expired"]()))
    assert (await resp.json())["detail"] == "token expired"


async def test_bad_credentials_are_refused_even_on_public_routes(client: AppClient) -> None:
    resp = await client.get("/api/v1/public", headers=bearer(ATTACKS["wrong secret"]()))
    assert resp.status == 401


# -- API keys ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(KEYS))
async def test_api_key_works_in_both_headers(client: AppClient, role: str) -> None:
    for headers in ({"X-API-Key": KEYS[role]}, bearer(KEYS[role])):
        resp = await client.get("/api/v1/public", headers=headers)
        assert resp.status == 200, headers
        assert (await resp.json())["subject"] == f"{role}_key"


async def test_unknown_api_key_is_401_in_both_headers(client: AppClient) -> None:
    for headers in ({"X-API-Key": "nope-0123456789abcdef"}, bearer("nope-0123456789abcdef")):
        resp = await client.get("/api/v1/things", headers=headers)
        assert resp.status == 401
        assert (await resp.json())["detail"] == "invalid API key"


async def test_a_jwt_in_x_api_key_is_not_accepted(client: AppClient, auth: Authenticator) -> None:
    resp = await client.get("/api/v1/things", headers={"X-API-Key": auth.mint("a", "admin")})
    assert resp.status == 401


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "Bearer "}, {"X-API-Key": " "}],
)
def test_malformed_headers_are_errors_not_anonymous(headers: dict[str, str]) -> None:
    with pytest.raises(AuthError):
        credential_from_headers(headers)


def test_api_key_lookup_compares_against_every_key(
    auth: Authenticator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Constant time: a match on the first key still costs one comparison per key."""
    calls: list[int] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    first, *_ = sorted(KEYS)  # config lists keys sorted by env name: admin first
    assert auth.verify_api_key(KEYS[first]) is not None
    assert len(calls) == len(KEYS)
    calls.clear()
    assert auth.verify_api_key("not-a-key-0123456789") is None
    assert len(calls) == len(KEYS)


# -- OAuth client credentials --------------------------------------------------------------


def _oauth_auth() -> Authenticator:
    config = make_config(
        auth={
            "oauth_clients": [
                {"client_id": "ci", "client_secret": "ci-secret-0123456789", "role": "agent"},
                {"client_id": "dash", "client_secret": "dash-secret-012345678", "role": "user"},
            ]
        }
    )
    return Authenticator(config.auth)


def test_client_credentials_issue_a_token_for_the_clients_role() -> None:
    auth = _oauth_auth()
    grant = auth.client_credentials("dash", "dash-secret-012345678", ttl_seconds=600)
    assert grant.as_dict()["token_type"] == "bearer" and grant.expires_in == 600
    # the token remembers it came from client credentials (RFC 9068's client_id claim)
    assert auth.authenticate(grant.access_token) == Principal("dash", "user", "oauth")
    assert set(grant.as_dict()) == {"access_token", "token_type", "expires_in"}
    assert auth.authenticate(auth.mint("dash", "user")).kind == "jwt"


@pytest.mark.parametrize(
    "client_id,secret",
    [("ci", "wrong-secret-0123456789"), ("nobody", "ci-secret-0123456789"),
     ("ci", "dash-secret-012345678")],
)
def test_client_credentials_refuse_any_mismatch(client_id: str, secret: str) -> None:
    with pytest.raises(AuthError, match="invalid client credentials"):
        _oauth_auth().client_credentials(client_id, secret)


# -- logging -------------------------------------------------------------------------------


async def test_no_credential_ever_reaches_the_log(
    client: AppClient, auth: Authenticator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = auth.mint("someone", "admin")
    bad = ATTACKS["wrong secret"]()
    for headers in (bearer(good), bearer(bad), {"X-API-Key": KEYS["agent"]},
                    {"X-API-Key": "wrong-key-0123456789"}):
        await client.get("/api/v1/crash", headers=headers)
        await client.get("/api/v1/things", headers=headers)
    assert caplog.records  # the crash was logged
    for secret in (good, bad, KEYS["agent"], "wrong-key-0123456789", SECRET):
        assert secret not in caplog.text
