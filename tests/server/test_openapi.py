"""The OpenAPI 3.1 document covers every mounted route; the docs page is self-contained."""

from __future__ import annotations

import re
from typing import Any

from switchboard.server.app_keys import ROUTES_KEY
from switchboard.server.openapi import build_openapi
from tests.server import dummy_routes
from tests.server.conftest import AppClient

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


async def fetch(client: AppClient) -> dict[str, Any]:
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200 and resp.content_type == "application/json"
    return await resp.json()


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


async def test_every_mounted_route_is_documented(client: AppClient) -> None:
    doc = await fetch(client)
    base = doc["servers"][0]["url"]
    assert base == "/"
    documented: set[tuple[str, str]] = set()
    for path, item in doc["paths"].items():
        urls = [s["url"] for s in item.get("servers", doc["servers"])]
        for method in set(item) & HTTP_METHODS:
            for url in urls:
                documented.add((method.upper(), url.rstrip("/") + path))
    mounted = set()
    for route in client.app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        mounted.add((route.method, path))
    assert mounted == documented
    assert mounted == client.app[ROUTES_KEY].paths()
    assert ("GET", "/public") in mounted and ("GET", "/api/v1/openapi.json") in mounted


async def test_document_structure_is_openapi_3_1(client: AppClient) -> None:
    doc = await fetch(client)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    assert set(doc["components"]["securitySchemes"]) == {"bearerAuth", "apiKeyAuth"}
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert doc["components"]["securitySchemes"]["apiKeyAuth"]["name"] == "X-API-Key"
    assert {t["name"] for t in doc["tags"]} == {"meta", "things"}
    operation_ids = []
    for path, item in doc["paths"].items():
        assert path.startswith("/")
        placeholders = set(re.findall(r"\{(\w+)\}", path))
        for method, op in item.items():
            if method == "servers":
                continue
            assert method in HTTP_METHODS
            operation_ids.append(op["operationId"])
            assert op["responses"] and all(re.fullmatch(r"[1-5]\d\d", s) for s in op["responses"])
            for response in op["responses"].values():
                if "$ref" in response:
                    response = resolve(doc, response["$ref"])
                assert response["description"] and "headers" in response
            path_params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert path_params == placeholders, (method, path)
            for param in op.get("parameters", []):
                assert param["in"] in ("path", "query") and "schema" in param
                if param["in"] == "path":
                    assert param["required"] is True
    assert len(operation_ids) == len(set(operation_ids))
    for ref in refs(doc):  # every reference resolves inside the document
        assert resolve(doc, ref) is not None


async def test_operations_carry_models_roles_and_security(client: AppClient) -> None:
    doc = await fetch(client)
    create = doc["paths"]["/api/v1/things"]["post"]
    body_schema = resolve(doc, create["requestBody"]["content"]["application/json"]["schema"]["$ref"])
    assert body_schema["required"] == ["type"]
    assert body_schema["properties"]["priority"]["maximum"] == 3
    assert body_schema["additionalProperties"] is False
    out = resolve(doc, create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"])
    assert set(out["properties"]) == {"success", "id", "priority"}
    assert {"400", "401", "403", "413", "429", "500"} <= set(create["responses"])
    unauthorized = resolve(doc, create["responses"]["401"]["$ref"])
    assert "WWW-Authenticate" in unauthorized["headers"]
    assert resolve(doc, unauthorized["content"]["application/json"]["schema"]["$ref"])[
        "required"
    ] == ["detail"]
    assert create["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]
    assert create["x-required-role"] == "agent" and "`agent`" in create["description"]
    assert create["summary"] == "Create a thing (agent or admin)."

    listing = doc["paths"]["/api/v1/things"]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert params["page"]["schema"]["type"] == "integer" and params["page"]["required"] is False
    assert params["page"]["description"] == "Page number"
    assert params["status"]["schema"]["anyOf"][0]["type"] == "array"
    assert "403" not in listing["responses"]  # any authenticated role may list

    get_one = doc["paths"]["/api/v1/things/{thing_id}"]["get"]
    (path_param,) = get_one["parameters"]
    assert path_param["schema"]["pattern"] == r"^thing_\w+$"

    public = doc["paths"]["/api/v1/public"]
    assert "security" not in public["get"] and "401" not in public["get"]["responses"]
    assert doc["paths"]["/public"]["get"]["operationId"] == public["get"]["operationId"] + "_root"
    assert doc["paths"]["/api/v1/stream"]["get"]["responses"]["200"]["content"] == {
        "text/event-stream": {"schema": {"type": "string"}}
    }
    assert "content" not in doc["paths"]["/api/v1/things/{thing_id}"]["delete"]["responses"]["204"]


def test_build_openapi_is_deterministic() -> None:
    assert build_openapi(dummy_routes.routes) == build_openapi(dummy_routes.routes)


async def test_docs_page_lists_every_operation_and_needs_no_network(client: AppClient) -> None:
    resp = await client.get("/api/v1/docs")
    assert resp.status == 200 and resp.content_type == "text/html"
    page = await resp.text()
    doc = await fetch(client)
    for path, item in doc["paths"].items():
        assert f"<code>{path}" in page
        for method, op in item.items():
            if method != "servers":
                assert op["summary"] in page or op["summary"].replace("'", "&#x27;") in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing external
    assert 'id="schema-CreateThing"' in page
