"""Agents: health (in words), heartbeat age, load, success rate; an agent's detail."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Static

from switchboard.console.backend import TaskView
from switchboard.console.formatting import (
    age,
    ago,
    cell,
    datetime_text,
    one_line,
    short_id,
    status,
)
from switchboard.console.messages import LiveUpdate
from switchboard.console.screens.base import ViewScreen, matches_words, parse_filter
from switchboard.console.screens.tasks import TASK_COLUMNS, TaskDetailScreen, task_row
from switchboard.console.widgets.live_table import Col, LiveTable
from switchboard.server.contract import Agent

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
        status(agent.status),
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
            "complete. enter opens an agent with its current tasks and recent failures.")

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
        agents = await self.backend.agents()
        health = fields.get("health")
        kind = fields.get("type")
        agents = [a for a in agents
                  if (not health or a.health.status == health) and (not kind or a.type == kind)
                  and matches_words(words, a.id, a.name, a.type, a.health.status, a.status)]
        agents.sort(key=lambda a: (HEALTH_RANK.get(a.health.status, 5), a.type, a.name, a.id))
        now = self.now
        self.table.sync([agent_row(a, now) for a in agents])
        counts: dict[str, int] = {}
        for a in agents:
            counts[a.health.status] = counts.get(a.health.status, 0) + 1
        summary = ", ".join(f"{counts[h]} {h}" for h in HEALTH_RANK if counts.get(h))
        self.set_status(Text(f"{len(agents)} agents · {summary or 'none'} · enter opens"))

    @on(LiveTable.RowSelected, "#agents-table")
    def _selected(self, event: LiveTable.RowSelected) -> None:
        if event.row_key:
            self.app.push_screen(AgentDetailScreen(event.row_key))


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
        agent = await self.backend.agent(self.agent_id)
        now = self.now
        current = await self.backend.tasks(TaskView(status="in_progress", agent_id=agent.id,
                                                    limit=200))
        failed = await self.backend.tasks(TaskView(status="failed", agent_id=agent.id, limit=50))
        info = Text()
        config, metrics = agent.configuration, agent.metrics
        uptime = agent.health.uptime
        pairs = [
            ("agent", f"{agent.name}  ({agent.id})"),
            ("type", agent.type),
            ("health", status(agent.health.status)),
            ("heartbeat", f"{ago(agent.health.last_check, now)}"
                          f"  · up {age(uptime) if uptime else '-'}"),
            ("status", status(agent.status)),
            ("load", f"{agent.load.running} of {config.max_concurrent_tasks} · timeout "
                     f"{config.timeout:.0f}s · retries {config.retry_attempts}"),
            ("done", f"{metrics.tasks_completed:,} completed, {metrics.tasks_failed:,} failed, "
                     f"success {metrics.success_rate:.1f}%, "
                     f"avg {metrics.avg_response_time:.0f} ms"),
        ]
        if metrics.cpu_usage is not None or metrics.memory_usage is not None:
            pairs.append(("usage", f"cpu {metrics.cpu_usage or 0:.0f}% · memory "
                                   f"{metrics.memory_usage or 0:.0f}%"))
        pairs.append(("since", datetime_text(agent.created_at)))
        for label, value in pairs:
            info.append(f"{label:<10}", style="bold")
            info.append(value if isinstance(value, Text) else Text(one_line(value, 200)))
            info.append("\n")
        info.rstrip()
        self.query_one("#agent-info", Static).update(info)
        self.query_one("#agent-current", LiveTable).sync(
            [task_row(t, now) for t in current.tasks])
        self.query_one("#agent-failed", LiveTable).sync([task_row(t, now) for t in failed.tasks])
        self.set_status(Text.assemble(f"agent {agent.name} · ", status(agent.health.status),
                                      f" · {len(current.tasks)} running · "
                                      f"{failed.total} failed"))

    @on(LiveTable.RowSelected)
    def _selected(self, event: LiveTable.RowSelected) -> None:
        if event.row_key:
            self.app.push_screen(TaskDetailScreen(event.row_key))


__all__ = ["AgentDetailScreen", "AgentsScreen", "short_id"]
