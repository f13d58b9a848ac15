"""Properties of credential parsing: whatever arrives in a header or a token, the outcome is a
Principal whose claims are all well-typed, or an AuthError (401) with a safe detail. Never
another exception (a 500), never a token accepted on a claim of the wrong type.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from switchboard.server.auth import Authenticator, AuthError, Principal, credential_from_headers
from tests.server.conftest import KEYS, SECRET, make_config

AUTH = Authenticator(make_config().auth)
NOW = int(time.time())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(header: Any, payload_text: str, secret: str = SECRET) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(payload_text.encode())}"
    sig = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(sig)}"


json_scalars = st.one_of(
    st.none(), st.booleans(), st.text(max_size=12),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([NOW, NOW + 600, NOW - 600, str(NOW + 600), "admin", "agent", "user"]),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8)
VALID = {"sub": "someone", "role": "agent", "iat": NOW, "exp": NOW + 600}
NAMES = ["sub", "role", "exp", "iat", "nbf"]
DROPPED = object()
# a valid claim set with one to three claims replaced by anything (or dropped), plus noise
claims = st.tuples(
    st.dictionaries(st.sampled_from(NAMES), st.one_of(json_values, st.just(DROPPED)),
                    min_size=1, max_size=3),
    st.dictionaries(st.text(max_size=4), json_values, max_size=2),
).map(lambda t: {k: v for k, v in {**t[1], **VALID, **t[0]}.items() if v is not DROPPED})


def _number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and -(2**63) <= value < 2**63)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims)
@example({**VALID, "exp": str(NOW + 600)})  # pyjwt int()s a numeric string: it was accepted
def test_signed_tokens_are_accepted_only_with_well_typed_claims(payload: dict[str, Any]) -> None:
    token = sign({"alg": "HS256", "typ": "JWT"}, json.dumps(payload, allow_nan=True))
    try:
        principal = AUTH.authenticate(token)
    except AuthError as exc:
        assert exc.detail and token not in exc.detail
        return
    assert isinstance(principal, Principal) and principal.kind == "jwt"
    assert isinstance(payload["sub"], str) and payload["sub"] == principal.subject
    assert payload["role"] in ("admin", "agent", "user")
    assert _number(payload["exp"]) and payload["exp"] >= NOW - 60
    for name in ("iat", "nbf"):
        if name in payload:
            assert _number(payload[name])


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300), st.sampled_from(["Authorization", "X-API-Key"]))
def test_any_header_value_is_a_credential_none_or_a_401(value: str, header: str) -> None:
    try:
        credential = credential_from_headers({header: value})
        if credential is not None:
            AUTH.authenticate(credential)
    except AuthError as exc:
        assert exc.detail
        assert len(value.strip()) < 12 or value.strip() not in exc.detail  # never echoed


segment = st.one_of(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=",
                            max_size=40),
                    st.binary(max_size=30).map(b64), st.text(max_size=10))


@settings(max_examples=400, deadline=None)
@given(segment, segment, segment)
def test_jwt_shaped_garbage_is_a_401(head: str, body: str, sig: str) -> None:
    try:
        AUTH.authenticate(f"{head}.{body}.{sig}")
    except AuthError:
        return
    raise AssertionError("garbage accepted")


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(KEYS.values())), st.text(max_size=3))
def test_api_keys_match_exactly(key: str, noise: str) -> None:
    candidate = key + noise
    try:
        principal = AUTH.authenticate(candidate)
    except AuthError:
        assert noise != ""
        return
    assert noise == "" and principal.kind == "api_key"
