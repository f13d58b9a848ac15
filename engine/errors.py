"""Domain errors. Each carries a ``detail`` written for the person who made the request.

The server maps them to status codes (NotFound 404, Conflict 409, ValidationFailed 400,
Forbidden 403, StorageFailure 507/503); the console shows ``detail`` as it is.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""

    status = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(EngineError):
    """No such task, agent, approval, run or orchestration."""

    status = 404


class Conflict(EngineError):
    """The request is valid but the object's current state forbids it (e.g. decided twice)."""

    status = 409


class ValidationFailed(EngineError):
    """A value is wrong; ``field`` names where (``priority``, ``schedule.at``, ``fields.notes``).
    400, as the seeds' status tables say for invalid input."""

    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Forbidden(EngineError):
    """The caller may not do this (e.g. not among a gate's allowed roles)."""

    status = 403


class StorageFailure(EngineError):
    """The store could not do its job: the disk is full (507), or the database is read-only,
    failing with I/O errors or damaged (503). ``kind`` is ``full``, ``readonly``, ``io`` or
    ``corrupt``; ``detail`` says where and what the operator can do. Nothing the failed
    write changed was kept."""

    status = 503

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        if kind == "full":
            self.status = 507


class StartupError(Exception):
    """The process cannot start for a reason the operator can fix (an unreadable or foreign
    database file, a schema from a newer version, a damaged database, a data folder that
    cannot be created). The message is one line naming the path and the fix; the CLI prints
    it without a traceback."""
