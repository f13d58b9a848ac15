"""The whole product as an operator meets it: ``switchboard up --demo`` in tmux at 80x24.

Walk every screen with keys, approve a task from the inbox, check through the same
process's API that the decision landed, then quit (with its confirmation).
"""

from __future__ import annotations

import asyncio
import getpass
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from switchboard.engine.config import load_config
from switchboard.server.auth import Authenticator

ROOT = Path(__file__).resolve().parents[2]
SECRET = "tmux-e2e-secret-0123456789-abcdefghijklmnop"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux is not installed (.ci/run installs it)")


SOCKET = ""  # the current test's own tmux server (set by private_tmux_server)


@pytest.fixture(autouse=True)
def private_tmux_server() -> Iterator[None]:
    """Each test talks to its own tmux server (``tmux -L``): tests running in parallel never
    share one, nor the operator's own sessions; the server goes when the test ends.

    A fresh socket name per *test*, not per process: ``kill-server`` returns before the old
    server has gone, and the next test's ``new-session`` on the same name could reach the
    dying server and lose its session (the console then never started: an empty log)."""
    global SOCKET
    SOCKET = f"sb-e2e-{uuid.uuid4().hex[:12]}"
    try:
        yield
    finally:
        tmux("kill-server")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True,
                          check=False).stdout


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


async def wait_for(session: str, text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    shown = ""
    while time.monotonic() < deadline:
        shown = screen(session)
        if text in shown:
            return shown
        await asyncio.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; screen:\n{shown}")


async def log_shows(data_dir: Path, line: str, timeout: float = 20.0) -> str:
    """The process's log once it contains ``line`` (failing after ``timeout`` seconds)."""
    log = data_dir / "switchboard.log"
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        if line in text:
            return text
        await asyncio.sleep(0.1)
    raise AssertionError(f"{line!r} never appeared in the log:\n{text[-2000:]}")


async def listening_port(data_dir: Path) -> int:
    """The port ``up --port 0`` bound, from its log ("API listening on ..."): the process
    picks a free one itself, so no other test can take it between a pick and the bind."""
    text = await log_shows(data_dir, "API listening on")
    found = re.search(r"API listening on http://127\.0\.0\.1:(\d+)/", text)
    assert found, text[-2000:]
    return int(found.group(1))


async def test_up_demo_walk_approve_quit(tmp_path: Path) -> None:
    session = f"sb-e2e-{uuid.uuid4().hex[:8]}"
    command = (f"{sys.executable} -m console.cli up --demo --data-dir {tmp_path} "
               f"--port 0; sleep 0.5")
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-c", str(ROOT),
         "-e", f"ORCHESTRATOR_JWT_SECRET={SECRET}", "-e", "TERM=xterm-256color", command)
    auth = Authenticator(load_config(env={"ORCHESTRATOR_JWT_SECRET": SECRET}).auth)
    headers = {"Authorization": f"Bearer {auth.mint('e2e', 'admin')}"}  # admins are not rate limited
    try:
        port = await listening_port(tmp_path)
        base = f"http://127.0.0.1:{port}/api/v1"
        await wait_for(session, "Switchboard ▸ Overview")
        await wait_for(session, "connected")
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.post(f"{base}/tasks", json={
                    "type": "deployment", "priority": "P1",
                    "payload": {"service": "tmux-e2e"}}) as r:
                created = await r.json()
            approval_id = created["task"]["approval_id"]
            # walk every screen
            for key, title in [("2", "Runs"), ("3", "Tasks"), ("4", "Agents"),
                               ("6", "Events"), ("7", "Orchestrations"), ("1", "Overview")]:
                tmux("send-keys", "-t", session, key)
                await wait_for(session, f"Switchboard ▸ {title}")
            # the inbox: find our approval by its id and approve it
            tmux("send-keys", "-t", session, "5")
            await wait_for(session, "Switchboard ▸ Approvals")
            needle = approval_id[-8:]
            for _attempt in range(3):  # the first key after a view switch can race its mount
                tmux("send-keys", "-t", session, "/")
                await asyncio.sleep(0.5)
                tmux("send-keys", "-t", session, "-l", needle)
                try:
                    await wait_for(session, f"filter: {needle}", timeout=5)
                    break
                except AssertionError:
                    tmux("send-keys", "-t", session, "Escape")
                    await asyncio.sleep(0.3)
                    tmux("send-keys", "-t", session, "Escape")
                    tmux("send-keys", "-t", session, "5")
                    await wait_for(session, "Switchboard ▸ Approvals")
            tmux("send-keys", "-t", session, "Enter")
            await wait_for(session, "service=tmux-e2e")
            await asyncio.sleep(0.5)
            assert "Switchboard ▸ Approvals" in screen(session), screen(session)
            tmux("send-keys", "-t", session, "a")
            decided = None
            for _ in range(50):
                async with http.get(f"{base}/approvals/{approval_id}") as r:
                    decided = (await r.json())["approval"]
                if decided["status"] != "pending":
                    break
                await asyncio.sleep(0.2)
            assert decided is not None and decided["status"] == "approved", screen(session)
            assert decided["approved_by"] == getpass.getuser()
            async with http.get(f"{base}/tasks/{created['task_id']}") as r:
                assert (await r.json())["task"]["status"] in ("assigned", "in_progress",
                                                              "completed", "failed")
        # quit: q goes back to the top view, then asks; only ctrl+q confirms
        for _ in range(4):
            if "Quit Switchboard?" in screen(session):
                break
            tmux("send-keys", "-t", session, "q")
            await asyncio.sleep(0.4)
        await wait_for(session, "Quit Switchboard?")
        tmux("send-keys", "-t", session, "C-q")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) != 0:
                    break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the server still listens after quitting")
        # the API closes first, then the engine stops: its last line follows the port's close
        await log_shows(tmp_path, "engine stopped")
    finally:
        tmux("kill-session", "-t", session)
    assert (tmp_path / "switchboard.db").is_file()


async def test_dropped_terminal_stops_up_cleanly(tmp_path: Path) -> None:
    """An SSH session that drops closes the terminal: SIGHUP must stop console, engine and
    server in order (state committed), not leave a headless process behind."""
    session = f"sb-hup-{uuid.uuid4().hex[:8]}"
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-c", str(ROOT),
         "-e", f"ORCHESTRATOR_JWT_SECRET={SECRET}",
         f"{sys.executable} -m console.cli up --demo --data-dir {tmp_path} --port 0")
    try:
        port = await listening_port(tmp_path)
        await wait_for(session, "Switchboard ▸ Overview")
    finally:
        tmux("kill-session", "-t", session)
    text = await log_shows(tmp_path, "engine stopped")
    assert "received SIGHUP" in text
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
