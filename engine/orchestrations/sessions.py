"""Seed 002's sessions: multi-turn workflow development that survives restarts.

Why sessions are stored (not kept in memory): a person iterates on a workflow over hours —
generate, refine, refine again — often from different clients, and a server restart must
not lose the context, the preferences or the history of turns. A session holds the shared
context (merged with each turn's), preferences (provider, model, streaming) and the current
workflow; every turn is a row of its own with its input, result, validation and metadata.

Continuing is optimistic: generation runs outside the transaction (a model call can take
seconds), and the turn is recorded only if nobody else added one meanwhile; otherwise the
caller gets a 409 and retries on top of the newer workflow, instead of silently forking.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from switchboard.engine.actors import Actor
from switchboard.engine.clock import iso
from switchboard.engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from switchboard.engine.ids import new_id
from switchboard.engine.orchestrations.generate import GenerationResult, WorkflowGenerator
from switchboard.engine.providers.registry import UnknownProviderError
from switchboard.engine.store.base import ReadConn, Store, Tx
from switchboard.engine.store.queries import Q

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

Action = Literal["generate", "refine"]


class SessionTurn(msgspec.Struct, kw_only=True):
    """One generate or refine step of a session."""

    turn: int
    action: str
    input: dict[str, Any]
    workflow: dict[str, Any]
    validation: dict[str, Any]
    metadata: dict[str, Any]
    created_at: float

    def as_dict(self) -> dict[str, Any]:
        return {"turn": self.turn, "action": self.action, "input": self.input,
                "workflow": self.workflow, "validation": self.validation,
                "metadata": self.metadata, "created_at": iso(self.created_at)}


class Session(msgspec.Struct, kw_only=True):
    session_id: str
    context: dict[str, Any] = {}
    preferences: dict[str, Any] = {}
    workflow: dict[str, Any] | None = None
    turns: int = 0
    created_by: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    history: list[SessionTurn] = []

    def as_dict(self, history: bool = True) -> dict[str, Any]:
        """Seed 002's session shape (``session_id``, ``created_at``, ``context``,
        ``preferences``) plus the current workflow and, optionally, the turns."""
        out: dict[str, Any] = {
            "session_id": self.session_id, "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at), "context": self.context,
            "preferences": self.preferences, "workflow": self.workflow, "turns": self.turns,
            "created_by": self.created_by}
        if history:
            out["history"] = [turn.as_dict() for turn in self.history]
        return out


@dataclass(frozen=True)
class ContinueRequest:
    """What a caller may send to continue a session. ``message`` is the conversational
    form: a task when there is no workflow yet, a requirement once there is one."""

    message: str | None = None
    task: str | None = None
    requirements: list[str] | None = None
    context: Mapping[str, Any] | None = None
    workflow: Mapping[str, Any] | None = None
    provider: str | None = None
    model: str | None = None
    action: Action | None = None


_PREFERENCE_TYPES: dict[str, tuple[type, ...]] = {"provider": (str,), "model": (str,),
                                                  "streaming": (bool,)}


def _row_session(row: tuple[Any, ...]) -> Session:
    session_id, doc, turns, created_at, updated_at = row
    data = _decode(doc)
    return Session(session_id=session_id, context=data.get("context") or {},
                   preferences=data.get("preferences") or {}, workflow=data.get("workflow"),
                   created_by=data.get("created_by"), turns=int(turns),
                   created_at=float(created_at), updated_at=float(updated_at))


def _doc(session: Session) -> bytes:
    return _encode({"context": session.context, "preferences": session.preferences,
                    "workflow": session.workflow, "created_by": session.created_by})


def _load(conn: ReadConn, session_id: str) -> Session:
    row = conn.one(Q.session_by_id, {"session_id": session_id})
    if row is None:
        raise NotFound(f"session {session_id!r} not found")
    return _row_session(row)


class SessionService:
    """Create, read and continue sessions; generation goes through ``generator``."""

    def __init__(self, store: Store, generator: WorkflowGenerator) -> None:
        self.store = store
        self.generator = generator

    def _check_preferences(self, preferences: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(preferences)
        for key, types in _PREFERENCE_TYPES.items():
            value = out.get(key)
            if value is not None and not isinstance(value, types):
                raise ValidationFailed(f"preferences.{key}",
                                       f"expected {types[0].__name__}, got {type(value).__name__}")
        provider = out.get("provider")
        if provider is not None:
            try:
                self.generator.providers.get(provider)
            except UnknownProviderError as exc:
                raise ValidationFailed("preferences.provider", str(exc)) from None
        return out

    async def create(self, context: Mapping[str, Any] | None = None,
                     preferences: Mapping[str, Any] | None = None,
                     created_by: str | None = None) -> Session:
        prefs = self._check_preferences(preferences or {})

        def op(tx: Tx) -> Session:
            session = Session(session_id=new_id("sess"), context=dict(context or {}),
                              preferences=prefs, created_by=created_by, created_at=tx.now,
                              updated_at=tx.now)
            tx.run(Q.session_insert, {"session_id": session.session_id, "doc": _doc(session),
                                      "now": tx.now})
            tx.emit("session.created", {"session_id": session.session_id,
                                        "created_by": created_by})
            return session

        return await self.store.write(op)

    async def get(self, session_id: str, history: bool = True) -> Session:
        def read(conn: ReadConn) -> Session:
            session = _load(conn, session_id)
            if history:
                rows = conn.all(Q.session_turns, {"session_id": session_id})
                session.history = [msgspec.json.decode(r[0], type=SessionTurn) for r in rows]
            return session

        return await self.store.read(read)

    async def list(self, limit: int = 20, offset: int = 0) -> tuple[list[Session], int]:
        """Sessions, most recently active first, without their turns."""
        def read(conn: ReadConn) -> tuple[list[Session], int]:
            rows = conn.all(Q.session_page, {"limit": limit, "offset": offset})
            total = conn.one(Q.session_count)
            return [_row_session(r) for r in rows], int(total[0] if total else 0)

        return await self.store.read(read)

    async def continue_(self, session_id: str, request: ContinueRequest,
                        actor: Actor | None = None) -> tuple[Session, SessionTurn]:
        """Generate or refine within the session's context; record the turn.

        A session belongs to the principal that created it: another non-admin principal may
        read it but not add turns to it (403). ``created_by`` never changes, so checking
        before the (slow) model call is enough."""
        session = await self.get(session_id, history=False)
        if (actor is not None and not actor.is_admin and session.created_by is not None
                and session.created_by != actor.name):
            raise Forbidden(f"session {session_id} belongs to another principal; start your "
                            "own with POST /sessions")
        context = {**session.context, **dict(request.context or {})}
        current = dict(request.workflow) if request.workflow is not None else session.workflow
        action = request.action or ("refine" if request.requirements or (
            current is not None and not request.task) else "generate")
        provider = request.provider or session.preferences.get("provider")
        model = request.model or session.preferences.get("model")
        if action == "generate":
            task = request.task or request.message
            if not task or not task.strip():
                raise ValidationFailed("task", "give a task (or a message) to generate a "
                                       "workflow from")
            inputs: dict[str, Any] = {"task": task}
            result = await self.generator.generate(task, context, provider=provider,
                                                   model=model)
        else:
            if current is None:
                raise ValidationFailed("workflow", "this session has no workflow yet: send a "
                                       "task first (or a workflow to refine)")
            requirements = list(request.requirements or ([request.message]
                                                          if request.message else []))
            inputs = {"requirements": requirements}
            result = await self.generator.refine(current, requirements, context,
                                                 provider=provider, model=model)
        if request.context:
            inputs["context"] = dict(request.context)
        if request.workflow is not None:
            inputs["workflow"] = dict(request.workflow)
        return await self._record(session, action, inputs, context, result)

    async def _record(self, seen: Session, action: str, inputs: dict[str, Any],
                      context: dict[str, Any], result: GenerationResult
                      ) -> tuple[Session, SessionTurn]:
        def op(tx: Tx) -> tuple[Session, SessionTurn]:
            session = _load(tx, seen.session_id)
            if session.turns != seen.turns:
                raise Conflict(f"session {seen.session_id} gained turn {session.turns} while "
                               "this one was being generated; continue again on top of it")
            number = session.turns + 1
            metadata = {**result.metadata, "session_id": session.session_id, "turn": number}
            turn = SessionTurn(turn=number, action=action, input=inputs,
                               workflow=result.workflow,
                               validation=result.validation.as_dict(), metadata=metadata,
                               created_at=tx.now)
            session.context = context
            session.workflow = result.workflow
            session.turns = number
            session.updated_at = tx.now
            tx.run(Q.session_turn_insert, {"session_id": session.session_id, "turn": number,
                                           "doc": _encode(turn), "now": tx.now})
            tx.run(Q.session_save, {"session_id": session.session_id, "doc": _doc(session),
                                    "turns": number, "now": tx.now})
            tx.emit("session.continued", {"session_id": session.session_id, "turn": number,
                                          "action": action,
                                          "valid": result.validation.valid})
            return session, turn

        return await self.store.write(op)
