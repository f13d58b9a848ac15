"""JSON in and out at the HTTP edge: fast encoding, strict body parsing, query parsing.

Why strict bodies: pydantic's default (lax) mode coerces, so ``"priority": false`` once became
``0`` (= P0, the most urgent priority) in a trial. ``read_json`` validates JSON bodies in
strict mode: a bool is not an int, a number is not a string; JSON strings are still accepted
for datetimes, UUIDs and enums (that is what strict JSON mode allows). Query strings and path
segments are always text, so ``parse_query``/``parse_path`` validate in lax mode ("20" is 20).

Base models for route modules:

- ``StrictModel``: request bodies. ``extra="forbid"``, so a typo (``"priorty"``) is a 422
  naming the field instead of a silently ignored value.
- ``QueryModel``: query strings. Unknown parameters are ignored (clients add cache busters).
- ``ApiModel``: responses. Lax, extra ignored; serialised by alias.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, TypeVar, Union, get_args, get_origin, overload

import msgspec
from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from switchboard.server.errors import ApiError, RequestValidationError, validation_detail

M = TypeVar("M", bound=BaseModel)

JSON_CONTENT_TYPE = "application/json"
INVALID_JSON = "request body is not valid JSON"
EMPTY_BODY = "request body is empty; expected a JSON object"


class StrictModel(BaseModel):
    """Base for request bodies: strict types, unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


class QueryModel(BaseModel):
    """Base for query parameters: strings converted (lax), unknown parameters ignored."""

    model_config = ConfigDict(extra="ignore")


class ApiModel(BaseModel):
    """Base for response bodies: documentation and serialisation, no strictness needed."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


def _enc_hook(obj: Any) -> Any:
    # msgspec cannot encode pydantic models; let them serialise themselves.
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json", by_alias=True)
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=str)
    raise NotImplementedError(f"cannot encode {type(obj).__name__} as JSON")


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
_decoder = msgspec.json.Decoder()


def encode_json(data: Any) -> bytes:
    """Encode dicts, lists, msgspec Structs, datetimes and pydantic models to JSON bytes."""
    if isinstance(data, BaseModel):
        return data.__pydantic_serializer__.to_json(data, by_alias=True)
    return _encoder.encode(data)


def json_response(
    data: Any, status: int = 200, *, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON response encoded with msgspec (or pydantic for models); the hot-path helper."""
    return web.Response(
        body=encode_json(data), status=status, content_type=JSON_CONTENT_TYPE, headers=headers
    )


@overload
async def read_json(request: web.Request, model: type[M], *, strict: bool = True) -> M: ...


@overload
async def read_json(request: web.Request, model: None = None, *, strict: bool = True) -> Any: ...


async def read_json(
    request: web.Request, model: type[M] | None = None, *, strict: bool = True
) -> M | Any:
    """Read the body and validate it as ``model`` (strict by default); return the instance.

    Errors (all raised, rendered by the error middleware as ``{"detail": ...}``):
    413 body over ``[server] max_body_bytes``; 400 empty body or invalid JSON;
    422 ``"body.priority: Input should be a valid integer"`` for a wrong value.
    Without ``model`` the decoded JSON value is returned as is.
    """
    raw = await request.read()  # raises HTTPRequestEntityTooLarge past client_max_size
    if not raw.strip():
        raise ApiError(400, EMPTY_BODY)
    if model is None:
        try:
            return _decoder.decode(raw)
        except msgspec.DecodeError:
            raise ApiError(400, INVALID_JSON) from None
    try:
        return model.model_validate_json(raw, strict=strict)
    except ValidationError as exc:
        raise _request_error(exc, "body") from None


def parse_query(request: web.Request, model: type[M]) -> M:
    """Validate the query string as ``model`` (lax: ``"20"`` -> 20); 422 names the parameter.

    A field typed as a list collects repeated parameters (``?status=a&status=b``) and also
    splits comma-separated values (``?status=a,b``), the two forms clients use.
    """
    return _validate_mapping(_query_values(request, model), model, "query")


def parse_path(request: web.Request, model: type[M]) -> M:
    """Validate path parameters (``request.match_info``) as ``model``; 422 names the segment."""
    return _validate_mapping(dict(request.match_info), model, "path")


def _validate_mapping(data: Mapping[str, Any], model: type[M], where: str) -> M:
    try:
        return model.model_validate(data, strict=False)
    except ValidationError as exc:
        raise _request_error(exc, where) from None


def _request_error(exc: ValidationError, where: str) -> ApiError:
    errors = exc.errors(include_url=False, include_input=False)
    if any(err["type"] == "json_invalid" for err in errors):
        return ApiError(400, INVALID_JSON)
    return RequestValidationError(validation_detail(exc, where))


def is_sequence_annotation(annotation: Any) -> bool:
    """True for ``list[str]``, ``list[str] | None``, ``tuple[int, ...]`` and the like."""
    origin = get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    if origin in (Union, types.UnionType):
        return any(is_sequence_annotation(arg) for arg in get_args(annotation))
    return False


def _query_values(request: web.Request, model: type[BaseModel]) -> dict[str, Any]:
    query = request.query
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key not in query:
            continue
        if is_sequence_annotation(field.annotation):
            out[key] = [part for value in query.getall(key) for part in value.split(",") if part]
        else:
            out[key] = query[key]
    return out
