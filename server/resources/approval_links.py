"""Approval action links over HTTP: mint one (admin), open its confirm page, decide with it.

The page routes are public at the HTTP level: the link's signed token is the credential,
good for one approval, one person, until it expires, and once. The GET shows what will be
decided and a form; only the POST decides (a link preview fetched by a chat app must never
approve anything), with the token in the form body. The pages are plain HTML with no
scripts and no outside resources, sized for a phone. With ``[approvals] action_links`` off
every route answers 404.
"""

from __future__ import annotations

import html
from typing import Literal

from aiohttp import web
from pydantic import Field

from switchboard.engine.action_links import LinkRefused
from switchboard.engine.clock import iso
from switchboard.engine.errors import EngineError
from switchboard.engine.models import Approval
from switchboard.server import contract
from switchboard.server.app_keys import request_id_of
from switchboard.server.jsonio import QueryModel, StrictModel
from switchboard.server.resources.common import actor_of, engine_of
from switchboard.server.routing import RouteTable

routes = RouteTable(tag="approvals")

MAX_FORM_BYTES = 8192


class LinkRequest(StrictModel):
    principal: str = Field(min_length=1, max_length=256,
                           description="Who decides with the link (a user or agent name).")
    role: Literal["admin", "agent", "user"] = "user"
    ttl_seconds: int | None = Field(None, ge=60, le=7 * 86_400)


@routes.post("/approvals/{approval_id}/links", role="admin", body=LinkRequest,
             response=contract.ActionLink, responses={404: "no such approval, or action links are off",
                                          409: "already decided"})
async def mint_link(request: web.Request, body: LinkRequest) -> contract.ActionLink:
    """Mint a single-use action link deciding this approval as ``principal`` (audited).

    The URL carries the link's token: send it only to that person."""
    approval_id = request.match_info["approval_id"]
    engine = engine_of(request)
    token, expires = await engine.action_links.mint(
        approval_id, body.principal, body.role, actor_of(request), body.ttl_seconds)
    base = engine.webhooks.public_url
    return contract.ActionLink(
        approval_id=approval_id, principal=body.principal,
        url=f"{base}/api/v1/approvals/{approval_id}/act?token={token}",
        expires_at=iso(expires) or "")


class ActQuery(QueryModel):
    token: str = Field(min_length=1, max_length=2048)


@routes.get("/approvals/{approval_id}/act", role=None, query=ActQuery, media_type="text/html",
            responses={403: "the link is invalid, expired, used or for another approval"})
async def act_page(request: web.Request, query: ActQuery) -> web.Response:
    """The confirm page of an action link: what will be decided, approve / reject buttons."""
    approval_id = request.match_info["approval_id"]
    try:
        claims, approval = await engine_of(request).action_links.preview(approval_id,
                                                                          query.token)
    except EngineError as exc:
        return _page("Link not usable", f"<p>{html.escape(exc.detail)}</p>", exc.status)
    if approval.status != "pending":
        return _page("Already decided", f"<p>{_summary(approval)}</p><p>It is "
                     f"<b>{html.escape(approval.status)}</b>"
                     f"{_by(approval)}; nothing to do.</p>", 409)
    token = html.escape(query.token, quote=True)
    form = (f'<form method="post"><input type="hidden" name="token" value="{token}">'
            '<label>Reason (for a rejection)<br><textarea name="reason" rows="3" '
            'maxlength="2000"></textarea></label><p>'
            '<button name="decision" value="approve">Approve</button> '
            '<button name="decision" value="reject">Reject</button></p></form>')
    who = html.escape(claims.principal)
    return _page("Decide this approval", f"{_summary(approval)}<p>You decide as <b>{who}</b>"
                 f" (link valid until {html.escape(iso(claims.expires_at) or '')}, "
                 "once).</p>" + form, 200)


@routes.post("/approvals/{approval_id}/act", role=None, media_type="text/html",
             responses={403: "the link is invalid, expired, used or for another approval",
                        409: "already decided"})
async def act(request: web.Request) -> web.Response:
    """Decide with an action link (form fields ``token``, ``decision``, ``reason``)."""
    approval_id = request.match_info["approval_id"]
    if not engine_of(request).action_links.enabled:
        return _page("Not found", "<p>Action links are off on this server.</p>", 404)
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        return _page("Too large", "<p>The form is too large.</p>", 413)
    form = await request.post()
    token, decision = str(form.get("token", "")), str(form.get("decision", ""))
    reason = str(form.get("reason", "")).strip()[:2000] or None
    if decision not in ("approve", "reject") or not token:
        return _page("Nothing decided", "<p>Choose approve or reject.</p>", 400)
    try:
        approval = await engine_of(request).action_links.use(
            approval_id, token, decision == "approve", reason=reason,
            request_id=request_id_of(request))
    except LinkRefused as exc:
        return _page("Link not usable", f"<p>{html.escape(exc.detail)}</p>", 403)
    except EngineError as exc:
        return _page("Not decided", f"<p>{html.escape(exc.detail)}</p>", exc.status)
    return _page("Done", f"{_summary(approval)}<p>It is now <b>"
                 f"{html.escape(approval.status)}</b>{_by(approval)}.</p>", 200)


def _by(approval: Approval) -> str:
    return f" by {html.escape(approval.decided_by)}" if approval.decided_by else ""


def _summary(approval: Approval) -> str:
    what = approval.prompt or approval.reason or "approval"
    target = approval.task_id or approval.run_id or ""
    return (f"<p><b>{html.escape(approval.priority)}</b> {html.escape(what)}</p>"
            f"<p><small>{html.escape(approval.approval_id)} · {html.escape(target)}</small></p>")


def _page(title: str, body: str, status: int) -> web.Response:
    text = ("<!doctype html><html><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width,initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>body{{font:16px sans-serif;"
            "max-width:32em;margin:1em auto;padding:0 1em}button{font-size:1.1em;"
            "padding:.5em 1em}textarea{width:100%}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>{body}</body></html>")
    response = web.Response(status=status, text=text, content_type="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the URL holds the token
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
