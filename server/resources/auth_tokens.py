"""Minting tokens: ``POST /auth/token`` (seed 003; admins only) and ``POST /oauth/token``
(seed 001; OAuth 2.0 client credentials). An unauthenticated caller can never mint a token
except by proving a configured client secret.

Every token minted is audited (``token.mint``: who asked, by which auth method, for which
subject, role and lifetime; never the token), committed before the token is handed out.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from switchboard.engine.actors import Actor
from switchboard.server import contract
from switchboard.server.app_keys import AUTH_KEY, request_id_of
from switchboard.server.auth import AuthError
from switchboard.server.errors import ApiError
from switchboard.server.jsonio import StrictModel, read_json
from switchboard.server.resources.common import actor_of, engine_of
from switchboard.server.routing import RouteTable

routes = RouteTable(tag="auth")


class TokenRequest(StrictModel):
    user_id: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "agent", "user"] = "user"
    ttl_seconds: int | None = Field(None, ge=60, le=30 * 86_400)


@routes.post("/auth/token", role="admin", body=TokenRequest, response=contract.Token)
async def mint(request: web.Request, body: TokenRequest) -> contract.Token:
    """Mint a JWT for a user or agent (admin only)."""
    auth = request.app[AUTH_KEY]
    ttl = body.ttl_seconds or auth.ttl_seconds
    if ttl > auth.max_ttl_seconds:
        from switchboard.server.errors import RequestValidationError

        raise RequestValidationError(f"body.ttl_seconds: at most {auth.max_ttl_seconds} "
                                     "([auth] max_token_ttl_seconds)")
    token = auth.mint(body.user_id, body.role, ttl_seconds=ttl)
    await _audit(request, actor_of(request), body.user_id, body.role, ttl, "jwt")
    return contract.Token(access_token=token, token=token, token_type="bearer", expires_in=ttl)


class RevokeRequest(StrictModel):
    """Exactly one of ``jti``, ``token`` or ``subject``."""

    jti: str | None = Field(None, min_length=1, max_length=256,
                            description="Refuse the one token with this id.")
    token: str | None = Field(None, min_length=1, max_length=4096,
                              description="Refuse this token (its id is read from it).")
    subject: str | None = Field(None, min_length=1, max_length=256,
                                description="Refuse every token of this principal issued "
                                            "until now.")
    reason: str | None = Field(None, max_length=2000)


@routes.post("/auth/revoke", role="admin", body=RevokeRequest, response=contract.Revocation,
             responses={400: "not exactly one of jti, token, subject; or a token without jti"})
async def revoke(request: web.Request, body: RevokeRequest) -> contract.Revocation:
    """Revoke one token (by ``jti`` or the ``token`` itself) or every token of a ``subject``
    issued until now (admin). Refused at once on this server, kept across restarts, audited
    (``token.revoke``). API keys are configuration: remove them from the config instead."""
    from switchboard.engine.clock import iso
    from switchboard.server.errors import RequestValidationError

    given = [name for name in ("jti", "token", "subject") if getattr(body, name)]
    if len(given) != 1:
        raise RequestValidationError("body: give exactly one of jti, token or subject")
    auth = request.app[AUTH_KEY]
    engine = engine_of(request)
    now = engine.clock.now()
    kind: Literal["jti", "subject"]
    if body.subject:
        kind, value, until = "subject", body.subject, now + auth.max_ttl_seconds
    else:
        until = now + auth.max_ttl_seconds
        value = body.jti or ""
        if body.token:
            try:
                claims = auth.token_claims(body.token)
            except AuthError as exc:
                raise RequestValidationError(f"body.token: {exc.detail}") from None
            if not isinstance(claims.get("jti"), str):
                raise RequestValidationError(
                    "body.token: this token has no jti (minted before revocation existed); "
                    "revoke its subject instead") from None
            value, until = claims["jti"], float(claims["exp"])
        kind = "jti"
    item = await engine.revocations.revoke(actor_of(request), kind, value, until=until,
                                           reason=body.reason)
    auth.revoked.add(item.kind, item.value, item.until, item.not_before)
    return contract.Revocation(kind=item.kind, value=item.value, until=iso(item.until) or "")


class ClientCredentials(StrictModel):
    grant_type: Literal["client_credentials"]
    client_id: str = Field(min_length=1, max_length=200)
    client_secret: str = Field(min_length=1, max_length=500)


@routes.post("/oauth/token", role=None, response=contract.Token,
             responses={401: "unknown client or wrong secret"})
async def oauth_token(request: web.Request) -> contract.Token:
    """OAuth 2.0 client credentials: JSON or form-encoded body (RFC 6749 section 4.4)."""
    if request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        from pydantic import ValidationError

        from switchboard.server.errors import RequestValidationError, validation_detail

        try:
            body = ClientCredentials.model_validate({k: str(v) for k, v in form.items()})
        except ValidationError as exc:
            raise RequestValidationError(validation_detail(exc, "body")) from None
    else:
        body = await read_json(request, ClientCredentials)
    try:
        issued = request.app[AUTH_KEY].client_credentials(body.client_id, body.client_secret)
    except AuthError as exc:
        raise ApiError(401, exc.detail, headers={"WWW-Authenticate": "Bearer"}) from None
    client = Actor(issued.subject, issued.role, "oauth", request_id_of(request))
    await _audit(request, client, issued.subject, issued.role, issued.expires_in, "oauth")
    return contract.Token(access_token=issued.access_token, token_type=issued.token_type,
                          expires_in=issued.expires_in)


async def _audit(request: web.Request, actor: Actor, subject: str, role: str, ttl: int,
                 method: str) -> None:
    """One ``token.mint`` row: ``method`` is how the new token authenticates (``oauth``
    tokens carry their client id)."""
    await engine_of(request).audit.record_action(
        actor, "token.mint", "token", subject,
        after={"subject": subject, "role": role, "ttl_seconds": ttl, "auth_method": method})
