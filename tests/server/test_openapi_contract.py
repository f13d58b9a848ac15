"""Every success response of the real server's OpenAPI document is typed by the contract.

Over the whole route table the server mounts: each 2xx JSON (or SSE) response has a schema
with properties (an object, or an array of objects), generated from ``server.contract``;
the only exceptions are the HTML docs page and the Prometheus text, which are text on
purpose. Records that used to be untyped (``data: any``, ``task: object``) name their
fields now. The counts are printed (``pytest -s``) for the issue's before/after figure.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from switchboard.server import contract

TEXT_ON_PURPOSE = {("GET", "/api/v1/docs"): "text/html", ("GET", "/metrics"): "text/plain",
                   # an approval action link's confirm and result pages, for a phone's browser
                   ("GET", "/api/v1/approvals/{approval_id}/act"): "text/html",
                   ("POST", "/api/v1/approvals/{approval_id}/act"): "text/html"}


def resolve(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        target: Any = doc
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def has_properties(doc: dict[str, Any], schema: Any) -> bool:
    schema = resolve(doc, schema)
    if schema.get("type") == "array":
        return has_properties(doc, schema.get("items", {}))
    return bool(schema.get("properties"))


async def test_every_success_response_has_a_typed_schema(api: Any, http: aiohttp.ClientSession
                                                         ) -> None:
    async with http.get(api.base + "/openapi.json") as resp:
        assert resp.status == 200
        doc = await resp.json()
    typed, untyped, operations = [], [], 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            operations += 1
            for status, response in op["responses"].items():
                if not status.startswith("2"):
                    continue
                for media, content in resolve(doc, response).get("content", {}).items():
                    where = (method.upper(), path, status, media)
                    if TEXT_ON_PURPOSE.get((method.upper(), path)) == media:
                        assert content["schema"] == {"type": "string"}
                        continue
                    (typed if has_properties(doc, content.get("schema", {})) else untyped
                     ).append(where)
    print(f"\n{operations} operations; typed 2xx response schemas: {len(typed)}; "
          f"untyped: {len(untyped)}; text on purpose: {len(TEXT_ON_PURPOSE)}")
    assert untyped == []
    assert len(typed) >= 60


async def test_records_name_their_fields(api: Any, http: aiohttp.ClientSession) -> None:
    async with http.get(api.base + "/openapi.json") as resp:
        doc = await resp.json()
    schemas = doc["components"]["schemas"]
    envelope = schemas["TaskEnvelope"]["properties"]
    assert envelope["task"] == {"$ref": "#/components/schemas/Task"}
    task = schemas["Task"]
    assert task["properties"]["status"] == {"$ref": "#/components/schemas/TaskStatus"}
    assert set(schemas["TaskStatus"]["enum"]) == {s.value for s in contract.TaskStatus}
    assert task["properties"]["created_at"]["anyOf"][0]["format"] == "date-time"
    assert schemas["AgentPage"]["properties"]["data"]["items"] == {
        "$ref": "#/components/schemas/Agent"}
    gate = schemas["GateField"]["properties"]
    assert gate["type"] == {"$ref": "#/components/schemas/FieldType", "default": "text"}
    assert set(schemas["FieldType"]["enum"]) == {"text", "textarea", "select", "multiselect",
                                                "number", "boolean"}
    # request bodies stay pydantic, under the same components
    assert schemas["CreateTask"]["additionalProperties"] is False
