"""Shared decoding helpers for resource modules."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from switchboard.server.client.models import Page, Pagination

T = TypeVar("T")


def convert(data: Any, type_: type[T]) -> T:
    """A decoded JSON value into a Struct (unknown fields ignored, ISO strings -> datetime)."""
    return msgspec.convert(data, type_, strict=False)


def unwrap(body: Any, *keys: str) -> Any:
    """The payload of an envelope: the first of ``keys`` present (``data``, ``task``...)."""
    if isinstance(body, dict):
        for key in keys:
            if key in body:
                return body[key]
    return body


def page_of(body: Any, type_: type[T]) -> Page[T]:
    """Seed 001's ``{"data": [...], "pagination": {...}}`` (or a bare list) as a Page."""
    items = unwrap(body, "data")
    pagination = body.get("pagination") if isinstance(body, dict) else None
    return Page([convert(item, type_) for item in items or []],
                convert(pagination, Pagination) if pagination else None)


class PageEnvelope(msgspec.Struct):
    data: list[Any]
    pagination: Pagination | None = None
