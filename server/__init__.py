"""server: the wire. aiohttp app, auth, rate limits, OpenAPI; later the client SDK.

``API_BASE`` is the one prefix every API route is mounted under (DESIGN.md "HTTP API").
"""

API_BASE = "/api/v1"
