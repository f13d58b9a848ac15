"""``switchboard worker MODULE:HANDLER --type dev_agent --url ... --token ...``

The command-line body of a worker process: load the handler, build a ``Worker``, run it
until SIGTERM/SIGINT (the first finishes running tasks within the grace period, a second
hands them back at once). It lives in ``server`` so a worker host needs no console code.

The credential comes from ``--token`` or, better (a command line is visible to every user
of the host), ``SWITCHBOARD_TOKEN``; failing both, a JWT is minted from
``ORCHESTRATOR_JWT_SECRET`` for the worker's name with role ``agent``. It is never logged.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import os
import sys
from pathlib import Path
from typing import Any, cast

from switchboard.server.sdk.client.client import AsyncClient
from switchboard.server.sdk.worker import Handler, Worker, run_worker

log = logging.getLogger("switchboard.worker")


class WorkerSetupError(Exception):
    """Bad arguments (handler not found, no credential); the message says what to fix."""


def load_handler(target: str) -> Handler:
    """``package.module:function`` or ``path/to/file.py:function`` -> the async function."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise WorkerSetupError(f"handler must look like MODULE:FUNCTION (got {target!r})")
    if module_name.endswith(".py") or os.sep in module_name:
        path = Path(module_name).resolve()
        if not path.is_file():
            raise WorkerSetupError(f"no such file: {path}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise WorkerSetupError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
    else:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise WorkerSetupError(f"cannot import {module_name!r}: {exc}") from None
    handler: Any = module
    for part in attr.split("."):
        handler = getattr(handler, part, None)
        if handler is None:
            raise WorkerSetupError(f"{module_name!r} has no attribute {attr!r}")
    if not callable(handler):
        raise WorkerSetupError(f"{target} is not callable")
    return cast(Handler, handler)


def build_client(url: str, token: str | None, name: str) -> AsyncClient:
    """A client from ``--token``, ``SWITCHBOARD_TOKEN`` or ``ORCHESTRATOR_JWT_SECRET``."""
    credential = token or os.environ.get("SWITCHBOARD_TOKEN")
    if credential:
        return AsyncClient(url, token=credential)
    secret = os.environ.get("ORCHESTRATOR_JWT_SECRET")
    if secret:
        return AsyncClient(url, jwt_secret=secret, subject=name, role="agent")
    raise WorkerSetupError("no credential: pass --token, or set SWITCHBOARD_TOKEN "
                           "(or ORCHESTRATOR_JWT_SECRET to mint one)")


def worker_main(
    target: str,
    *,
    agent_type: str,
    url: str = "http://127.0.0.1:8000",
    token: str | None = None,
    concurrency: int = 1,
    agent_id: str | None = None,
    name: str | None = None,
    claim_wait: float = 5.0,
    shutdown_grace: float = 30.0,
    http_only: bool = False,
    log_level: str = "INFO",
) -> int:
    """Run one worker process until signalled; returns the exit code (0 clean, 2 bad setup).

    Logs go to stderr (a worker is a headless process; its supervisor collects them).
    """
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        handler = load_handler(target)
        worker_name = name or f"{agent_type}-{os.getpid()}"

        async def main() -> int:
            client = build_client(url, token, worker_name)
            worker = Worker(agent_type, handler, concurrency=concurrency, agent_id=agent_id,
                            name=worker_name, client=client, use_websocket=not http_only,
                            claim_wait=claim_wait, shutdown_grace=shutdown_grace)
            try:
                stats = await run_worker(worker)
            finally:
                await client.close()
            log.info("worker finished: %s", stats.as_dict())
            return 0

        return asyncio.run(main())
    except WorkerSetupError as exc:
        print(f"switchboard worker: {exc}", file=sys.stderr)
        return 2
