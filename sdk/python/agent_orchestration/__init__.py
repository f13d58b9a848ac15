"""Seed 001's Python SDK: ``from agent_orchestration import Client``.

    from agent_orchestration import Client
    client = Client(api_key=os.environ["AGENT_ORCHESTRATION_API_KEY"],
                    base_url="http://127.0.0.1:8000/v1")
    agents = client.agents.list(status="active")
    task = client.tasks.create(agent_id="agent_123", type="data_processing",
                               payload={"source": "database"}, priority="medium")
    while task.status in ["pending", "running"]:
        task = client.tasks.get(task.id)
        print(f"Task progress: {task.progress}%")
        time.sleep(5)
    print(f"Task completed with result: {task.result}")

Why a package of its own over Switchboard's SDK (``switchboard.server.sdk.client``): seed
001's clients import this name and read its words. It talks to seed 001's base (``/v1``),
whose task records (``switchboard.server.contract.seed001``) say pending/running/completed/
failed and low/medium/high/critical; transport, retries, credentials and typed errors are
the Switchboard SDK's own. ``Client`` blocks (as the seed's example does); ``AsyncClient``
is the asyncio face.
"""

from agent_orchestration.client import DEFAULT_BASE_URL, AsyncClient, Client
from switchboard.server.contract import Agent, AgentDeleted
from switchboard.server.contract.seed001 import Seed001Status as TaskStatus
from switchboard.server.contract.seed001 import Seed001Task as Task
from switchboard.server.sdk.client.errors import (
    ApiError,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "Agent",
    "AgentDeleted",
    "ApiError",
    "AsyncClient",
    "Client",
    "Conflict",
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "RateLimited",
    "ServerError",
    "Task",
    "TaskStatus",
    "Unauthorized",
]
