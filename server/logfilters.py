"""Logging filters that keep a flood from becoming a flood of log lines.

Why: under 1,000 slow or malformed connections the server once wrote 6.8k tracebacks (3.1 MB
of log) in 7 seconds: the disk fills, the one line that matters scrolls away, and writing the
log becomes the bottleneck. Two filters:

- ``ClientErrorFilter`` (on the ``aiohttp.server`` logger): a request aiohttp could not parse
  (a request line or header over the limit, bad framing) is the client's mistake; aiohttp
  answers it 400 and logs it with a traceback at ERROR. It becomes one INFO line with the
  client address and the reason, and no traceback.
- ``RepeatFilter`` (on each handler, see ``console.logsetup``): after ``burst`` records of one
  kind (logger, level, message template, exception type) within ``window`` seconds, the rest
  of that window is dropped; the next one that passes says how many were dropped.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

from switchboard.server.parse_errors import reason_of


class ClientErrorFilter(logging.Filter):
    """Turns aiohttp's tracebacks for unparseable requests into one INFO line each."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            # by kind only: aiohttp's message repeats request bytes (an over-long
            # Authorization header's are a credential's)
            reason = reason_of(exc)
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "bad request from %s answered %s: %s"
            record.args = (remote, exc.code, reason)
            record.exc_info = None
            record.exc_text = None
            record.levelno = logging.INFO
            record.levelname = logging.getLevelName(logging.INFO)
        return True


def install_client_error_filter(logger_name: str = "aiohttp.server") -> None:
    """Add ``ClientErrorFilter`` to the logger once (idempotent)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, ClientErrorFilter) for f in logger.filters):
        logger.addFilter(ClientErrorFilter())


class RepeatFilter(logging.Filter):
    """At most ``burst`` records of one kind per ``window`` seconds (WARNING and above)."""

    def __init__(self, burst: int = 10, window: float = 60.0, *,
                 clock: Callable[[], float] = time.monotonic, max_kinds: int = 1024) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self.clock = clock
        self.max_kinds = max_kinds
        # kind -> [window start, records in window, dropped in window]
        self._seen: dict[tuple[Any, ...], list[Any]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        exc_type = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        kind = (record.name, record.levelno, str(record.msg), exc_type)
        now = self.clock()
        entry = self._seen.get(kind)
        if entry is None or now - entry[0] >= self.window:
            dropped = entry[2] if entry is not None else 0
            if len(self._seen) >= self.max_kinds:
                self._seen.clear()
            self._seen[kind] = [now, 1, 0]
            if dropped:
                record.msg = f"{record.msg} [{dropped} more like this dropped in the last " \
                             f"{self.window:g} s]"
            return True
        entry[1] += 1
        if entry[1] <= self.burst:
            return True
        entry[2] += 1
        return False


class QueryTokenFilter(logging.Filter):
    """Blanks ``token=`` query values in access-log lines (an approval action link carries
    its single-use token in the URL it is opened with); nothing else in a URL is a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_TOKEN_QUERY.sub(r"\1<redacted>", a) if isinstance(a, str) else a
                                for a in record.args)
        if isinstance(record.msg, str):
            record.msg = _TOKEN_QUERY.sub(r"\1<redacted>", record.msg)
        return True


_TOKEN_QUERY = re.compile(r"([?&]token=)[^&\s\"]+")


def install_query_token_filter(logger_name: str = "aiohttp.access") -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, QueryTokenFilter) for f in logger.filters):
        logger.addFilter(QueryTokenFilter())

