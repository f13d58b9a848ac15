"""``switchboard serve`` as a subprocess on a free port: the start-up path operators use.

For tests that need the server out of the test's own process: the fuzzer (throughput on two
cores), slow-client floods (its own file-descriptor limit), start-up failures (stderr).
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
SECRET = "fuzz-secret-0123456789-abcdefghijklmnopq"
BASE_CONFIG = (
    "[server]\nsync_run_wait_seconds = {sync_wait}\n{server}\n"
    "[rate_limits]\nenabled = false\n"
    "[orchestrations]\nwatch = false\n"
    'dir = "{orchestrations}"\n'
)


def _drain(stream: IO[str]) -> None:
    try:
        for _ in stream:
            pass
    except (OSError, ValueError):  # closed by __exit__
        pass


def cli_env(**extra: str) -> dict[str, str]:
    """This process's environment without Switchboard settings, plus the test secret."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SWITCHBOARD_", "ORCHESTRATOR_"))}
    return env | {"ORCHESTRATOR_JWT_SECRET": SECRET, **extra}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "switchboard.console.cli", *args]


class ServeProcess:
    """A context manager: ``with ServeProcess(dir) as srv: srv.url``.

    ``server`` adds lines to the config's ``[server]`` section; ``config`` appends whole
    sections; ``env`` adds environment variables (``ORCHESTRATOR_API_KEY_*``);
    ``soft_open_files`` starts the child with that soft RLIMIT_NOFILE (the server is
    expected to raise it); ``sync_wait`` is how long a synchronous ``/run`` waits;
    ``orchestrations`` the definitions folder (default: the examples); ``drain`` keeps
    reading stderr after start (a server under load logs more than a pipe holds).
    """

    def __init__(self, data_dir: Path, *, server: str = "", config: str = "",
                 env: dict[str, str] | None = None,
                 soft_open_files: int | None = None, sync_wait: float = 1.0,
                 orchestrations: Path | None = None, drain: bool = False) -> None:
        self.data_dir = data_dir
        self.orchestrations = orchestrations or ROOT / "examples" / "orchestrations"
        self.drain = drain
        self.sync_wait = sync_wait
        self.server = server
        self.config = config
        self.env = dict(env or {})
        self.soft_open_files = soft_open_files
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def _limit(self) -> None:
        if self.soft_open_files is not None:
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.soft_open_files, hard))

    def __enter__(self) -> ServeProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "serve.toml"
        config.write_text(BASE_CONFIG.format(server=self.server, sync_wait=self.sync_wait,
                                             orchestrations=self.orchestrations)
                          + self.config, encoding="utf-8")
        self.proc = subprocess.Popen(
            cli("serve", "--config", str(config), "--data-dir", str(self.data_dir), "--port", "0"),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=cli_env(**self.env),
            cwd=ROOT, preexec_fn=self._limit)
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            match = re.search(r"serving (http://\S+?)/api/v1", line)
            if match:
                self.url = match.group(1)
                if self.drain:  # a busy server logs to stderr: a full pipe would stall it
                    threading.Thread(target=_drain, args=(self.proc.stderr,), daemon=True).start()
                return self
        self.__exit__()
        raise RuntimeError(f"switchboard serve did not start:\n{self.log_text[-3000:]}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.url.removeprefix("http://").rpartition(":")
        return host, int(port)

    @property
    def log_text(self) -> str:
        path = self.data_dir / "switchboard.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
