"""``switchboard run``: follow a run from the shell, answer its gate, against a real server."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from switchboard.console.run_cmd import run_command
from tests.server.conftest import start_live_api

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def live(tmp_path: Path) -> Any:
    api, runner = await start_live_api(
        tmp_path, orchestrations={"dir": str(ROOT / "examples/orchestrations"), "watch": False})
    try:
        yield api
    finally:
        await runner.cleanup()
        await api.engine.stop()


async def test_interactive_gate_reasks_after_invalid_answer(live: Any) -> None:
    replies = iter(["maybe", "", "approve", "looks good"])
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return next(replies)

    out = io.StringIO()
    # an operator's key: the example's gate admits admins and users, starting a run needs agent
    code = await run_command(live.root, live.token("admin"), "orch-research-report", "LLM ops",
                             {}, interactive=True, out=out, ask=ask)
    assert code == 0
    text = out.getvalue()
    assert "▶ Research (agent)" in text and "⏸ Please review the draft article" in text
    assert "completed: Research and report generation complete." in text
    assert prompts[0] == "Decision* [approve/reject]: "


async def test_answers_from_flags_and_exit_codes(live: Any) -> None:
    out = io.StringIO()
    code = await run_command(live.base, live.token("agent"), "orch-research-report", "x",
                             {}, interactive=False, out=out)
    assert code == 3 and "resume with POST" in out.getvalue()
    code = await run_command(live.base, live.token("agent"), "orch-nope", "x", {},
                             interactive=False, out=io.StringIO())
    assert code == 2


async def test_cli_subprocess_with_answer_flag(live: Any) -> None:
    env = {**os.environ, "SWITCHBOARD_TOKEN": live.token("admin")}  # answers an admin/user gate
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard.console.cli", "run", "orch-research-report", "--message", "x",
        "--url", live.root, "--answer", "decision=approve", "--answer", "notes=ok",
        cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr.decode()
    assert "completed:" in stdout.decode()


async def test_cli_reads_the_token_from_a_file_never_from_argv(live: Any, tmp_path: Path) -> None:
    """Issue 11: ``--token T`` showed the token to every user in ps. A mode-600 file (or
    $SWITCHBOARD_TOKEN, or a prompt) keeps it out of the process's arguments."""
    token = live.token("admin")
    secret_file = tmp_path / "token"
    secret_file.write_text(token + "\n")
    secret_file.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k != "SWITCHBOARD_TOKEN"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard.console.cli", "run", "orch-research-report",
        "--message", "x", "--url", live.root, "--token-file", str(secret_file),
        "--answer", "decision=approve", "--answer", "notes=ok",
        cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    argv = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert token.encode() not in argv
    assert proc.returncode == 0, stderr.decode()
    assert "completed:" in stdout.decode() and "warning" not in stderr.decode()


def test_token_sources_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    from switchboard.console.token_source import TokenSourceError, resolve_token

    monkeypatch.delenv("SWITCHBOARD_TOKEN", raising=False)
    loose = tmp_path / "loose"
    loose.write_text("abc\n")
    loose.chmod(0o644)
    with pytest.raises(TokenSourceError, match="chmod 600"):
        resolve_token("run", token=None, token_file=loose)
    loose.chmod(0o600)
    assert resolve_token("run", token="argv", token_file=loose) == "abc"
    monkeypatch.setenv("SWITCHBOARD_TOKEN", "from-env")
    assert resolve_token("run", token="argv", token_file=None) == "from-env"
    monkeypatch.delenv("SWITCHBOARD_TOKEN")
    assert resolve_token("attach", token="argv", token_file=None) == "argv"
    assert "visible to every user" in capsys.readouterr().err
    with pytest.raises(TokenSourceError, match="--token-file PATH, \\$SWITCHBOARD_TOKEN"):
        resolve_token("attach", token=None, token_file=None, interactive=False)
    monkeypatch.setattr("getpass.getpass", lambda prompt: "typed\n")
    assert resolve_token("attach", token=None, token_file=None, interactive=True) == "typed"
