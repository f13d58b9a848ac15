"""The ceiling for bench/api_load.py: a bare aiohttp app doing the same JSON work, no more.

POST /api/v1/tasks parses the JSON body and answers 201 with an id; GET /api/v1/tasks/{id}
answers a small JSON document; GET /stream is an SSE fan-out of what POST /publish receives.
Run: python bench/bare_server.py PORT
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys

from aiohttp import web

counter = itertools.count(1)
subscribers: set[asyncio.Queue[bytes]] = set()


async def create(request: web.Request) -> web.Response:
    body = await request.json()
    task_id = f"task_{next(counter)}"
    return web.json_response({"success": True, "task_id": task_id, "task": {
        "task_id": task_id, "type": body.get("type"), "status": "assigned"}}, status=201)


async def get(request: web.Request) -> web.Response:
    return web.json_response({"success": True, "task_id": request.match_info["id"],
                              "task": {"task_id": request.match_info["id"],
                                       "status": "assigned"}})


async def publish(request: web.Request) -> web.Response:
    body = await request.json()
    frame = f"event: {body['event_type']}\ndata: {json.dumps(body)}\n\n".encode()
    for queue in subscribers:
        queue.put_nowait(frame)
    return web.json_response({"success": True})


async def stream(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    subscribers.add(queue)
    try:
        while True:
            frames = [await queue.get()]
            while not queue.empty():
                frames.append(queue.get_nowait())
            await resp.write(b"".join(frames))
    finally:
        subscribers.discard(queue)


def main() -> None:
    app = web.Application()
    app.router.add_post("/api/v1/tasks", create)
    app.router.add_get("/api/v1/tasks/{id}", get)
    app.router.add_post("/publish", publish)
    app.router.add_get("/stream", stream)
    print("ready", flush=True)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
