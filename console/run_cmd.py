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

import aiohttp


async def sse_events(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(event name, data) pairs from a text/event-stream response."""
    name: str | None = None
    data: list[str] = []
    async for raw in resp.content:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if name is not None and data:
                yield name, json.loads("\n".join(data))
            name, data = None, []
        elif line.startswith(":"):
            continue
        else:
            key, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if key == "event":
                name = value
            elif key == "data":
                data.append(value)


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
    base = url.rstrip("/")
    if not base.endswith("/api/v1"):
        base += "/api/v1"
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        request = session.post(f"{base}/orchestrations/{orchestration}/run/stream",
                               json={"message": message})
        run_id: str | None = None
        last_gate: dict[str, Any] | None = None
        while True:
            async with request as resp:
                if resp.status >= 400:
                    detail = (await resp.json()).get("detail", resp.reason)
                    print(f"switchboard: {resp.status}: {detail}", file=sys.stderr)
                    if resp.status == 422 and last_gate is not None and interactive:
                        request = session.post(
                            f"{base}/orchestrations/runs/{run_id}/resume/stream",
                            json={"response": ask_fields(last_gate, ask, out)})
                        continue
                    return 2
                gate: dict[str, Any] | None = None
                final: str | None = None
                async for name, data in sse_events(resp):
                    run_id = data.get("run_id", run_id)
                    line = describe(name, data)
                    if line:
                        print(line, file=out, flush=True)
                    if name == "human_input_required":
                        gate = data
                    elif name == "orchestration_complete":
                        final = "completed"
                    elif name == "orchestration_error":
                        final = "failed"
            if final == "completed":
                return 0
            if final == "failed" or gate is None:
                return 1
            last_gate = gate
            response = dict(answers) if answers else None
            if response is None:
                if not interactive:
                    print(f"paused at {gate.get('step_id')}; resume with "
                          f"POST {base}/orchestrations/runs/{run_id}/resume", file=out)
                    return 3
                response = ask_fields(gate, ask, out)
            request = session.post(f"{base}/orchestrations/runs/{run_id}/resume/stream",
                                   json={"response": response})
            answers = {}
