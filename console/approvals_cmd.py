"""``switchboard approvals approve|reject --filter '...' [--yes]``: bulk decisions from the shell.

The same plan, table and per-item results as the console's bulk decision (``console.bulk``),
over a server through the SDK (``RemoteBackend``, the console's attach mode), so the shell
and the console select and decide exactly the same approvals with the same words.

Without ``--yes`` it asks for the number of approvals to be decided to be typed (on a
terminal only: with no terminal and no ``--yes`` it refuses, status 2). Exit status: 0 every
approval got our decision (a quorum vote counts), 1 some were refused or skipped (or the
confirmation was not given), 2 bad usage (an unknown filter key, no token, no terminal).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from switchboard.console.approval_words import FilterError, select
from switchboard.console.backend import BackendError
from switchboard.console.bulk import (
    Action,
    Outcome,
    execute,
    make_plan,
    render_table,
    summary_line,
    tally,
)
from switchboard.console.remote import RemoteBackend

EXIT_DONE, EXIT_SOME_REFUSED, EXIT_USAGE = 0, 1, 2


async def bulk_command(url: str, token: str, action: Action, filter_text: str, *,
                       reason: str | None = None, yes: bool = False, mine: bool = False,
                       interactive: bool = False, out: TextIO = sys.stdout,
                       err: TextIO = sys.stderr, ask: Callable[[str], str] = input,
                       width: int = 120) -> int:
    """Select, show the plan, confirm, decide each, print each result; the exit status."""
    if action == "reject" and not (reason or "").strip():
        print("switchboard approvals reject: --reason is required (it is recorded and shown "
              "to whoever asked)", file=err)
        return EXIT_USAGE
    backend = RemoteBackend(url, token, timeout=30.0)
    try:
        try:
            pending = await backend.pending_approvals(mine=mine)
            chosen = select(pending, filter_text, strict=True)
        except FilterError as exc:
            print(f"switchboard approvals: --filter: {exc}", file=err)
            return EXIT_USAGE
        except BackendError as exc:
            print(f"switchboard approvals: {exc.detail}", file=err)
            return EXIT_USAGE if exc.status in (400, 401, 403, 422) else EXIT_SOME_REFUSED
        if not chosen:
            print(f"no pending approvals match {filter_text!r}", file=out)
            return EXIT_DONE
        plan = make_plan(chosen, action)
        print(render_table(plan, width), file=out)
        print(summary_line(plan), file=out, flush=True)
        if plan.count == 0:
            print("nothing to do", file=out)
            return EXIT_SOME_REFUSED
        if not yes:
            if not interactive:
                print("switchboard approvals: no terminal to confirm on; pass --yes",
                      file=err)
                return EXIT_USAGE
            typed = ask(f"Type {plan.count} to {plan.verb} {plan.count} approval"
                        f"{'s' if plan.count > 1 else ''}: ").strip()
            if typed != str(plan.count):
                print("not confirmed: nothing decided", file=out)
                return EXIT_SOME_REFUSED

        def show(outcome: Outcome) -> None:
            print(f"{outcome.approval_id}  {outcome.words}", file=out, flush=True)

        if action == "approve":
            outcomes = await execute(plan, lambda aid: backend.approve(aid), show)
        else:
            outcomes = await execute(plan, lambda aid: backend.reject(aid, reason=reason),
                                     show)
        print(tally(outcomes), file=out)
        return EXIT_DONE if all(o.decided for o in outcomes) else EXIT_SOME_REFUSED
    finally:
        await backend.close()
