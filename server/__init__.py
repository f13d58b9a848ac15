"""server: the wire. Public face, by subpackage:

- ``server.contract``: the typed records of every response, stream frame and WebSocket
  message (msgspec Structs); imports neither the engine nor aiohttp;
- ``server.sdk``: the Python client and the agent-worker runtime, decoding into the
  contract; imports neither the engine nor the HTTP half below;
- the HTTP half: ``server.api.build_api_app(engine)`` (the aiohttp application: auth, rate
  limits, resources, SSE, WebSockets, OpenAPI), ``server.convert`` (engine record ->
  contract record, one function per kind) and ``server.app.start_server``.

``API_BASE`` is the one prefix every canonical API route is mounted under (DESIGN.md "HTTP
API"); ``SEED001_BASE`` is seed 001's dialect (``server.dialects.seed001``), and the root
serves seeds 002 and 003 (``server.dialects.root``).
"""

API_BASE = "/api/v1"
SEED001_BASE = "/v1"
