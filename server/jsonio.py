"""JSON in and out at the HTTP edge: fast encoding, strict body parsing, query parsing.

Why strict bodies: pydantic's default (lax) mode coerces, so ``"priority": false`` once became
``0`` (= P0, the most urgent priority) in a trial. ``read_json`` validates JSON bodies in
strict mode: a bool is not an int, a number is not a string; JSON strings are still accepted
for datetimes, UUIDs and enums (that is what strict JSON mode allows). Query strings and path
segments are always text, so ``parse_query``/``parse_path`` validate in lax mode ("20" is 20).

Base models for route modules:

- ``StrictModel``: request bodies. ``extra="forbid"``, so a typo (``"priorty"``) is a 400
  naming the field instead of a silently ignored value.
- ``QueryModel``: query strings. Unknown parameters are ignored (clients add cache busters).

Responses are ``server.contract`` Structs (msgspec), not models of this module.

Numbers that do not fit are refused here, at the edge, with the field named (400), never
passed on to SQLite (which raises OverflowError past 64 bits: a 500): every integer in a
body (typed fields and free-form JSON alike), a query string or a path must lie in int64
(``INT64_MIN``..``INT64_MAX``), and ``NaN``/``Infinity``/``1e999`` are refused in bodies
(pydantic's JSON parser accepts them, and they were stored as ``null``). The body check
costs one regex scan of the raw bytes; only a body that contains a 19-digit run, ``NaN``,
``Infinity`` or a three-digit exponent is decoded a second time to find the field.
"""

from __future__ import annotations

import asyncio
import math
import re
import types
from collections.abc import Mapping
from typing import Annotated, Any, Final, TypeVar, Union, get_args, get_origin, overload

import msgspec
import pydantic_core
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from switchboard.server.errors import (
    ApiError,
    RequestValidationError,
    format_location,
    validation_detail,
)

M = TypeVar("M", bound=BaseModel)

JSON_CONTENT_TYPE = "application/json"
INVALID_JSON = "request body is not valid JSON"
EMPTY_BODY = "request body is empty; expected a JSON object"

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
"""An integer field that documents (and enforces) the int64 range in its schema."""

OUT_OF_RANGE = f"integer out of range; it must fit in 64 bits ({INT64_MIN} to {INT64_MAX})"
NOT_FINITE = "NaN and Infinity are not allowed (JSON has no such numbers); send a finite number"
_SUSPECT_NUMBER = re.compile(rb"\d{19}|NaN|Infinity|[eE][+-]?\d{3}")


class StrictModel(BaseModel):
    """Base for request bodies: strict types, unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


class QueryModel(BaseModel):
    """Base for query parameters: strings converted (lax), unknown parameters ignored."""

    model_config = ConfigDict(extra="ignore")


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
    400 ``"body.priority: Input should be a valid integer"`` for a wrong value.
    Without ``model`` the decoded JSON value is returned as is.
    """
    raw = await read_body(request)  # 413 past client_max_size, 408 when it stalls
    if not raw.strip():
        raise ApiError(400, EMPTY_BODY)
    check_json_numbers(raw)
    if model is None:
        try:
            return _decoder.decode(raw)
        except msgspec.DecodeError:
            raise ApiError(400, INVALID_JSON) from None
    try:
        return model.model_validate_json(raw, strict=strict)
    except ValidationError as exc:
        raise _request_error(exc, "body") from None


async def read_body(request: web.Request) -> bytes:
    """``request.read()``, refused with 408 when the body makes no progress for
    ``[server] body_timeout_seconds`` (a client that sends headers, then trickles or stops).

    A body that has already arrived (the usual case: it came with the headers) is read
    directly; otherwise a watchdog compares the bytes received every period.
    """
    content = request.content
    if content.is_eof() or not request.body_exists:
        return await request.read()
    from switchboard.server.app_keys import CONFIG_KEY  # app_keys imports this module

    config = request.app.get(CONFIG_KEY)
    period = config.server.body_timeout_seconds if config is not None else 60.0
    reading = asyncio.ensure_future(request.read())
    seen = content.total_bytes
    try:
        while True:
            done, _ = await asyncio.wait({reading}, timeout=period)
            if done:
                return reading.result()
            if content.total_bytes == seen:
                raise ApiError(408, f"request body stalled: nothing received for {period:g} s",
                               headers={"Connection": "close"})
            seen = content.total_bytes
    finally:
        if not reading.done():
            reading.cancel()


def parse_query(request: web.Request, model: type[M]) -> M:
    """Validate the query string as ``model`` (lax: ``"20"`` -> 20); 400 names the parameter.

    A field typed as a list collects repeated parameters (``?status=a&status=b``) and also
    splits comma-separated values (``?status=a,b``), the two forms clients use.
    """
    return _validate_mapping(_query_values(request, model), model, "query")


def parse_path(request: web.Request, model: type[M]) -> M:
    """Validate path parameters (``request.match_info``) as ``model``; 400 names the segment."""
    return _validate_mapping(dict(request.match_info), model, "path")


def _validate_mapping(data: Mapping[str, Any], model: type[M], where: str) -> M:
    try:
        parsed = model.model_validate(data, strict=False)
    except ValidationError as exc:
        raise _request_error(exc, where) from None
    for name, field in type(parsed).model_fields.items():
        problem = number_problem(getattr(parsed, name))
        if problem is not None:
            raise RequestValidationError(f"{where}.{field.alias or name}: {problem}")
    return parsed


def number_problem(value: Any) -> str | None:
    """Why a scalar (or a flat list of them) cannot be stored, or None if it can."""
    if isinstance(value, list | tuple | set | frozenset):
        return next((p for p in map(number_problem, value) if p is not None), None)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if INT64_MIN <= value <= INT64_MAX else OUT_OF_RANGE
    if isinstance(value, float) and not math.isfinite(value):
        return NOT_FINITE
    return None


def check_json_numbers(raw: bytes, where: str = "body") -> None:
    """Raise a 400 naming the field if the JSON text ``raw`` holds an integer outside int64
    or a non-finite number. Invalid JSON passes (the parser after this reports it)."""
    if _SUSPECT_NUMBER.search(raw) is None:
        return
    try:
        value = pydantic_core.from_json(raw, allow_inf_nan=True)
    except ValueError:
        return
    found = find_bad_number(value)
    if found is not None:
        path, problem = found
        raise RequestValidationError(f"{format_location(where, path)}: {problem}")


def find_bad_number(value: Any) -> tuple[tuple[int | str, ...], str] | None:
    """The location and problem of the first number in a decoded JSON value that does not fit
    (see ``number_problem``), or None. Iterative: nesting depth is the parser's to bound."""
    stack: list[tuple[tuple[int | str, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            stack.extend(((*path, str(k)), v) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(item))))
        else:
            problem = number_problem(item)
            if problem is not None:
                return path, problem
    return None


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
