"""What the client returns besides the wire contract's records: two client-side shapes.

Why no models of its own: the server encodes ``server.contract`` Structs and the client
decodes into the very same types (``Task``, ``Agent``, ``Approval``, ``Run``...), so the two
can never disagree about a field. Unknown fields are ignored when decoding, so a newer
server never breaks an older client. Times are the wire's ISO text
(``contract.parse_time`` gives a datetime).

Client-side only: ``Page`` (a list of records that also carries seed 001's pagination)
and ``RunEvent`` (one frame of a run's SSE stream, with the seq it can resume after).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from switchboard.server.contract import Pagination

T = TypeVar("T")


class Page(list[T], Generic[T]):
    """A page of results: a plain list (``len(agents)`` as seed 001 does) plus ``pagination``."""

    def __init__(self, items: list[T], pagination: Pagination | None = None) -> None:
        super().__init__(items)
        self.pagination = pagination or Pagination(total=len(items), limit=len(items))

    @property
    def total(self) -> int:
        return self.pagination.total


class RunEvent(msgspec.Struct, kw_only=True):
    """One event of a run's stream, named as seed 000 names them.

    ``event`` is step_start, step_complete, agent_turn, tool_execution, tool_result,
    human_input_required, orchestration_complete, orchestration_error or done (and the
    engine's own names for anything seed 000 does not list); ``data`` is the frame's JSON
    (``contract.RunStreamFrame`` documents it). ``seq`` is set when the event came from the
    durable bus (it is where a resumed stream continues).
    """

    event: str
    data: dict[str, Any] = {}
    seq: int | None = None
    run_id: str | None = None


__all__ = ["Page", "RunEvent"]
