"""Minting tokens: ``POST /auth/token`` (seed 003; admins only) and ``POST /oauth/token``
(seed 001; OAuth 2.0 client credentials). An unauthenticated caller can never mint a token
except by proving a configured client secret.
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from switchboard.server.app_keys import AUTH_KEY
from switchboard.server.auth import AuthError
from switchboard.server.errors import ApiError
from switchboard.server.jsonio import ApiModel, StrictModel, read_json
from switchboard.server.routing import RouteTable

routes = RouteTable(tag="auth")


class TokenRequest(StrictModel):
    user_id: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "agent", "user"] = "user"
    ttl_seconds: int | None = Field(None, ge=60, le=30 * 86_400)


class TokenOut(ApiModel):
    access_token: str
    token: str
    token_type: str = "bearer"
    expires_in: int


@routes.post("/auth/token", role="admin", body=TokenRequest, response=TokenOut)
async def mint(request: web.Request, body: TokenRequest) -> dict[str, Any]:
    """Mint a JWT for a user or agent (admin only)."""
    auth = request.app[AUTH_KEY]
    ttl = body.ttl_seconds or auth.ttl_seconds
    token = auth.mint(body.user_id, body.role, ttl_seconds=ttl)
    return {"access_token": token, "token": token, "token_type": "bearer", "expires_in": ttl}


class ClientCredentials(StrictModel):
    grant_type: Literal["client_credentials"]
    client_id: str = Field(min_length=1, max_length=200)
    client_secret: str = Field(min_length=1, max_length=500)


class OAuthOut(ApiModel):
    access_token: str
    token_type: str
    expires_in: int


@routes.post("/oauth/token", role=None, response=OAuthOut,
             responses={401: "unknown client or wrong secret"})
async def oauth_token(request: web.Request) -> dict[str, Any]:
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
    return issued.as_dict()
