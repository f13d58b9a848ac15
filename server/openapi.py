"""The OpenAPI 3.1 document and a self-contained docs page, generated from the route registry.

Why generated: the document is built from the very ``RouteSpec``s, pydantic request models
and ``server.contract`` response Structs the server routes, validates and encodes with, so
it cannot drift from what the server does. Request schemas come from
``pydantic.json_schema.models_json_schema`` (validation mode), response schemas from
``msgspec.json.schema_components`` over the contract; both land in ``components.schemas``
(a name used by both with different schemas is an error).

Served (public) at ``GET /api/v1/openapi.json`` and ``GET /api/v1/docs``. The docs page is
plain generated HTML with inline CSS: this product runs on hosts without internet access,
so no Swagger UI from a CDN.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from importlib import metadata
from typing import Any, Final

import msgspec
from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from switchboard.server import API_BASE
from switchboard.server.app_keys import OPENAPI_KEY, ROUTES_KEY
from switchboard.server.contract.system import OpenApiDocument
from switchboard.server.jsonio import INT64_MAX, INT64_MIN, json_response
from switchboard.server.routing import RouteSpec, RouteTable

OPENAPI_VERSION: Final = "3.1.0"
ERROR_SCHEMA: Final = "ErrorDetail"
_REF_PREFIX: Final = "#/components/schemas/"
_RATE_HEADERS: Final = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")

SECURITY_SCHEMES: Final[dict[str, Any]] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "HS256 JWT (seed 003 claims: sub, role, iat, exp) or an API key.",
    },
    "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}

_ERROR_TEXT: Final[dict[int, str]] = {
    400: "Invalid request: empty body, invalid JSON, or a value that failed validation "
         "(detail names the field, as in `body.priority: ...`)",
    401: "Missing or invalid credentials",
    403: "The caller's role is too low",
    413: "Request body too large",
    429: "Rate limit exceeded; see Retry-After",
    500: "Internal error; detail is generic, request_id identifies the log entry",
    503: "The server is at capacity (see Retry-After), or its database cannot serve "
         "(read-only, I/O error, damaged); detail says which",
    507: "The data folder is full; writes resume once space is freed there",
}


def _version() -> str:
    try:
        return metadata.version("switchboard")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _collect_models(specs: Iterable[RouteSpec]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    seen: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
    for spec in specs:
        for model in (spec.body, spec.query, spec.path_params):
            if model is not None:
                seen[(model, "validation")] = None
    return list(seen)


def _response_schemas(specs: Iterable[RouteSpec]) -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    """The schema (a ``$ref``, or an array of one) of every response type and the component
    schemas they need."""
    types = list(dict.fromkeys(spec.response for spec in specs if spec.response is not None))
    if not types:
        return {}, {}
    refs, components = msgspec.json.schema_components(types, ref_template=_REF_PREFIX + "{name}")
    return dict(zip(types, refs, strict=True)), components


def _schema_name(ref: dict[str, Any]) -> str:
    return str(ref["$ref"]).removeprefix(_REF_PREFIX)


def _parameters(
    spec: RouteSpec, refs: dict[Any, dict[str, Any]], schemas: dict[str, Any]
) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    path_props: dict[str, Any] = {}
    if spec.path_params is not None:
        path_props = schemas[_schema_name(refs[(spec.path_params, "validation")])]["properties"]
    for name in spec.path_names:
        params.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": path_props.get(name, {"type": "string"}),
            }
        )
    if spec.query is not None:
        component = schemas[_schema_name(refs[(spec.query, "validation")])]
        required = set(component.get("required", ()))
        for name, schema in component.get("properties", {}).items():
            param: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": schema,
            }
            if "description" in schema:
                param["description"] = schema["description"]
            params.append(param)
    return params


def _response_headers() -> dict[str, Any]:
    headers = {name: {"$ref": f"#/components/headers/{name}"} for name in _RATE_HEADERS}
    headers["X-Request-ID"] = {"$ref": "#/components/headers/X-Request-ID"}
    return headers


_RESPONSE_NAMES: Final[dict[int, str]] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    413: "PayloadTooLarge",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    507: "InsufficientStorage",
}


def _error(status: int, description: str | None = None) -> dict[str, Any]:
    """An error response; the standard ones by reference to ``components.responses``."""
    if description is None and status in _RESPONSE_NAMES:
        return {"$ref": f"#/components/responses/{_RESPONSE_NAMES[status]}"}
    return _error_response(status, description)


def _error_response(status: int, description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description or _ERROR_TEXT.get(status, "Error"),
        "headers": _response_headers(),
        "content": {"application/json": {"schema": {"$ref": _REF_PREFIX + ERROR_SCHEMA}}},
    }
    if status in (429, 503):
        out["headers"]["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
    if status == 401:
        out["headers"]["WWW-Authenticate"] = {"$ref": "#/components/headers/WWW-Authenticate"}
    return out


def _operation(
    spec: RouteSpec, refs: dict[Any, dict[str, Any]], schemas: dict[str, Any],
    response_refs: dict[Any, dict[str, Any]],
) -> dict[str, Any]:
    description = spec.description
    if spec.role is not None:
        note = f"Requires role `{spec.role}` or higher."
        description = f"{description}\n\n{note}" if description else note
    op: dict[str, Any] = {
        "operationId": spec.operation_id,
        "summary": spec.summary or spec.operation_id.replace("_", " "),
        "tags": list(spec.tags),
        "x-required-role": spec.role,
    }
    if description:
        op["description"] = description
    if spec.deprecated:
        op["deprecated"] = True
    params = _parameters(spec, refs, schemas)
    if params:
        op["parameters"] = params
    if spec.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(spec.body, "validation")]}},
        }
    success: dict[str, Any] = {
        "description": spec.responses.get(spec.status, "Success"),
        "headers": _response_headers(),
    }
    if spec.status != 204:
        if spec.response is not None:
            schema: dict[str, Any] = response_refs[spec.response]
        elif spec.media_type == "application/json":
            schema = {}
        else:
            schema = {"type": "string"}
        success["content"] = {spec.media_type: {"schema": schema}}
    responses: dict[str, Any] = {str(spec.status): success}
    if spec.body is not None:
        responses["400"] = _error(400)
        responses["413"] = _error(413)
    if spec.role is not None:
        responses["401"] = _error(401)
        if spec.role != "user":
            responses["403"] = _error(403)
    if spec.body is not None or spec.query is not None or spec.path_params is not None:
        responses["400"] = _error(400)
    responses["429"] = _error(429)
    responses["500"] = _error(500)
    responses["503"] = _error(503)
    if spec.method != "GET":
        responses["507"] = _error(507)
    for status, text in spec.responses.items():
        if status == spec.status:
            continue
        if status == 204:  # "nothing to return": no body at all
            responses["204"] = {"description": text, "headers": _response_headers()}
        elif status < 400:  # another success (200 for a replayed create): the same body
            responses[str(status)] = {**success, "description": text}
        else:
            responses[str(status)] = _error(status, text)
    op["responses"] = dict(sorted(responses.items()))
    if spec.role is not None:
        op["security"] = [{"bearerAuth": []}, {"apiKeyAuth": []}]
    return op


def _bound_integers(node: Any) -> None:
    """Document the edge's int64 check (``server.jsonio``) on every integer schema that has
    no tighter bound, so clients and the fuzzer see the range the server enforces."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            node.setdefault("format", "int64")
            if "maximum" not in node and "exclusiveMaximum" not in node:
                node["maximum"] = INT64_MAX
            if "minimum" not in node and "exclusiveMinimum" not in node:
                node["minimum"] = INT64_MIN
        for value in node.values():
            _bound_integers(value)
    elif isinstance(node, list):
        for value in node:
            _bound_integers(value)


def build_openapi(
    specs: Iterable[RouteSpec],
    *,
    base: str = API_BASE,
    title: str = "Switchboard API",
    version: str | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``specs`` (paths relative to ``servers[0].url``)."""
    specs = list(specs)
    refs, top = models_json_schema(_collect_models(specs), ref_template=_REF_PREFIX + "{model}")
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    _bound_integers(schemas)
    response_refs, response_schemas = _response_schemas(specs)
    for name, schema in response_schemas.items():
        if name in schemas and schemas[name] != schema:
            raise ValueError(f"schema name {name!r} is used by a request model and a response "
                             "record; rename one")
        schemas[name] = schema
    if ERROR_SCHEMA in schemas:
        raise ValueError(f"a model named {ERROR_SCHEMA!r} clashes with the error schema")
    schemas[ERROR_SCHEMA] = {
        "type": "object",
        "title": ERROR_SCHEMA,
        "properties": {
            "detail": {"type": "string", "description": "What went wrong, for a human"},
            "request_id": {"type": "string", "description": "Present on 500 responses"},
            "field": {"type": "string",
                      "description": "On 400: the input that failed (`body.priority`)"},
        },
        "required": ["detail"],
    }
    paths: dict[str, dict[str, Any]] = {}
    # Paths are absolute (server "/"): the API lives under ``base`` and a few operations are
    # also (or only) served at the root, e.g. JSON ``/api/v1/metrics`` and Prometheus ``/metrics``.
    for spec in specs:
        operation = _operation(spec, refs, schemas, response_refs)
        if spec.base is not None:  # a dialect's route (``/v1/...``, or the root)
            paths.setdefault(spec.base + spec.openapi_path, {})[spec.method.lower()] = operation
            continue
        if not spec.root_only:
            paths.setdefault(base + spec.openapi_path, {})[spec.method.lower()] = operation
        if spec.also_at_root or spec.root_only:
            root_op = operation if spec.root_only else {
                **operation, "operationId": operation["operationId"] + "_root"}
            paths.setdefault(spec.openapi_path, {})[spec.method.lower()] = root_op
    tags = sorted({tag for spec in specs for tag in spec.tags})
    integer = {"schema": {"type": "integer"}}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": version or _version(),
            "description": (
                "Operator API for agent orchestration. Errors are always "
                '`{"detail": "..."}`. Authenticate with `Authorization: Bearer <JWT or API '
                "key>` or `X-API-Key`; roles admin > agent > user."
            ),
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": tag} for tag in tags],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": {
                name: _error_response(status) for status, name in _RESPONSE_NAMES.items()
            },
            "securitySchemes": SECURITY_SCHEMES,
            "headers": {
                "X-RateLimit-Limit": {"description": "Requests allowed per window", **integer},
                "X-RateLimit-Remaining": {"description": "Requests left now", **integer},
                "X-RateLimit-Reset": {
                    "description": "Epoch second when the bucket is full again",
                    **integer,
                },
                "Retry-After": {"description": "Seconds to wait before retrying", **integer},
                "X-Request-ID": {
                    "description": "Echoed from the request or generated",
                    "schema": {"type": "string"},
                },
                "WWW-Authenticate": {
                    "description": "Bearer challenge (RFC 6750)",
                    "schema": {"type": "string"},
                },
            },
        },
    }


def openapi_document(app: web.Application) -> dict[str, Any]:
    """The app's document, built once (routes cannot change after the app starts)."""
    cache = app[OPENAPI_KEY]
    if cache.document is None:
        registry = app[ROUTES_KEY]
        cache.document = build_openapi(registry, base=registry.base)
    return cache.document


# -- docs page ----------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:980px;padding:1rem;color:#222}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ccc;margin-top:2rem}
.op{border:1px solid #ddd;border-radius:6px;margin:.6rem 0;padding:.2rem .8rem}
.op summary{cursor:pointer;padding:.4rem 0}
.m{display:inline-block;min-width:4.2rem;font-weight:bold;font-family:monospace}
.GET{color:#1565c0}.POST{color:#2e7d32}.PUT{color:#ef6c00}.PATCH{color:#6a1b9a}
.DELETE{color:#c62828}
.role{float:right;font-size:12px;background:#eee;border-radius:4px;padding:0 .4rem}
pre{background:#f6f6f6;padding:.6rem;overflow:auto;font-size:12px}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _schema_link(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
        name = ref.removeprefix(_REF_PREFIX)
        return f'<a href="#schema-{_esc(name)}">{_esc(name)}</a>'
    return f"<code>{_esc(msgspec.json.encode(schema).decode())}</code>"


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return node
    target: Any = document
    for part in ref[2:].split("/"):
        target = target[part]
    return target


def _render_operation(
    method: str, path: str, op: dict[str, Any], document: dict[str, Any]
) -> list[str]:
    role = op.get("x-required-role") or "public"
    out = [
        '<details class="op">',
        f'<summary><span class="m {_esc(method.upper())}">{_esc(method.upper())}</span>'
        f"<code>{_esc(path)}</code> — {_esc(op.get('summary', ''))}"
        f'<span class="role">{_esc(role)}</span></summary>',
    ]
    if op.get("description"):
        out.append(f"<p>{_esc(op['description'])}</p>")
    params = op.get("parameters", [])
    if params:
        out.append("<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th></tr>")
        for p in params:
            out.append(
                f"<tr><td><code>{_esc(p['name'])}</code></td><td>{_esc(p['in'])}</td>"
                f"<td>{'yes' if p.get('required') else 'no'}</td>"
                f"<td>{_schema_link(p.get('schema', {}))}</td></tr>"
            )
        out.append("</table>")
    body = op.get("requestBody")
    if body:
        schema = next(iter(body["content"].values()))["schema"]
        out.append(f"<p>Request body: {_schema_link(schema)}</p>")
    out.append("<p>Responses:</p><ul>")
    for status, ref in op.get("responses", {}).items():
        response = _resolve(document, ref)
        content = response.get("content", {})
        kinds = ", ".join(
            f"{_esc(media)} {_schema_link(item.get('schema', {}))}"
            for media, item in content.items()
        )
        out.append(f"<li><b>{_esc(status)}</b> {_esc(response['description'])} {kinds}</li>")
    out.append("</ul></details>")
    return out


def render_docs_html(document: dict[str, Any]) -> str:
    """A self-contained HTML page listing every operation by tag, then every schema."""
    info = document.get("info", {})
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in document.get("paths", {}).items():
        shown = f"{path}  (also at the root)" if len(item.get("servers", ())) > 1 else path
        for method, op in item.items():
            if method == "servers":
                continue
            for tag in op.get("tags") or ["other"]:
                by_tag.setdefault(tag, []).append((method, shown, op))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_esc(info.get('title', 'API'))}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_esc(info.get('title', 'API'))} <small>{_esc(info.get('version', ''))}</small></h1>",
        f"<p>{_esc(info.get('description', ''))}</p>",
        f"<p>API base: <code>{API_BASE}</code> · machine-readable: "
        '<a href="openapi.json">openapi.json</a></p>',
    ]
    for tag in sorted(by_tag):
        parts.append(f"<h2>{_esc(tag)}</h2>")
        for method, path, op in by_tag[tag]:
            parts.extend(_render_operation(method, path, op, document))
    parts.append("<h2>Schemas</h2>")
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        pretty = msgspec.json.format(msgspec.json.encode(schema), indent=2).decode()
        parts.append(f'<h3 id="schema-{_esc(name)}">{_esc(name)}</h3><pre>{_esc(pretty)}</pre>')
    parts.append("</body></html>")
    return "\n".join(parts)


# -- routes -------------------------------------------------------------------------------

routes = RouteTable(tag="meta")


@routes.get("/openapi.json", role=None, operation_id="get_openapi", response=OpenApiDocument)
async def get_openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of this server."""
    return json_response(openapi_document(request.app))


@routes.get("/docs", role=None, media_type="text/html", operation_id="get_docs")
async def get_docs(request: web.Request) -> web.Response:
    """Human-readable API documentation (self-contained HTML, no external assets)."""
    return web.Response(
        text=render_docs_html(openapi_document(request.app)), content_type="text/html"
    )
