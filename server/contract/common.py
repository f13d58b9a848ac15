"""Pieces every record uses: times on the wire, errors, pagination.

Times are ISO-8601 text exactly as the engine writes it (``engine.clock.iso``:
``2026-01-01T00:00:00.000Z``, always milliseconds and ``Z``). Why ``str`` and not
``datetime``: msgspec would encode a datetime as ``...T00:00:00Z`` (no milliseconds) or with
six digits, which changes the bytes the seeds' clients read; carrying the text keeps the
wire identical and costs nothing. ``parse_time`` turns it into an aware datetime.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import msgspec

Time = Annotated[str, msgspec.Meta(
    extra_json_schema={"format": "date-time", "examples": ["2026-01-01T00:00:00.000Z"]},
    description="ISO-8601, UTC, milliseconds")]
"""An instant on the wire."""


def parse_time(text: str | None) -> datetime | None:
    """``2026-01-01T00:00:00.000Z`` -> an aware UTC datetime (None stays None)."""
    if text is None:
        return None
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Record(msgspec.Struct):
    """Base of every wire record. Each declares ``kw_only=True`` (msgspec does not inherit
    it): the JSON key order follows the seeds, with required fields after optional ones.
    Unknown fields are ignored when decoding, so a newer server never breaks an older
    client."""


class ErrorDetail(Record, kw_only=True):
    """Every error body: ``{"detail": "..."}`` (500s add ``request_id``; a 400 for one
    input adds ``field``, the input it names)."""

    detail: str
    request_id: str | msgspec.UnsetType = msgspec.UNSET
    field: str | msgspec.UnsetType = msgspec.UNSET


class Pagination(Record, kw_only=True):
    """Seed 001's pagination block: ``pages`` is 0 for an empty list."""

    page: int = 1
    limit: int = 20
    total: int = 0
    pages: int = 0


class Message(Record, kw_only=True):
    """A plain acknowledgement: ``{"success": true, "message": "..."}``."""

    success: bool = True
    message: str = ""
