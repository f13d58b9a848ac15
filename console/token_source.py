"""Where ``attach`` and ``run`` get their credential, without it ever being on a command line.

Why: ``--token T`` puts the token in the process's arguments, which every user of the
machine can read with ``ps`` for as long as the console runs (issue 11). The order is:
``--token-file PATH`` (first line, permissions checked), then ``$SWITCHBOARD_TOKEN``, then
``--token`` (still accepted for scripts, with a warning), then a hidden prompt when a person
is at the terminal.
"""

from __future__ import annotations

import getpass
import os
import stat
import sys
from pathlib import Path


class TokenSourceError(Exception):
    """No usable credential; the message says what to do."""


def read_token_file(path: Path) -> str:
    """The first line of ``path``; refuses a file other users may read."""
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TokenSourceError(f"--token-file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TokenSourceError(f"--token-file {path}: not UTF-8 text") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TokenSourceError(f"--token-file {path}: other users can read it; "
                               f"run: chmod 600 {path}")
    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not token:
        raise TokenSourceError(f"--token-file {path}: the file is empty")
    return token


def resolve_token(command: str, *, token: str | None, token_file: Path | None,
                  interactive: bool | None = None) -> str:
    """The credential for ``command`` (``attach`` or ``run``), or TokenSourceError."""
    if token_file is not None:
        return read_token_file(token_file)
    from_env = os.environ.get("SWITCHBOARD_TOKEN", "").strip()
    if from_env:
        return from_env
    if token:
        print(f"switchboard {command}: warning: --token is visible to every user of this "
              "machine (ps); prefer --token-file or $SWITCHBOARD_TOKEN", file=sys.stderr)
        return token
    if interactive is None:
        interactive = sys.stdin.isatty()
    if interactive:
        entered = getpass.getpass(f"switchboard {command}: token (JWT or API key): ").strip()
        if entered:
            return entered
    raise TokenSourceError(f"{command} needs a token: --token-file PATH, $SWITCHBOARD_TOKEN, "
                           "or type it at the prompt")


def token_from_entry(entry: str) -> str:
    """What the console's "log in again" prompt accepts: a token, ``@PATH`` (read like
    ``--token-file``), ``$NAME`` (an environment variable), or nothing for
    ``$SWITCHBOARD_TOKEN``."""
    text = entry.strip()
    if text.startswith("@"):
        return read_token_file(Path(text[1:]).expanduser())
    if not text or text.startswith("$"):
        name = text[1:] or "SWITCHBOARD_TOKEN"
        value = os.environ.get(name, "").strip()
        if not value:
            raise TokenSourceError(f"${name} is not set")
        return value
    return text
