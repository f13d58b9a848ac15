"""Switchboard configuration: one TOML file, overridden by environment variables.

Why a single model for every part: the engine, the server and the console are one process,
and an operator wants one file to read. Each section is its own pydantic model with
``extra="forbid"`` so a typo in the file fails at start with the file, the key and the reason
instead of being silently ignored.

Environment overrides:
- ``ORCHESTRATOR_JWT_SECRET`` and ``ORCHESTRATOR_API_KEY_<NAME>=<key>:<role>`` (seed 003);
- everything else as ``SWITCHBOARD_<SECTION>_<KEY>``, e.g. ``SWITCHBOARD_RATE_LIMITS_ENABLED=false``
  or ``SWITCHBOARD_SERVER_PORT=9000``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Role = Literal["admin", "agent", "user"]

DEFAULT_ROUTING: dict[str, str] = {
    "bugfix": "dev_agent",
    "feature": "dev_agent",
    "refactor": "dev_agent",
    "deployment": "ops_agent",
    "monitoring": "ops_agent",
    "incident": "ops_agent",
    "faq_update": "faq_agent",
    "documentation": "faq_agent",
    "knowledge_sync": "faq_agent",
}

# Seed 003's table; keys are "METHOD /path-pattern" relative to /api/v1.
DEFAULT_ENDPOINT_LIMITS: dict[str, str] = {
    "POST /tasks": "10/minute",
    "GET /tasks/{id}": "30/minute",
    "PATCH /tasks/{id}/status": "10/minute",
    "POST /events/publish": "20/minute",
    "GET /approvals/*": "5/minute",
    "POST /approvals/*/approve": "5/minute",
    "POST /approvals/*/reject": "5/minute",
    "GET /stats": "30/minute",
}


class ConfigError(Exception):
    """A configuration problem, phrased for the operator: where, what, and how to fix it."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        super().__init__(f"{source}: {key}: {reason}")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    ws_max_message_bytes: int = Field(262_144, ge=1024)
    ws_messages_per_second: float = Field(500.0, gt=0)
    ws_message_burst: int = Field(1000, ge=1)
    sse_keepalive_seconds: float = Field(15.0, gt=0)
    stream_buffer_events: int = Field(10_000, ge=10)
    stream_buffer_bytes: int = Field(16_777_216, ge=65_536)
    sync_run_wait_seconds: float = Field(30.0, gt=0)
    # -- slow clients and floods (issue 11; see server.connections) --
    header_timeout_seconds: float = Field(60.0, gt=0)
    body_timeout_seconds: float = Field(60.0, gt=0)
    idle_timeout_seconds: float = Field(75.0, gt=0)
    max_connections: int = Field(4096, ge=1)
    max_connections_per_client: int = Field(512, ge=1)
    busy_retry_after_seconds: int = Field(5, ge=1, le=3600)


class StorageConfig(_Section):
    data_dir: str = "./data"
    synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "FULL"
    max_batch: int = Field(512, ge=1)
    event_retention_days: float = Field(30.0, gt=0)
    # -- start-up check of the database (issue 11): `serve/up --check-db` makes it "full" --
    # "quick" is skipped when the last close was clean and the file is untouched since
    # (engine.store.sqlite.mark_clean): a crash, a restore or any write to the file checks
    startup_check: Literal["quick", "full", "off"] = "quick"
    # -- which store (issue 16): "" is SQLite in data_dir; "sqlite:///path/to.db" another
    # SQLite file; "postgresql://user@host:5432/db" PostgreSQL, shared by replicas --
    url: str = ""

    @field_validator("url")
    @classmethod
    def _store_url(cls, value: str) -> str:
        if value and not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("must be sqlite:///path/to.db or postgresql://user@host:5432/db")
        if value.startswith("sqlite:///") and len(value) == len("sqlite:///"):
            raise ValueError("sqlite:/// needs a path (sqlite:///data/switchboard.db)")
        return value

    @property
    def kind(self) -> Literal["sqlite", "postgres"]:
        return "postgres" if self.url.startswith(("postgresql://", "postgres://")) else "sqlite"


class ApiKeyConfig(_Section):
    name: str
    key: str = Field(min_length=16)
    role: Role


class OAuthClientConfig(_Section):
    client_id: str
    client_secret: str = Field(min_length=16)
    role: Role = "agent"


class AuthConfig(_Section):
    jwt_secret: str = ""
    jwt_ttl_seconds: int = Field(86_400, gt=0)
    jwt_leeway_seconds: int = Field(10, ge=0)
    # the longest lifetime a token may have (issue 11): a token whose exp lies further in
    # the future is refused, and minting refuses a longer ttl; 30 days by default
    max_token_ttl_seconds: int = Field(2_592_000, gt=0)
    api_keys: list[ApiKeyConfig] = []
    oauth_clients: list[OAuthClientConfig] = []


class RateLimitConfig(_Section):
    enabled: bool = True
    # roles never limited: an admin console attached to a server polls far more than seed
    # 003's per-endpoint limits allow, and admins are trusted operators
    exempt_roles: list[Role] = ["admin"]
    default: str = "1000/hour"
    burst: str = "100/minute"
    endpoints: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_ENDPOINT_LIMITS))
    # replicas behind one load balancer (issue 16): buckets live in each replica's memory,
    # so each enforces ceil(limit / replicas); a caller spread round-robin over all of
    # them gets the configured limit (plus at most replicas - 1 from the rounding)
    replicas: int = Field(1, ge=1)

    @field_validator("default", "burst")
    @classmethod
    def _check_rate(cls, value: str) -> str:
        parse_rate(value)
        return value

    @field_validator("endpoints")
    @classmethod
    def _check_rates(cls, value: dict[str, str]) -> dict[str, str]:
        for rate in value.values():
            parse_rate(rate)
        return value


class RoutingConfig(_Section):
    table: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_ROUTING))
    default_agent_type: str = ""


class AgentsConfig(_Section):
    heartbeat_interval_seconds: float = Field(10.0, gt=0)
    degraded_after_seconds: float = Field(30.0, gt=0)
    unhealthy_after_seconds: float = Field(60.0, gt=0)
    offline_after_seconds: float = Field(300.0, gt=0)
    default_max_concurrent_tasks: int = Field(10, ge=1)


class TasksConfig(_Section):
    lease_seconds: float = Field(60.0, gt=0)
    max_attempts: int = Field(3, ge=1)
    backoff_base_seconds: float = Field(1.0, ge=0)
    backoff_max_seconds: float = Field(60.0, ge=0)
    maintenance_interval_seconds: float = Field(1.0, gt=0)
    approval_priorities: list[str] = ["P0", "P1"]
    max_payload_bytes: int = Field(262_144, ge=1024)


_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
ASSIGNEE = re.compile(r"(user|role):[A-Za-z0-9_.@:-]{1,128}")
"""An assignee: ``user:<principal name>`` or ``role:<admin|agent|user>``."""


def parse_duration(value: object) -> float:
    """Seconds from ``"90s"``, ``"5m"``, ``"4h"``, ``"1d"``, ``"250ms"`` or a number."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '5m'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value)):
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"]
    else:
        raise ValueError(f"{value!r} is not a duration; write e.g. \"90s\", \"5m\", \"4h\" or"
                         " \"1d\"")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def check_assignees(values: list[str]) -> list[str]:
    """Validate ``user:<name>`` / ``role:<role>`` entries (roles must exist)."""
    for value in values:
        if not ASSIGNEE.fullmatch(value):
            raise ValueError(f"assignee {value!r} must be \"user:<name>\" or \"role:<role>\"")
        kind, _, name = value.partition(":")
        if kind == "role" and name not in ("admin", "agent", "user"):
            raise ValueError(f"assignee {value!r}: roles are admin, agent and user")
    return values


class EscalationStep(_Section):
    """One step of ``[[approvals.escalation]]``, taken ``after`` the SLA breach."""

    after: float = 0.0  # seconds after the approval fell due ("15m" in the file)
    assign: list[str] = []  # assignees added (they may decide from then on)
    raise_priority: bool = False  # one level more urgent (P2 -> P1), never above P0
    # decide it: "default" = the gate's default answer (a task approval: [approvals]
    # timeout_action), "reject" = reject it
    decide: Literal["default", "reject"] | None = None

    @field_validator("after", mode="before")
    @classmethod
    def _after(cls, value: object) -> float:
        return parse_duration(value)

    @field_validator("assign")
    @classmethod
    def _assign(cls, value: list[str]) -> list[str]:
        return check_assignees(value)


class ApprovalsConfig(_Section):
    timeout_seconds: float = Field(0.0, ge=0)  # 0 = never expires
    timeout_action: Literal["reject", "approve"] = "reject"
    # Separation of duties: whoever asked for a task (its creator, or whoever retried it)
    # may not approve it. True lets them, and each such approval is audited as
    # ``approval.self_approve``. Meant for one-person setups, never for production.
    allow_self_approval: bool = False
    # Single-use, expiring links that decide one approval as one named person, for a phone
    # where SSH is impractical (engine.action_links). Off unless turned on.
    action_links: bool = False
    action_link_ttl_seconds: int = Field(3600, ge=60, le=7 * 86_400)
    # -- routing (issue 14). Keys of assign/quorum/sla: a task type, a priority (P0-P3) or
    # "*"; the first that matches, in that order, applies. Gates set their own. --
    assign: dict[str, list[str]] = {}  # who decides: ["user:alice", "role:admin"]
    delegates: list[str] = []  # whom an assignee may also hand an approval to
    quorum: dict[str, int] = {}  # approvals needed from distinct principals
    rejections_to_reject: int = Field(1, ge=1)  # rejections (distinct) that reject it
    sla: dict[str, float] = {}  # "5m": the approval's due_at = created + this
    reminders: list[float] = [0.5, 0.8]  # fractions of the SLA at which to remind
    on_timeout: Literal["escalate", "default", "reject"] = "escalate"  # at the breach
    escalation: list[EscalationStep] = []  # steps after the breach, in order of `after`

    @field_validator("assign")
    @classmethod
    def _assign(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for key, names in value.items():
            try:
                check_assignees(names)
            except ValueError as exc:
                raise ValueError(f"assign.{key}: {exc}") from None
        return value

    @field_validator("delegates")
    @classmethod
    def _delegates(cls, value: list[str]) -> list[str]:
        return check_assignees(value)

    @field_validator("quorum")
    @classmethod
    def _quorum(cls, value: dict[str, int]) -> dict[str, int]:
        for key, count in value.items():
            if not 1 <= count <= 20:
                raise ValueError(f"quorum.{key} must be between 1 and 20")
        return value

    @field_validator("sla", mode="before")
    @classmethod
    def _sla(cls, value: object) -> dict[str, float]:
        if not isinstance(value, dict):
            raise ValueError("sla is a table of durations, e.g. P0 = \"5m\"")
        out: dict[str, float] = {}
        for key, duration in value.items():
            try:
                out[str(key)] = parse_duration(duration)
            except ValueError as exc:
                raise ValueError(f"sla.{key}: {exc}") from None
            if out[str(key)] <= 0:
                raise ValueError(f"sla.{key} must be longer than 0s")
        return out

    @field_validator("reminders")
    @classmethod
    def _reminders(cls, value: list[float]) -> list[float]:
        if any(not 0 < f < 1 for f in value):
            raise ValueError("reminders are fractions of the SLA, each between 0 and 1")
        return sorted(set(value))

    @field_validator("escalation")
    @classmethod
    def _escalation(cls, value: list[EscalationStep]) -> list[EscalationStep]:
        return sorted(value, key=lambda step: step.after)

    def for_task(self, table: dict[str, Any], task_type: str | None, priority: str) -> Any:
        """The entry of ``assign``/``quorum``/``sla`` for a task type or priority, or None."""
        for key in (task_type, priority, "*"):
            if key is not None and key in table:
                return table[key]
        return None


class OpenAIProviderConfig(_Section):
    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    timeout_seconds: float = Field(60.0, gt=0)
    max_retries: int = Field(3, ge=0)


_MCP_SERVER_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]|_(?!_)){0,31}")


class MCPServerConfig(_Section):
    """One MCP server whose tools agent steps may use, as ``mcp__<name>__<tool>``."""

    name: str
    transport: Literal["stdio", "streamable_http"] = "stdio"
    command: str | None = None  # stdio: the executable (started by the server, stdin/stdout)
    args: list[str] = []
    env: dict[str, str] = {}  # added to a minimal environment (PATH, HOME...): no secrets leak
    cwd: str | None = None
    url: str | None = None  # streamable_http: the endpoint, e.g. "http://127.0.0.1:9000/mcp"
    bearer_token_env: str | None = None  # streamable_http: variable holding a bearer token
    tools: list[str] = []  # allow-list of the server's tool names; empty = every tool it lists
    timeout_seconds: float = Field(30.0, gt=0)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _MCP_SERVER_NAME.fullmatch(value):
            raise ValueError("must be 1-32 letters, digits, '-' or single '_' (it becomes part "
                             "of tool names: mcp__<name>__<tool>)")
        return value

    @model_validator(mode="after")
    def _check_transport(self) -> MCPServerConfig:
        if self.transport == "stdio" and not self.command:
            raise ValueError(f"server {self.name!r}: transport 'stdio' needs 'command'")
        if self.transport == "streamable_http":
            if not self.url or not self.url.startswith(("http://", "https://")):
                raise ValueError(f"server {self.name!r}: transport 'streamable_http' needs an "
                                 "http:// or https:// 'url'")
        return self


class MCPProviderConfig(_Section):
    # the provider whose model drives agent steps (and generation) that name provider "mcp"
    model_provider: str = "builtin"
    connect_timeout_seconds: float = Field(30.0, gt=0)
    servers: list[MCPServerConfig] = []

    @field_validator("model_provider")
    @classmethod
    def _not_itself(cls, value: str) -> str:
        if value == "mcp":
            raise ValueError("must name another provider (builtin, openai, adk)")
        return value

    @field_validator("servers")
    @classmethod
    def _unique(cls, value: list[MCPServerConfig]) -> list[MCPServerConfig]:
        names = [server.name for server in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"server names must be unique: {', '.join(duplicates)}")
        return value


class ADKProviderConfig(_Section):
    # an OpenAI-compatible endpoint reached through ADK's model layer; empty base_url = ADK's
    # own model registry (e.g. model = "gemini-2.5-flash" with GOOGLE_API_KEY set)
    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    timeout_seconds: float = Field(60.0, gt=0)
    max_retries: int = Field(3, ge=0)


class ProvidersConfig(_Section):
    default: str = "builtin"
    openai: OpenAIProviderConfig = OpenAIProviderConfig()
    mcp: MCPProviderConfig = MCPProviderConfig()
    adk: ADKProviderConfig = ADKProviderConfig()
    # USD per 1M tokens: {"model": {"input": 0.15, "output": 0.6}}
    prices: dict[str, dict[str, float]] = Field(
        default_factory=lambda: {
            "builtin": {"input": 1.0, "output": 2.0},
            "gpt-4o-mini": {"input": 0.15, "output": 0.60},
            "gpt-4o": {"input": 2.50, "output": 10.00},
        }
    )


class OrchestrationsConfig(_Section):
    dir: str = "examples/orchestrations"
    watch: bool = True
    tool_commands: list[str] = []  # allow-listed executables for `command` tools; empty = disabled
    # allow-listed Python callables for tools named `module:function`: exact
    # "module:function" entries or whole modules ("mycompany.tools"); empty = disabled
    tool_python: list[str] = []


# -- tools: what the server may do on an agent's behalf (issue 9) --------------------------

PRIVILEGED_TOOL_KINDS: tuple[str, ...] = ("http", "command", "python", "mcp")
"""Tool kinds that reach outside the engine: the network, processes, arbitrary code, and
tools of MCP servers (whatever those servers do: files, shells, fetches)."""

_LABEL = r"[a-z0-9_][a-z0-9_-]{0,62}"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")


class HttpToolConfig(_Section):
    """The ``http`` tool's outbound policy. Loopback, private, link-local (cloud metadata),
    CGNAT, multicast and reserved addresses are refused unless a host is listed here."""

    # exact host names ("status.internal", matched case-insensitively, no wildcards), IP
    # addresses or CIDR networks ("10.20.0.0/16") the http tool may reach although they
    # resolve to internal addresses
    allow_hosts: list[str] = []
    max_redirects: int = Field(5, ge=0, le=20)

    @field_validator("allow_hosts")
    @classmethod
    def _check_hosts(cls, value: list[str]) -> list[str]:
        out = []
        for index, entry in enumerate(value):
            text = entry.strip().lower().rstrip(".")
            try:
                if "/" in text:
                    ipaddress.ip_network(text, strict=False)
                else:
                    ipaddress.ip_address(text)
            except ValueError:
                if "/" in text or not _HOSTNAME.fullmatch(text):
                    raise ValueError(f"entry {index} ({entry!r}) must be a host name, an IP "
                                     "address or a CIDR network such as 10.0.0.0/8") from None
            out.append(text)
        return out


class ToolsConfig(_Section):
    http: HttpToolConfig = HttpToolConfig()
    # privileged tool kinds ("http", "command", "python", "mcp") that inline workflows posted
    # by non-admins (POST /execute, /orchestrate, /compose) may use; empty = admins only
    inline_tools_for_non_admins: list[Literal["http", "command", "python", "mcp"]] = []


class ConsoleConfig(_Section):
    bell: bool = False  # ring for every new approval
    # ring for new approvals of these priorities (P0 by default: escalation you cannot miss)
    bell_priorities: list[Literal["P0", "P1", "P2", "P3"]] = ["P0"]
    read_only: bool = False
    keymap: dict[str, str] = {}


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    file: str = ""  # default: <data_dir>/switchboard.log


WEBHOOK_EVENTS_DEFAULT = ["approval.requested", "approval.decided", "approval.overdue"]


class WebhookConfig(_Section):
    """One ``[[webhooks]]`` receiver: events are delivered from a durable outbox written in
    the same transaction as the event (engine.webhooks)."""

    name: str = Field("", max_length=100)  # default: "webhook-<n>" by position
    url: str
    # event types, or prefixes ending in "." ("approval."), to deliver
    events: list[str] = Field(default_factory=lambda: list(WEBHOOK_EVENTS_DEFAULT))
    secret: str = ""  # HMAC-SHA256 key for X-Switchboard-Signature; required for json
    format: Literal["json", "slack"] = "json"
    enabled: bool = True
    timeout_seconds: float = Field(10.0, gt=0, le=300)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL")
        return value

    @model_validator(mode="after")
    def _check_secret(self) -> WebhookConfig:
        if self.format == "json" and len(self.secret.encode()) < 16:
            raise ValueError("secret: a json webhook needs a secret of at least 16 bytes "
                             "(receivers check X-Switchboard-Signature with it)")
        return self


class WebhookDeliveryConfig(_Section):
    retry_for_seconds: float = Field(86_400.0, gt=0)
    backoff_base_seconds: float = Field(2.0, gt=0)
    backoff_max_seconds: float = Field(600.0, gt=0)
    concurrency: int = Field(8, ge=1, le=256)
    poll_seconds: float = Field(1.0, gt=0, le=60)
    public_url: str = ""


class Config(_Section):
    server: ServerConfig = ServerConfig()
    storage: StorageConfig = StorageConfig()
    auth: AuthConfig = AuthConfig()
    rate_limits: RateLimitConfig = RateLimitConfig()
    routing: RoutingConfig = RoutingConfig()
    agents: AgentsConfig = AgentsConfig()
    tasks: TasksConfig = TasksConfig()
    approvals: ApprovalsConfig = ApprovalsConfig()
    providers: ProvidersConfig = ProvidersConfig()
    orchestrations: OrchestrationsConfig = OrchestrationsConfig()
    tools: ToolsConfig = ToolsConfig()
    console: ConsoleConfig = ConsoleConfig()
    logging: LoggingConfig = LoggingConfig()
    webhooks: list[WebhookConfig] = []
    webhook_delivery: WebhookDeliveryConfig = WebhookDeliveryConfig()

    @property
    def data_path(self) -> Path:
        return Path(self.storage.data_dir)

    @property
    def db_path(self) -> Path:
        """The SQLite file (``[storage] url = "sqlite:///path"``, else in data_dir)."""
        if self.storage.url.startswith("sqlite:///"):
            return Path(self.storage.url[len("sqlite:///"):])
        return self.data_path / "switchboard.db"

    @property
    def log_path(self) -> Path:
        return Path(self.logging.file) if self.logging.file else self.data_path / "switchboard.log"


_PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


def parse_rate(text: str) -> tuple[int, float]:
    """Parse ``"10/minute"`` into (10, 60.0). Raises ValueError with the accepted form."""
    count, _, period = text.partition("/")
    try:
        number = int(count.strip())
    except ValueError:
        number = -1
    seconds = _PERIODS.get(period.strip().rstrip("s"))
    if number <= 0 or seconds is None:
        raise ValueError(f"rate {text!r} must look like '10/minute' (second, minute, hour, day)")
    return number, seconds


# Variables of the command-line clients (attach, run, worker), not server settings.
CLIENT_VARIABLES = frozenset({"SWITCHBOARD_CONFIG", "SWITCHBOARD_TOKEN", "SWITCHBOARD_URL",
                              "SWITCHBOARD_SUBJECT", "SWITCHBOARD_ROLE"})


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Map SWITCHBOARD_<SECTION>_<KEY> variables onto section/key pairs."""
    sections = sorted(Config.model_fields, key=len, reverse=True)
    out: dict[str, dict[str, Any]] = {}
    for name, value in env.items():
        if not name.startswith("SWITCHBOARD_") or name in CLIENT_VARIABLES:
            continue
        rest = name.removeprefix("SWITCHBOARD_").lower()
        for section in sections:
            if rest.startswith(section + "_"):
                key = rest.removeprefix(section + "_")
                out.setdefault(section, {})[key] = value
                break
        else:
            raise ConfigError(
                "environment", name, f"unknown section; expected one of {', '.join(sections)}"
            )
    return out


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(
    path: str | Path | None = None,
    overrides: Mapping[str, Mapping[str, Any] | list[Any]] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Load the file (if any), apply environment variables, then explicit overrides (CLI flags).

    Raises ConfigError naming the source, the key path and the reason.
    """
    env = os.environ if env is None else env
    source = str(path) if path else "defaults"
    data: dict[str, Any] = {}
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(str(file), "-", "file not found; pass an existing --config FILE")
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(file), "-", f"invalid TOML: {exc}") from None
        except UnicodeDecodeError as exc:
            line = file.read_bytes()[: exc.start].count(b"\n") + 1
            raise ConfigError(str(file), "-", f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                              f"on line {line}); save the file as UTF-8") from None
        except OSError as exc:
            raise ConfigError(str(file), "-", f"cannot read it: {exc.strerror or exc}") from None
    env_data = _env_overrides(env)
    data = _merge(data, env_data)
    secret = env.get("ORCHESTRATOR_JWT_SECRET")
    if secret:
        data = _merge(data, {"auth": {"jwt_secret": secret}})
    keys: list[dict[str, Any]] = list(data.get("auth", {}).get("api_keys", []))
    for name, value in sorted(env.items()):
        if name.startswith("ORCHESTRATOR_API_KEY_"):
            key, sep, role = value.rpartition(":")
            if not sep or role not in ("admin", "agent", "user"):
                raise ConfigError(
                    "environment", name, "must be '<key>:<role>' with role admin, agent or user"
                )
            keys.append({"name": name.removeprefix("ORCHESTRATOR_API_KEY_").lower(),
                         "key": key, "role": role})
    if keys:
        data = _merge(data, {"auth": {"api_keys": keys}})
    if overrides:
        data = _merge(data, {k: dict(v) if isinstance(v, Mapping) else list(v)
                             for k, v in overrides.items() if v})
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "-"
        where = "environment" if key.split(".")[0] in env_data else source
        reason = first["msg"]
        if first["type"] == "extra_forbidden":
            reason = "unknown setting; see config.example.toml for the valid keys"
        raise ConfigError(where, key, reason) from None
