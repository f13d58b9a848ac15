"""Logging that never draws on the console's terminal.

Why this runs first: a handler created before the Textual app starts keeps the real stderr
and paints over the UI (STYLE.md pitfall 1). So every command configures logging before
anything logs: always a file in the data folder; stderr only for headless commands.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from switchboard.engine.errors import StartupError
from switchboard.server.logfilters import RepeatFilter

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(log_file: Path, level: str = "INFO", *, to_stderr: bool) -> None:
    """Raises StartupError (one line) if the log file cannot be created."""
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=20 * 1024 * 1024, backupCount=3, encoding="utf-8")
    except OSError as exc:
        raise StartupError(f"cannot write the log file {log_file}: {exc.strerror or exc}; choose "
                           "another --data-dir or [logging] file") from None
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    file_handler.setFormatter(logging.Formatter(FORMAT))
    file_handler.addFilter(RepeatFilter())  # a flood of one error is a few lines, not megabytes
    root.addHandler(file_handler)
    if to_stderr:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter(FORMAT))
        stream.addFilter(RepeatFilter())
        root.addHandler(stream)
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.captureWarnings(True)
