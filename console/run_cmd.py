"""``switchboard run ORCH --message ...``: start a run on a server and follow it in the shell.

Prints seed 000's stream as it goes; at a human gate it asks for each field on the terminal
(or takes ``--answer key=value`` pairs, for scripts) and resumes. Exit status: 0 completed,
1 failed or cancelled, 3 paused with no way to answer (no terminal and no --answer).
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any, TextIO

from switchboard.server.sdk.client import AsyncClient, RetryPolicy
from switchboard.server.sdk.client.errors import ApiError, InvalidRequest
from switchboard.server.sdk.client.models import RunEvent


def describe(name: str, data: dict[str, Any]) -> str | None:
    """One human line per event (None to stay quiet)."""
    if name == "step_start":
        return f"▶ {data.get('step_name') or data.get('step_id')} ({data.get('type')})"
    if name == "step_complete":
        mark = "✓" if data.get("status") == "completed" else "✗"
        extra = f" — {data['error']}" if data.get("error") else ""
        return f"{mark} {data.get('step_name') or data.get('step_id')}{extra}"
    if name == "agent_turn":
        text = (data.get("text") or "").strip().splitlines()
        return f"  · turn {data.get('turn')}: {text[0][:100] if text else '(tool calls)'}"
    if name == "tool_execution":
        return f"  → {data.get('tool_name')} {json.dumps(data.get('args'))[:100]}"
    if name == "tool_result":
        return f"  ← {data.get('tool_name')}: {(data.get('preview') or '')[:100]}"
    if name == "orchestration_complete":
        return f"completed: {data.get('response') or ''}"
    if name == "orchestration_error":
        return f"failed: {data.get('error')}"
    return None


def parse_answers(pairs: list[str]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--answer {pair!r} must look like key=value")
        answers[key] = value
    return answers


def ask_fields(gate: dict[str, Any], ask: Callable[[str], str], out: TextIO) -> dict[str, Any]:
    """Ask for each field on the terminal, showing the agent context and the choices."""
    print(f"\n⏸ {gate.get('prompt')}", file=out)
    if gate.get("agent_context"):
        print(f"\n{gate['agent_context']}\n", file=out)
    answers: dict[str, Any] = {}
    for field in gate.get("fields", []):
        label = field.get("label") or field["name"]
        choices = field.get("choices") or []
        hint = f" [{'/'.join(choices)}]" if choices else ""
        if field.get("type") == "boolean":
            hint = " [yes/no]"
        star = "*" if field.get("required") else ""
        value = ask(f"{label}{star}{hint}: ").strip()
        if value:
            answers[field["name"]] = value
    return answers


async def run_command(url: str, token: str, orchestration: str, message: str | None,
                      answers: dict[str, Any], *, interactive: bool, out: TextIO = sys.stdout,
                      ask: Callable[[str], str] = input) -> int:
    """Follow the run through the SDK's streams (``run_stream``, then ``resume_stream`` at
    each gate): they read the POST's SSE answer and, if the connection drops, continue on
    the run's resumable stream after the last seq seen."""
    async with AsyncClient(url, token=token, retry=RetryPolicy(max_retries=0)) as client:
        stream: AsyncIterator[RunEvent] = client.orchestrations.run_stream(orchestration, message)
        run_id: str | None = None
        last_gate: dict[str, Any] | None = None
        while True:
            gate: dict[str, Any] | None = None
            final: str | None = None
            try:
                async for item in stream:
                    run_id = item.run_id or run_id
                    line = describe(item.event, item.data)
                    if line:
                        print(line, file=out, flush=True)
                    if item.event == "human_input_required":
                        gate = item.data
                    elif item.event == "orchestration_complete":
                        final = "completed"
                    elif item.event == "orchestration_error":
                        final = "failed"
            except ApiError as exc:
                print(f"switchboard: {exc.status}: {exc.detail}", file=sys.stderr)
                if isinstance(exc, InvalidRequest) and last_gate is not None and interactive \
                        and run_id is not None:
                    stream = client.runs.resume_stream(run_id, ask_fields(last_gate, ask, out))
                    continue
                return 2
            if final == "completed":
                return 0
            if final == "failed" or gate is None or run_id is None:
                return 1
            last_gate = gate
            response = dict(answers) if answers else None
            if response is None:
                if not interactive:
                    print(f"paused at {gate.get('step_id')}; resume with "
                          f"POST {client.base_url}/orchestrations/runs/{run_id}/resume", file=out)
                    return 3
                response = ask_fields(gate, ask, out)
            stream = client.runs.resume_stream(run_id, response)
            answers = {}
