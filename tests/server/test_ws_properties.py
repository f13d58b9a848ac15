"""Properties of WebSocket message decoding (``server.ws_protocol``): whatever a client sends
after authenticating, every message is decoded into a model whose values are in range, or
refused with an ``error`` reply; the connection stays open and keeps answering.

Two levels: the models alone (the decode pipeline ``server.resources.ws`` runs: msgspec text
-> dict -> strict model), and a live socket on a real server fed Hypothesis' messages.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from switchboard.server.jsonio import INT64_MAX, INT64_MIN
from switchboard.server.ws_protocol import (
    MAX_CLAIM_WAIT_SECONDS,
    AuthMessage,
    ClaimMessage,
    PingMessage,
    SubscribeMessage,
    UnsubscribeMessage,
)
from tests.server.conftest import start_live_api

MODELS: dict[str, type[BaseModel]] = {
    "auth": AuthMessage, "subscribe": SubscribeMessage, "unsubscribe": UnsubscribeMessage,
    "claim": ClaimMessage, "ping": PingMessage,
}
FIELDS = ["type", "channel", "agent_id", "task_id", "run_id", "types", "after", "wait", "id",
          "token"]

scalars = st.one_of(
    st.none(), st.booleans(), st.text(max_size=10),
    st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=False),
    st.sampled_from(["task_events", "all_events", "agent_events", "run_events", "nope",
                     "agent_1", "task.", "", 0, -1, 2**63, 2**63 - 1, 30, 31, 1e308]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=10)
messages = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from([*MODELS, "claim", "subscribe"]), values)},
    optional={name: values for name in FIELDS if name != "type"},
)


def _int_ok(value: Any) -> bool:
    return not isinstance(value, int) or INT64_MIN <= value <= INT64_MAX


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages)
def test_decoded_messages_are_in_range_or_refused(message: dict[str, Any]) -> None:
    text = msgspec.json.encode(message).decode()
    data = msgspec.json.decode(text)
    model = MODELS.get(data["type"]) if isinstance(data["type"], str) else None
    if model is None:
        return  # answered "unknown message type" by the connection
    try:
        parsed = model.model_validate(data, strict=True)
    except ValidationError as exc:
        assert exc.errors()  # names what is wrong
        return
    assert _int_ok(getattr(parsed, "id", None))
    if isinstance(parsed, SubscribeMessage):
        assert parsed.after is None or 0 <= parsed.after <= INT64_MAX
        assert parsed.types is None or len(parsed.types) <= 32
    if isinstance(parsed, ClaimMessage):
        assert math.isfinite(parsed.wait) and 0 <= parsed.wait <= MAX_CLAIM_WAIT_SECONDS
        assert 1 <= len(parsed.agent_id) <= 256


# -- a live socket ---------------------------------------------------------------------------


class _Server:
    """A real API on 127.0.0.1 in a thread of its own (Hypothesis drives synchronous tests)."""

    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.live: Any = None
        self.errors: list[logging.LogRecord] = []
        self.thread = threading.Thread(target=self._run, args=(tmp,), daemon=True)

    def _run(self, tmp: Path) -> None:
        asyncio.set_event_loop(self.loop)
        self.live, self.runner = self.loop.run_until_complete(start_live_api(tmp))
        self.ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        async def down() -> None:
            await self.runner.cleanup()
            await self.live.engine.stop()

        asyncio.run_coroutine_threadsafe(down(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class _Collect(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


@pytest.fixture(scope="module")
def ws_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Server]:
    server = _Server(tmp_path_factory.mktemp("ws-props"))
    handler = _Collect(server.errors)
    logging.getLogger().addHandler(handler)
    server.thread.start()
    assert server.ready.wait(30)
    try:
        yield server
    finally:
        server.stop()
        logging.getLogger().removeHandler(handler)


def _tame(message: Any) -> Any:
    """No claim may wait (a positive ``wait`` would hold the reply for up to 30 s)."""
    if isinstance(message, dict):
        wait = message.get("wait")
        if isinstance(wait, int | float) and not isinstance(wait, bool) and wait > 0:
            message["wait"] = 0
    return message


frames = st.one_of(
    messages.map(lambda m: msgspec.json.encode(_tame(m)).decode()),
    values.map(lambda v: msgspec.json.encode(v).decode()),
    st.text(max_size=40),
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(frames, min_size=1, max_size=15))
def test_a_socket_answers_every_message_and_stays_open(ws_server: _Server,
                                                       texts: list[str]) -> None:
    replies = asyncio.run(_exchange(ws_server.live, texts))
    assert all(isinstance(r, dict) and isinstance(r.get("type"), str) for r in replies), replies
    assert not ws_server.errors, [r.getMessage() for r in ws_server.errors]


async def _exchange(live: Any, texts: list[str]) -> list[Any]:
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{live.base}/ws") as ws:
        await ws.send_json({"type": "auth", "token": live.token("agent")})
        assert (await ws.receive_json(timeout=10))["type"] == "auth_ok"
        for text in texts:
            await ws.send_str(text)
        await ws.send_json({"type": "ping", "id": "final"})
        replies: list[Any] = []
        while True:
            msg = await ws.receive(timeout=20)
            assert msg.type is aiohttp.WSMsgType.TEXT, (msg.type, msg.data, ws.close_code)
            reply = msgspec.json.decode(msg.data)
            if reply.get("type") == "pong" and reply.get("id") == "final":
                return replies
            replies.append(reply)
