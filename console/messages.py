"""Messages the console passes around (dataclasses, as Textual allows)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class LiveUpdate(Message):
    """New engine events arrived. ``kinds`` says what changed (``tasks``, ``approvals``,
    ``agents``, ``runs``, ``events``); ``upto_seq`` is the newest seq delivered.

    Coalesced: a pending update is replaced by a newer one that covers at least its kinds,
    so a screen that is busy repainting handles one update, not a backlog.
    """

    kinds: frozenset[str]
    upto_seq: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LiveUpdate) and self.kinds >= message.kinds


@dataclass
class ApprovalDecided(Message):
    """An approval was decided (here or elsewhere): open forms on it must stop submitting."""

    approval_id: str
    status: str
    decided_by: str | None
