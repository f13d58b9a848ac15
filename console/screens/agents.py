"""Agents: health (in words), heartbeat age, load, success rate; an agent's detail."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, Static

from switchboard.console.backend import TaskView
from switchboard.console.formatting import (
    TASK_STATUS_WORDS,
    age,
    ago,
    cell,
    datetime_text,
    epoch,
    one_line,
    short_id,
    since,
    status,
)
from switchboard.console.health import as_of, live_status, thresholds_for
from switchboard.console.messages import LiveUpdate
from switchboard.console.screens.base import ViewScreen, matches_words, parse_filter
from switchboard.console.screens.tasks import TASK_COLUMNS, TaskDetailScreen, task_row
from switchboard.console.widgets.live_table import Col, LiveTable
from switchboard.server.contract import Agent, Task

AGENT_COLUMNS = [
    Col("name", "AGENT", 14, flex=True),
    Col("type", "TYPE", 9),
    Col("health", "HEALTH", 9),
    Col("beat", "HEARTBEAT", 9, right=True),
    Col("load", "LOAD", 5, right=True),
    Col("ok", "OK%", 5, right=True),
    Col("avg", "AVG", 6, right=True),
    Col("status", "STATUS", 8, min_screen=100),
    Col("done", "DONE", 6, min_screen=100, right=True),
    Col("id", "ID", 8, min_screen=120),
]
HEALTH_RANK = {"unhealthy": 0, "offline": 1, "degraded": 2, "unknown": 3, "healthy": 4}
SORTS = ("health", "name", "load", "heartbeat")


def agent_row(agent: Agent, now: float) -> tuple[str, list[Text]]:
    load, metrics = agent.load, agent.metrics
    load_style = "bold yellow" if load.running >= load.max else ""
    finished = metrics.tasks_completed + metrics.tasks_failed
    return agent.id, [
        cell(agent.name),
        cell(agent.type),
        status(agent.health.status),
        cell(ago(agent.health.last_check, now)),
        cell(f"{load.running}/{load.max}", load_style),
        cell(f"{metrics.success_rate:.0f}" if finished else "-"),
        cell(f"{metrics.avg_response_time / 1000:.1f}s" if metrics.tasks_completed else "-"),
        status(live_status(agent)),
        cell(f"{metrics.tasks_completed:,}"),
        cell(short_id(agent.id)),
    ]


class AgentsScreen(ViewScreen):
    TITLE = "Agents"
    VIEW = "agents"
    WATCH = frozenset({"agents"})
    FILTER_HINT = "words, health:degraded type:ops_agent"
    HELP = ("Every registered agent, the least healthy first. Health comes from heartbeat age: "
            "healthy, degraded, unhealthy, offline (in words; colour only repeats it). LOAD is "
            "running / max concurrent tasks, OK% the success rate, AVG the mean time to "
            "complete. Health and STATUS are as of now (heartbeat age against the engine's "
            "thresholds): silent means no heartbeat for over a minute, offline for five. s "
            "cycles the order (health, name, load, heartbeat). enter opens an agent with what "
            "it is doing, its current tasks and recent failures.")

    BINDINGS = [Binding("s", "sort", "sort", id="agents.sort")]

    def __init__(self) -> None:
        super().__init__()
        self.sort = SORTS[0]

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.notify(f"agents sorted by {self.sort}", timeout=2)
        self.request_reload(immediate=True)

    def compose_body(self) -> ComposeResult:
        yield LiveTable(AGENT_COLUMNS, cap=1000, id="agents-table")

    @property
    def table(self) -> LiveTable:
        return self.query_one("#agents-table", LiveTable)

    def focus_main(self) -> None:
        self.table.focus()

    def selected_id(self) -> str | None:
        return self.table.current_key

    async def reload(self) -> None:
        fields, words = parse_filter(self.filter_text)
        now = self.now
        limits = thresholds_for(self.backend)
        agents = [as_of(a, now, limits) for a in await self.backend.agents()]
        health = fields.get("health")
        kind = fields.get("type")
        agents = [a for a in agents
                  if (not health or a.health.status == health) and (not kind or a.type == kind)
                  and matches_words(words, a.id, a.name, a.type, a.health.status,
                                    live_status(a))]
        if self.sort == "name":
            agents.sort(key=lambda a: (a.name, a.id))
        elif self.sort == "load":
            agents.sort(key=lambda a: (-a.load.running / max(a.load.max, 1), a.name))
        elif self.sort == "heartbeat":
            agents.sort(key=lambda a: (epoch(a.health.last_check) or 0.0, a.name))
        else:
            agents.sort(key=lambda a: (HEALTH_RANK.get(a.health.status, 5), a.type, a.name,
                                       a.id))
        self.table.sync([agent_row(a, now) for a in agents])
        counts: dict[str, int] = {}
        for a in agents:
            counts[a.health.status] = counts.get(a.health.status, 0) + 1
        summary = ", ".join(f"{counts[h]} {h}" for h in HEALTH_RANK if counts.get(h))
        self.set_status(Text(f"{len(agents)} agents · {summary or 'none'} · by {self.sort} (s)"
                             " · enter opens"))

    @on(LiveTable.RowSelected, "#agents-table")
    def _selected(self, event: LiveTable.RowSelected) -> None:
        if event.row_key:
            self.app.push_screen(AgentDetailScreen(event.row_key))


def doing_text(agent: Agent, current: list[Task], last: list[Task], now: float) -> str:
    """What the agent is doing in one line: its running task(s), else its last one."""
    if agent.health.status == "offline":
        prefix = "nothing (offline)"
    elif current:
        task = current[0]
        more = f" (+{len(current) - 1} more)" if len(current) > 1 else ""
        return (f"running {task.type} {short_id(task.id)} {task.priority} "
                f"({task.progress}%, {since(task.started_at or task.updated_at, now)}){more}")
    else:
        prefix = "idle"
    if last:
        task = last[0]
        return (f"{prefix}; last: {task.type} {short_id(task.id)} "
                f"{TASK_STATUS_WORDS.get(task.status, task.status)} "
                f"{ago(task.updated_at, now)}")
    return prefix


class AgentDetailScreen(ViewScreen):
    TITLE = "Agent"
    WATCH = frozenset({"agents", "tasks"})
    FILTERABLE = False
    HELP = ("One agent: health and heartbeat, load, metrics and configuration; the tasks it "
            "holds now and its recent failures (enter opens a task).")

    def __init__(self, agent_id: str) -> None:
        super().__init__()
        self.agent_id = agent_id

    def compose_body(self) -> ComposeResult:
        yield Static("", id="agent-info", markup=False)
        with Vertical(classes="pane", id="agent-current-pane"):
            yield Label("Current tasks", classes="pane-title")
            yield LiveTable(TASK_COLUMNS, cap=200, id="agent-current")
        with Vertical(classes="pane", id="agent-failed-pane"):
            yield Label("Recent failures", classes="pane-title")
            yield LiveTable(TASK_COLUMNS, cap=50, id="agent-failed")

    def selected_id(self) -> str | None:
        return self.agent_id

    def focus_main(self) -> None:
        self.query_one("#agent-current", LiveTable).focus()

    def on_live_update(self, message: LiveUpdate) -> None:
        if any(e.agent_id == self.agent_id or e.source_agent == self.agent_id
               for e in self.new_events(message.upto_seq)):
            super().on_live_update(message)

    async def reload(self) -> None:
        now = self.now
        agent = as_of(await self.backend.agent(self.agent_id), now,
                      thresholds_for(self.backend))
        current = await self.backend.tasks(TaskView(status="in_progress", agent_id=agent.id,
                                                    limit=200))
        failed = await self.backend.tasks(TaskView(status="failed", agent_id=agent.id, limit=50))
        last = await self.backend.tasks(TaskView(agent_id=agent.id, limit=1))
        names = {agent.id: agent.name}
        info = Text()
        config, metrics = agent.configuration, agent.metrics
        uptime = agent.health.uptime
        pairs = [
            ("doing", doing_text(agent, current.tasks, last.tasks, now)),
            ("agent", f"{agent.name}  ({agent.id})"),
            ("type", agent.type),
            ("health", status(agent.health.status)),
            ("heartbeat", f"{ago(agent.health.last_check, now)}"
                          f"  · up {age(uptime) if uptime else '-'}"),
            ("status", status(live_status(agent))),
            ("load", f"{agent.load.running} of {config.max_concurrent_tasks} · timeout "
                     f"{config.timeout:.0f}s · retries {config.retry_attempts}"),
            ("done", f"{metrics.tasks_completed:,} completed, {metrics.tasks_failed:,} failed, "
                     f"success {metrics.success_rate:.1f}%, "
                     f"avg {metrics.avg_response_time:.0f} ms"),
        ]
        if metrics.cpu_usage is not None or metrics.memory_usage is not None:
            usage = f"cpu {metrics.cpu_usage or 0:.0f}% · memory {metrics.memory_usage or 0:.0f}%"
            if agent.health.status != "healthy":  # numbers from its last heartbeat, not now
                usage += f" (stale: last heartbeat {ago(agent.health.last_check, now)})"
            pairs.append(("usage", usage))
        pairs.append(("since", datetime_text(agent.created_at)))
        for label, value in pairs:
            info.append(f"{label:<10}", style="bold")
            info.append(value if isinstance(value, Text) else Text(one_line(value, 200)))
            info.append("\n")
        info.rstrip()
        self.query_one("#agent-info", Static).update(info)
        self.query_one("#agent-current", LiveTable).sync(
            [task_row(t, now, names) for t in current.tasks])
        self.query_one("#agent-failed", LiveTable).sync(
            [task_row(t, now, names) for t in failed.tasks])
        self.set_status(Text.assemble(f"agent {agent.name} · ", status(agent.health.status),
                                      f" · {len(current.tasks)} running · "
                                      f"{failed.total} failed"))

    @on(LiveTable.RowSelected)
    def _selected(self, event: LiveTable.RowSelected) -> None:
        if event.row_key:
            self.app.push_screen(TaskDetailScreen(event.row_key))


__all__ = ["AgentDetailScreen", "AgentsScreen", "short_id"]
