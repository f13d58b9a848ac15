"""The Python SDK: a client for the API and an agent-worker runtime built on it.

Public face::

    from switchboard.server.sdk import AsyncClient, Client, Worker, TaskContext, TaskFailed

- ``server.sdk.client``: ``AsyncClient`` / ``Client`` (every resource of the API, typed
  errors, retries, resuming SSE streams, the WebSocket);
- ``server.sdk.worker``: ``Worker`` (claims tasks, runs a handler, reports progress,
  heartbeats, hands work back on shutdown), ``TaskContext``, ``TaskFailed``, ``LeaseLost``;
- ``server.sdk.worker_cli``: ``switchboard worker MODULE:HANDLER``.

Results are ``server.contract`` records, the same types the server encodes. The SDK never
imports the engine nor the server's HTTP half (aiohttp's *client* is all it uses), so it
runs on any host that can reach the API.
"""

from switchboard.server.sdk.client import AsyncClient, Client
from switchboard.server.sdk.worker import LeaseLost, TaskContext, TaskFailed, Worker

__all__ = ["AsyncClient", "Client", "LeaseLost", "TaskContext", "TaskFailed", "Worker"]
