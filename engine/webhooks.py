"""Webhooks: events delivered to HTTP receivers (Slack-compatible) from a durable outbox.

Why an outbox written in the event's own transaction: a webhook sent after the commit is
lost if the process dies in between, and one sent before can announce a change that then
failed. ``WebhookService.outbox_hook`` runs inside the emitting transaction (the store's emit
hook) and inserts one ``webhook_outbox`` row per matching receiver, so a row exists if and
only if its event committed: a crash never loses or invents one. A sender loop then POSTs
due rows, at least once: a delivery in flight when the process dies is sent again after the
restart, with the same ``X-Switchboard-Delivery`` id for the receiver to de-duplicate on.

Order: rows of one receiver that share an ``order_key`` (the approval, else the task or run)
are sent one at a time in commit order, so "requested" never overtakes "decided" for one
approval; unrelated rows go out concurrently (``[webhook_delivery] concurrency``).

Failures: 5xx, 429, timeouts and connection errors are retried with exponential backoff and
+-50% jitter (``backoff_base_seconds`` doubling up to ``backoff_max_seconds``) for
``retry_for_seconds``, then the row is dead-lettered; any other status (3xx, 4xx) and a
destination the outbound policy refuses dead-letter at once. Each dead letter emits
``system.webhook_failed`` (never itself sent to webhooks). ``GET /api/v1/webhooks/deliveries``
lists rows; redeliver puts one back in the queue.

Signature: ``X-Switchboard-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`` with
``X-Switchboard-Timestamp`` (send time, seconds) and the body's own ``timestamp`` (event time)
for freshness checks. Destinations obey ``[tools.http] allow_hosts`` like the http tool.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import msgspec
from yarl import URL

from switchboard.engine.clock import Clock, iso
from switchboard.engine.config import Config, WebhookConfig
from switchboard.engine.models import Event
from switchboard.engine.store.base import ReadConn, Store, Tx
from switchboard.engine.store.queries import F, Many, Q
from switchboard.engine.tools.http import GuardedResolver, OutboundPolicy, OutboundRefused

log = logging.getLogger("switchboard.webhooks")

_encode = msgspec.json.Encoder().encode
FAILED_EVENT: Final = "system.webhook_failed"
MAX_ERROR_CHARS: Final = 500
PRIORITY_WORDS: Final = {"P0": "P0 critical", "P1": "P1 high", "P2": "P2 medium",
                         "P3": "P3 low"}


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row (without its body) as the API lists it."""

    id: int
    webhook: str
    event_seq: int
    event_type: str
    order_key: str
    status: str  # pending | delivered | dead
    attempts: int
    next_attempt_at: float
    last_status: int | None
    last_error: str | None
    created_at: float
    delivered_at: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "webhook": self.webhook, "event_seq": self.event_seq,
                "event_type": self.event_type, "order_key": self.order_key,
                "status": self.status, "attempts": self.attempts,
                "next_attempt_at": iso(self.next_attempt_at) if self.status == "pending"
                else None,
                "last_status": self.last_status, "last_error": self.last_error,
                "created_at": iso(self.created_at), "delivered_at": iso(self.delivered_at)}


def _delivery(row: Sequence[Any]) -> Delivery:
    return Delivery(int(row[0]), row[1], int(row[2]), row[3], row[4], row[5], int(row[6]),
                    float(row[7]), row[8], row[9], float(row[10]), row[11])


def webhook_names(hooks: Sequence[WebhookConfig]) -> list[str]:
    """Each receiver's name: its own, or ``webhook-<n>`` by position (1-based)."""
    return [hook.name or f"webhook-{index}" for index, hook in enumerate(hooks, 1)]


def wants(hook: WebhookConfig, event_type: str) -> bool:
    if event_type.startswith("system.webhook_"):
        return False  # a failing receiver must not generate deliveries about itself
    return any(event_type == pattern or (pattern.endswith(".") and
                                         event_type.startswith(pattern))
               for pattern in hook.events)


def order_key(event: Event) -> str:
    approval = event.payload.get("approval_id")
    if isinstance(approval, str):
        return f"approval:{approval}"
    if event.task_id:
        return f"task:{event.task_id}"
    if event.run_id:
        return f"run:{event.run_id}"
    return f"seq:{event.seq}"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _links(event: Event, public_url: str) -> dict[str, str]:
    links: dict[str, str] = {}
    approval = event.payload.get("approval_id")
    if isinstance(approval, str):
        links["console"] = f"switchboard://approvals/{approval}"
        links["api"] = f"{public_url}/api/v1/approvals/{approval}"
    if event.task_id:
        links.setdefault("console", f"switchboard://tasks/{event.task_id}")
        links["task"] = f"{public_url}/api/v1/tasks/{event.task_id}"
    if event.run_id:
        links.setdefault("console", f"switchboard://runs/{event.run_id}")
        links["run"] = f"{public_url}/api/v1/orchestrations/runs/{event.run_id}"
    return links


def render_json(event: Event, public_url: str) -> bytes:
    return _encode({
        "event": event.event_type, "seq": event.seq, "timestamp": iso(event.timestamp),
        "source_agent": event.source_agent, "task_id": event.task_id, "run_id": event.run_id,
        "agent_id": event.agent_id, "priority": event.priority, "payload": event.payload,
        "links": _links(event, public_url),
    })


def _title(event: Event) -> str:
    p = event.payload
    kind = "gate" if p.get("kind") == "gate" else "task"
    if event.event_type == "approval.requested":
        return f"Approval needed: {kind} {p.get('approval_id', '')}"
    if event.event_type == "approval.decided":
        status = str(p.get("status", "decided"))
        if status == "approved" and kind == "gate":
            status = "answered"
        by = p.get("decided_by")
        return f"Approval {status}" + (f" by {by}" if by else "")
    approval_id = p.get("approval_id", "")
    if event.event_type == "approval.overdue":
        return f"Approval overdue: {approval_id}"
    if event.event_type == "approval.voted":
        return f"Approval {approval_id}: {p.get('progress', '')} approvals"
    if event.event_type == "approval.reminder":
        return f"Reminder: approval {approval_id} is due {p.get('due_at') or 'soon'}"
    if event.event_type == "approval.escalated":
        return f"Approval escalated (step {p.get('step', '?')}): {approval_id}"
    if event.event_type == "approval.reassigned":
        return f"Approval {approval_id} reassigned to {', '.join(p.get('assignees') or [])}"
    return event.event_type


def render_slack(event: Event, public_url: str) -> bytes:
    """Slack Block Kit for an incoming webhook (Mattermost accepts the same ``text``/blocks):
    the title, priority in words, the reason, the due time, and references to act."""
    p = event.payload
    title = _title(event)
    priority = PRIORITY_WORDS.get(str(event.priority or p.get("priority") or ""), "")
    reason = str(p.get("reason") or p.get("prompt") or p.get("rejection_reason") or "")
    fields = [f"*Priority:* {priority or '-'}"]
    if p.get("task_id") or event.task_id:
        fields.append(f"*Task:* `{p.get('task_id') or event.task_id}`")
    if event.run_id:
        fields.append(f"*Run:* `{event.run_id}`")
    due = p.get("due_at") or p.get("expires_at")
    if due:
        fields.append(f"*Due:* {due}")
    quorum = p.get("quorum")
    if isinstance(quorum, int) and quorum > 1:
        fields.append(f"*Approvals:* {p.get('approvals_count', 0)} of {quorum}")
    links = _links(event, public_url)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if reason:
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn", "text": reason[:2900]}})
    refs = " · ".join(f"{name}: <{url}>" if url.startswith("http") else f"{name}: `{url}`"
                      for name, url in links.items())
    if refs:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": refs}]})
    text = f"{title} ({priority})" if priority else title
    return _encode({"text": text, "blocks": blocks})


class WebhookService:
    """The outbox (filled in-transaction) and its sender loop. Attached as ``engine.webhooks``."""

    def __init__(self, store: Store, config: Config, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.hooks: dict[str, WebhookConfig] = dict(
            zip(webhook_names(config.webhooks), config.webhooks, strict=True))
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[int] = set()
        self._jobs: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._resolver: GuardedResolver | None = None
        self._policy = OutboundPolicy(config.tools.http.allow_hosts)
        self.delivered = 0
        store.add_emit_hook(self.outbox_hook)

    @property
    def public_url(self) -> str:
        configured = self.config.webhook_delivery.public_url.rstrip("/")
        if configured:
            return configured
        return f"http://{self.config.server.host}:{self.config.server.port}"

    # -- in the emitting transaction ---------------------------------------------------------
    def outbox_hook(self, tx: Tx, event: Event) -> None:
        """One outbox row per enabled receiver that wants this event (inside its commit)."""
        if not self.hooks:
            return
        rows = []
        for name, hook in self.hooks.items():
            if not hook.enabled or not wants(hook, event.event_type):
                continue
            render = render_slack if hook.format == "slack" else render_json
            rows.append({"webhook": name, "event_seq": event.seq,
                         "event_type": event.event_type, "order_key": order_key(event),
                         "body": render(event, self.public_url), "now": tx.now})
        if not rows:
            return
        for row in rows:
            tx.run(Q.webhook_enqueue, row)
        tx.after_commit(self._wake.set)

    # -- the sender ----------------------------------------------------------------------------
    async def start(self) -> None:
        if self.hooks and self._task is None:
            self._policy = policy = OutboundPolicy(self.config.tools.http.allow_hosts)
            self._resolver = GuardedResolver(policy)
            connector = aiohttp.TCPConnector(resolver=self._resolver, use_dns_cache=False,
                                             limit=self.config.webhook_delivery.concurrency)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
            self._task = asyncio.create_task(self._run(), name="switchboard-webhooks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for job in list(self._jobs):
            job.cancel()
        if self._jobs:
            await asyncio.gather(*self._jobs, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._resolver is not None:
            await self._resolver.close()
            self._resolver = None

    async def _run(self) -> None:
        delivery = self.config.webhook_delivery
        while True:
            try:
                due = await self._due(delivery.concurrency - len(self._in_flight))
                for row_id, name, body, event_type, attempts, created in due:
                    self._in_flight.add(row_id)
                    job = asyncio.create_task(
                        self._deliver(row_id, name, body, event_type, attempts, created))
                    self._jobs.add(job)
                    job.add_done_callback(self._jobs.discard)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook outbox poll failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delivery.poll_seconds)

    async def _due(self, room: int) -> list[tuple[Any, ...]]:
        """Due rows whose order key has no earlier pending row, none already in flight."""
        if room <= 0:
            return []
        params = {"now": self.clock.now(), "in_flight": Many(self._in_flight),
                  "limit": room}

        def read(conn: ReadConn) -> list[tuple[Any, ...]]:
            return conn.all(Q.webhook_due, params)
        return await self.store.read(read)

    async def _deliver(self, row_id: int, name: str, body: bytes, event_type: str,
                       attempts: int, created: float) -> None:
        hook = self.hooks.get(name)
        try:
            if hook is None:
                await self._finish(row_id, "dead", None, f"no webhook named {name!r} is "
                                   "configured any more", attempts)
                return
            status, error, retry_after = await self._post(hook, row_id, body, event_type)
            attempts += 1
            if status is not None and 200 <= status < 300:
                await self._finish(row_id, "delivered", status, None, attempts)
                self.delivered += 1
                return
            retryable = status is None or status == 429 or status >= 500
            delivery = self.config.webhook_delivery
            now = self.clock.now()
            if retryable and not error.startswith("refused to connect"):
                delay = min(delivery.backoff_base_seconds * 2 ** (attempts - 1),
                            delivery.backoff_max_seconds) * random.uniform(0.5, 1.5)
                if retry_after is not None:
                    delay = max(delay, retry_after)
                if now + delay - created <= delivery.retry_for_seconds:
                    await self._finish(row_id, "pending", status, error, attempts,
                                       next_attempt=now + delay)
                    return
                error = f"{error} (gave up after {attempts} attempts in " \
                        f"{now - created:.0f} s: [webhook_delivery] retry_for_seconds)"
            await self._finish(row_id, "dead", status, error, attempts)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook delivery %d failed unexpectedly; it stays queued", row_id)
        finally:
            self._in_flight.discard(row_id)
            self._wake.set()

    async def _post(self, hook: WebhookConfig, row_id: int, body: bytes, event_type: str
                    ) -> tuple[int | None, str, float | None]:
        """POST once: (status or None, error text, Retry-After seconds)."""
        assert self._session is not None
        headers = {"Content-Type": "application/json", "User-Agent": "switchboard-webhooks",
                   "X-Switchboard-Event": event_type, "X-Switchboard-Delivery": str(row_id),
                   "X-Switchboard-Timestamp": str(int(time.time()))}
        if hook.secret:
            headers["X-Switchboard-Signature"] = signature(hook.secret, body)
        try:
            self._policy.check_literal(URL(hook.url))  # an IP host is never resolved
            async with self._session.post(
                    hook.url, data=body, headers=headers, allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=hook.timeout_seconds)) as response:
                if 200 <= response.status < 300:
                    return response.status, "", None
                text = (await response.content.read(200)).decode("utf-8", "replace")
                retry_after = _retry_after(response.headers)
                return response.status, f"HTTP {response.status}: {text}".strip(), retry_after
        except OutboundRefused as exc:
            return None, f"{exc} (the same policy as the http tool)", None
        except TimeoutError:
            return None, f"timed out after {hook.timeout_seconds:g} s", None
        except aiohttp.ClientError as exc:
            return None, f"{type(exc).__name__}: {exc}", None

    async def _finish(self, row_id: int, status: str, http_status: int | None,
                      error: str | None, attempts: int, *, next_attempt: float | None = None
                      ) -> None:
        error = error[:MAX_ERROR_CHARS] if error else None

        def op(tx: Tx) -> None:
            tx.run(Q.webhook_settle, {
                "id": row_id, "status": status, "attempts": attempts, "last_status": http_status,
                "last_error": error, "next_attempt_at": next_attempt,
                "delivered_at": tx.now if status == "delivered" else None})
            if status == "dead":
                row = tx.one(Q.webhook_by_id, {"id": row_id})
                if row is not None:
                    tx.emit(FAILED_EVENT, {"delivery_id": row_id, "webhook": row[1],
                                           "event_type": row[3], "event_seq": row[2],
                                           "attempts": attempts, "error": error})
        await self.store.write(op)
        if status == "dead":
            log.warning("webhook delivery %d dead-lettered after %d attempt(s): %s", row_id,
                        attempts, error)

    # -- reads and operator actions ------------------------------------------------------------
    async def deliveries(self, *, status: str | None = None, webhook: str | None = None,
                         after: int = 0, limit: int = 100) -> list[Delivery]:
        where: list[F] = []
        params: dict[str, Any] = {"after": after, "limit": limit}
        if status is not None:
            where.append(F.webhook_status)
            params["status"] = status
        if webhook is not None:
            where.append(F.webhook_name)
            params["webhook"] = webhook

        def read(conn: ReadConn) -> list[Delivery]:
            return [_delivery(r) for r in conn.all(Q.webhook_page, params, where=where)]
        return await self.store.read(read)

    async def redeliver(self, delivery_id: int, actor: Any) -> Delivery:
        """Queue a dead (or delivered) row again, now; audited ``webhook.redeliver``."""
        from switchboard.engine import audit
        from switchboard.engine.errors import Conflict, NotFound

        def op(tx: Tx) -> Delivery:
            row = tx.one(Q.webhook_by_id, {"id": delivery_id})
            if row is None:
                raise NotFound(f"webhook delivery {delivery_id} not found")
            before = _delivery(row)
            if before.status == "pending":
                raise Conflict(f"webhook delivery {delivery_id} is already queued")
            tx.run(Q.webhook_requeue, {"id": delivery_id, "now": tx.now})
            audit.record(tx, actor, "webhook.redeliver", "webhook_delivery", str(delivery_id),
                         before={"status": before.status, "attempts": before.attempts},
                         after={"status": "pending"})
            tx.after_commit(self._wake.set)
            row = tx.one(Q.webhook_by_id, {"id": delivery_id})
            assert row is not None
            return _delivery(row)
        return await self.store.write(op)

    def summary(self) -> list[dict[str, Any]]:
        """The configured receivers, without secrets."""
        return [{"name": name, "url": _redact(hook.url), "events": list(hook.events),
                 "format": hook.format, "enabled": hook.enabled,
                 "signed": bool(hook.secret)} for name, hook in self.hooks.items()]


def _redact(url: str) -> str:
    """Slack-style URLs carry their secret in the path: show the host and a hint only."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.path not in ("", "/") else url


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), 3600.0)
    except ValueError:
        return None
