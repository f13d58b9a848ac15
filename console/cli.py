"""The ``switchboard`` command.

``serve``, ``token``, ``run``, ``validate``, ``worker``, ``audit`` and ``approvals`` never
import Textual (fast start on headless hosts); ``up`` and ``attach`` import the console only when they run.
A broken config or definition is reported as file, key and reason, never a stack trace.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import cyclopts

from switchboard.console.db_cmd import db_app
from switchboard.engine.config import Config, ConfigError, load_config
from switchboard.engine.errors import StartupError

app = cyclopts.App(
    name="switchboard",
    help="Operator console for agent orchestration: engine, HTTP API and terminal console.",
    version_flags=["--version"],
)

ConfigOpt = Annotated[Path | None, cyclopts.Parameter(name="--config", help="TOML config file.")]
HostOpt = Annotated[str | None, cyclopts.Parameter(name="--host", help="Interface to bind.")]
PortOpt = Annotated[int | None, cyclopts.Parameter(name="--port", help="Port (0 = any free).")]
DataOpt = Annotated[Path | None, cyclopts.Parameter(name="--data-dir",
                                                    help="Folder for the database and logs.")]
OrchOpt = Annotated[Path | None, cyclopts.Parameter(name="--orchestrations",
                                                    help="Folder of orchestration definitions.")]
StoreOpt = Annotated[str | None, cyclopts.Parameter(
    name="--store", help="Store URL: sqlite:///path/to.db or postgresql://user@host:5432/db "
                         "([storage] url; default: SQLite in the data folder).")]
CheckDbOpt = Annotated[bool, cyclopts.Parameter(
    name="--check-db", help="Full integrity_check of the database at start (default: quick).")]


def _fail(message: str, code: int = 2) -> None:
    print(f"switchboard: {message}", file=sys.stderr)
    raise SystemExit(code)


def _config(config: Path | None, host: str | None = None, port: int | None = None,
            data_dir: Path | None = None, orchestrations: Path | None = None,
            store: str | None = None) -> Config:
    overrides: dict[str, dict[str, Any]] = {"server": {}, "storage": {}, "orchestrations": {}}
    if host is not None:
        overrides["server"]["host"] = host
    if port is not None:
        overrides["server"]["port"] = port
    if data_dir is not None:
        overrides["storage"]["data_dir"] = str(data_dir)
    if orchestrations is not None:
        overrides["orchestrations"]["dir"] = str(orchestrations)
    if store is not None:
        overrides["storage"]["url"] = store
    path = config or (Path(os.environ["SWITCHBOARD_CONFIG"])
                      if os.environ.get("SWITCHBOARD_CONFIG") else None)
    try:
        return load_config(path, overrides)
    except ConfigError as exc:
        _fail(f"config error: {exc.source}: {exc.key}: {exc.reason}")
        raise  # unreachable


def _demo_config(config: Config, demo: bool) -> Config:
    """The demo runs without setup: a random per-process JWT secret if none is set, and the
    example orchestrations shipped with Switchboard if the configured folder is missing.
    (``Runtime(demo=True)`` adds the rest: see ``console.demo.prepare_demo_config``.)"""
    if not demo:
        return config
    if not config.auth.jwt_secret:
        import secrets

        config.auth.jwt_secret = secrets.token_urlsafe(48)
    if not Path(config.orchestrations.dir).is_dir():
        shipped = Path(__file__).resolve().parents[1] / "examples" / "orchestrations"
        if shipped.is_dir():
            config.orchestrations.dir = str(shipped)
    return config


@app.command
def serve(*, config: ConfigOpt = None, host: HostOpt = None, port: PortOpt = None,
          data_dir: DataOpt = None, orchestrations: OrchOpt = None,
          demo: Annotated[bool, cyclopts.Parameter(help="Seed simulated agents and tasks.")] = False,
          check_db: CheckDbOpt = False, store: StoreOpt = None) -> None:
    """Run the engine and the HTTP API, headless. Stops cleanly on SIGINT/SIGTERM/SIGHUP."""
    cfg = _demo_config(_config(config, host, port, data_dir, orchestrations, store), demo)
    if check_db:
        cfg.storage.startup_check = "full"
    from switchboard.console.logsetup import configure_logging

    configure_logging(cfg.log_path, cfg.logging.level, to_stderr=True)
    asyncio.run(_serve(cfg, demo))


async def _serve(cfg: Config, demo: bool) -> None:
    from switchboard.console.runtime import Runtime
    from switchboard.console.signals import on_signals
    from switchboard.server.auth import AuthSetupError

    stop = asyncio.Event()
    on_signals((signal.SIGINT, signal.SIGTERM, signal.SIGHUP), lambda _sig: stop.set())
    try:
        runtime = Runtime(cfg, demo=demo)
        await runtime.start()
    except AuthSetupError as exc:
        _fail(f"auth setup: {exc}")
    except OSError as exc:
        _fail(f"cannot listen on {cfg.server.host}:{cfg.server.port}: {exc.strerror or exc}")
    print(f"switchboard: serving {runtime.address} (data in {cfg.data_path.resolve()})",
          file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        await runtime.stop()


@app.command
def up(*, config: ConfigOpt = None, host: HostOpt = None, port: PortOpt = None,
       data_dir: DataOpt = None, orchestrations: OrchOpt = None,
       demo: Annotated[bool, cyclopts.Parameter(help="Seed simulated agents and tasks.")] = False,
       headless: Annotated[bool, cyclopts.Parameter(help="Same as `serve`.")] = False,
       read_only: Annotated[bool, cyclopts.Parameter(help="Hide and refuse every action.")] = False,
       check_db: CheckDbOpt = False, store: StoreOpt = None) -> None:
    """Engine + HTTP API + the operator console, in one process."""
    if headless:
        serve(config=config, host=host, port=port, data_dir=data_dir,
              orchestrations=orchestrations, demo=demo, check_db=check_db, store=store)
        return
    cfg = _demo_config(_config(config, host, port, data_dir, orchestrations, store), demo)
    if check_db:
        cfg.storage.startup_check = "full"
    from switchboard.console.logsetup import configure_logging

    configure_logging(cfg.log_path, cfg.logging.level, to_stderr=False)
    from switchboard.console.main import run_up

    code = asyncio.run(run_up(cfg, demo=demo, read_only=read_only or cfg.console.read_only))
    raise SystemExit(code or 0)


TokenOpt = Annotated[str | None, cyclopts.Parameter(
    help="JWT or API key; visible to every user in ps: prefer --token-file or "
         "$SWITCHBOARD_TOKEN.")]
TokenFileOpt = Annotated[Path | None, cyclopts.Parameter(
    help="Read the token from this file's first line (mode 600).")]


def _token(command: str, token: str | None, token_file: Path | None) -> str:
    from switchboard.console.token_source import TokenSourceError, resolve_token

    try:
        return resolve_token(command, token=token, token_file=token_file)
    except TokenSourceError as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits


@app.command
def attach(url: str, *, token: TokenOpt = None, token_file: TokenFileOpt = None,
           read_only: bool = False, config: ConfigOpt = None) -> None:
    """The console against a remote Switchboard server (URL like http://host:8000).

    The token comes from --token-file, $SWITCHBOARD_TOKEN or a hidden prompt (--token
    works but shows it to every user in ps)."""
    cfg = _config(config)
    secret = _token("attach", token, token_file)
    from switchboard.console.logsetup import configure_logging

    configure_logging(cfg.log_path, cfg.logging.level, to_stderr=False)
    from switchboard.console.main import run_attach

    code = asyncio.run(run_attach(cfg, url, secret or "", read_only=read_only))
    raise SystemExit(code or 0)


@app.command
def token(*, sub: Annotated[str, cyclopts.Parameter(help="Subject (user or agent id).")] = "admin",
          role: Annotated[str, cyclopts.Parameter(help="admin, agent or user.")] = "admin",
          ttl: Annotated[int | None, cyclopts.Parameter(help="Lifetime in seconds.")] = None,
          config: ConfigOpt = None) -> None:
    """Mint a JWT locally from the configured secret (ORCHESTRATOR_JWT_SECRET)."""
    cfg = _config(config)
    from switchboard.server.auth import Authenticator, AuthSetupError

    if role not in ("admin", "agent", "user"):
        _fail("--role must be admin, agent or user")
    try:
        print(Authenticator(cfg.auth).mint(sub, role, ttl_seconds=ttl))  # type: ignore[arg-type]
    except AuthSetupError as exc:
        _fail(f"auth setup: {exc}")


@app.command
def run(orchestration: str, *,
        message: Annotated[str | None, cyclopts.Parameter(help="The run's input.")] = None,
        url: Annotated[str, cyclopts.Parameter(help="Server URL.")] = "http://127.0.0.1:8000",
        token: TokenOpt = None, token_file: TokenFileOpt = None,
        answer: Annotated[list[str] | None, cyclopts.Parameter(
            help="Gate answers as key=value (repeatable); otherwise asked on the terminal.",
            consume_multiple=False)] = None) -> None:
    """Start an orchestration run on a server and follow it; answer gates on the terminal."""
    from switchboard.console.run_cmd import parse_answers, run_command

    secret = _token("run", token, token_file)
    try:
        answers = parse_answers(answer or [])
    except ValueError as exc:
        _fail(str(exc))
        return
    code = asyncio.run(run_command(url, secret or "", orchestration, message, answers,
                                   interactive=sys.stdin.isatty()))
    raise SystemExit(code)


@app.command
def validate(path: Path | None = None, *, config: ConfigOpt = None) -> None:
    """Check orchestration definition files (a file or a folder); exit 1 on any problem."""
    cfg = _config(config)
    target = path or Path(cfg.orchestrations.dir)
    from switchboard.engine.orchestrations.loader import validate_path

    good, problems = validate_path(target)
    for orch in good:
        print(f"ok  {orch.id}  ({len(orch.steps)} steps)")
    for problem in problems:
        print(str(problem))
    print(f"{len(good)} valid orchestration(s), {len(problems)} problem(s)", file=sys.stderr)
    raise SystemExit(1 if problems else 0)


@app.command
def worker(handler: str, *,
           type: Annotated[str, cyclopts.Parameter(name="--type",
                                                   help="Agent type, e.g. dev_agent.")],
           url: Annotated[str, cyclopts.Parameter(help="Server URL.")] = "http://127.0.0.1:8000",
           token: Annotated[str | None, cyclopts.Parameter(
               help="JWT or API key (better: $SWITCHBOARD_TOKEN).")] = None,
           concurrency: Annotated[int, cyclopts.Parameter(help="Tasks at once.")] = 1,
           agent_id: Annotated[str | None, cyclopts.Parameter(
               help="Reuse this agent id (kept across restarts).")] = None,
           name: Annotated[str | None, cyclopts.Parameter(help="Agent name.")] = None,
           http_only: Annotated[bool, cyclopts.Parameter(
               help="Claim by HTTP long-poll instead of the WebSocket.")] = False,
           log_level: str = "INFO") -> None:
    """Run an agent worker: HANDLER is MODULE:FUNCTION or path/to/file.py:FUNCTION."""
    from switchboard.server.sdk.worker_cli import worker_main

    raise SystemExit(worker_main(handler, agent_type=type, url=url, token=token,
                                 concurrency=concurrency, agent_id=agent_id, name=name,
                                 http_only=http_only, log_level=log_level))


audit = cyclopts.App(name="audit", help="Export or verify the tamper-evident audit log "
                     "(reads the database directly, read-only; safe while a server runs).")
app.command(audit)


@audit.command(name="export")
def audit_export(*, format: Annotated[Literal["jsonl", "csv"], cyclopts.Parameter(
                     name="--format", help="jsonl (one JSON object a line) or csv.")] = "jsonl",
                 since: Annotated[str | None, cyclopts.Parameter(
                     help="Rows at or after this ISO-8601 time.")] = None,
                 until: Annotated[str | None, cyclopts.Parameter(
                     help="Rows before this ISO-8601 time.")] = None,
                 output: Annotated[Path | None, cyclopts.Parameter(
                     help="Write to this file (default: stdout).")] = None,
                 config: ConfigOpt = None, data_dir: DataOpt = None) -> None:
    """Write the audit log as JSON lines or CSV (header row; before/after as JSON text)."""
    from switchboard.console import audit_cmd
    from switchboard.engine.clock import parse_iso

    window: dict[str, float | None] = {}
    for name, text in (("since", since), ("until", until)):
        try:
            window[name] = parse_iso(text) if text else None
        except ValueError:
            _fail(f"--{name} must be an ISO-8601 time like 2026-01-01T00:00:00Z, got {text!r}")
    db_path = _config(config, data_dir=data_dir).db_path
    try:
        count = audit_cmd.export(db_path, format, output=output, **window)
    except audit_cmd.AuditCommandError as exc:
        _fail(str(exc))
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0) from None
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror or exc}")
    else:
        if output is not None:
            print(f"switchboard: exported {count} audit rows to {output}", file=sys.stderr)


@audit.command(name="verify")
def audit_verify(*, config: ConfigOpt = None, data_dir: DataOpt = None) -> None:
    """Recompute the hash chain: "ok: N rows, head SEQ HASH" (exit 0), or the first broken
    row and why (exit 1)."""
    from switchboard.console import audit_cmd

    db_path = _config(config, data_dir=data_dir).db_path
    try:
        code = audit_cmd.verify(db_path, sys.stdout)
    except audit_cmd.AuditCommandError as exc:
        _fail(str(exc))
        raise  # unreachable
    raise SystemExit(code)


approvals = cyclopts.App(name="approvals", help="Decide pending approvals in bulk on a server, "
                         "with a preview of exactly what will be decided.")
app.command(approvals)

FilterOpt = Annotated[str, cyclopts.Parameter(
    name="--filter", help="Which pending approvals, as in the console's inbox filter: words, "
                          "p:P2 (priority:), kind:task|gate, type:TASKTYPE, id:PREFIX.")]
YesOpt = Annotated[bool, cyclopts.Parameter(
    name="--yes", negative=(), help="Decide without asking for the count to be typed.")]
MineOpt = Annotated[bool, cyclopts.Parameter(
    name="--mine", negative=(), help="Only approvals you may decide as an assignee.")]
UrlOpt = Annotated[str, cyclopts.Parameter(help="Server URL.")]


def _bulk(action: Literal["approve", "reject"], filter_text: str, url: str, token: str | None,
          token_file: Path | None, yes: bool, mine: bool, reason: str | None) -> None:
    from switchboard.console.approvals_cmd import bulk_command

    if not filter_text.strip():
        _fail("approvals: --filter must select something (e.g. 'p:P2 type:faq_update')")
    secret = _token("approvals", token, token_file)
    code = asyncio.run(bulk_command(url, secret or "", action, filter_text, reason=reason,
                                    yes=yes, mine=mine, interactive=sys.stdin.isatty()))
    raise SystemExit(code)


@approvals.command(name="approve")
def approvals_approve(*, filter: FilterOpt, yes: YesOpt = False, mine: MineOpt = False,
                      url: UrlOpt = "http://127.0.0.1:8000", token: TokenOpt = None,
                      token_file: TokenFileOpt = None) -> None:
    """Approve every pending approval the filter selects: prints the table of what will be
    approved, asks for the count to be typed (unless --yes), then one result per approval.
    Gates with form fields are skipped. Exit 0 all decided, 1 some refused, 2 bad usage."""
    _bulk("approve", filter, url, token, token_file, yes, mine, None)


@approvals.command(name="reject")
def approvals_reject(*, filter: FilterOpt, reason: Annotated[str, cyclopts.Parameter(
                         help="Why (recorded and shown to whoever asked).")],
                     yes: YesOpt = False, mine: MineOpt = False,
                     url: UrlOpt = "http://127.0.0.1:8000", token: TokenOpt = None,
                     token_file: TokenFileOpt = None) -> None:
    """Reject every pending approval the filter selects, with one reason; as ``approve``."""
    _bulk("reject", filter, url, token, token_file, yes, mine, reason)


app.command(db_app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except StartupError as exc:  # an operator's fix, in one line: no traceback
        print(f"switchboard: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
