"""Overview: what needs the operator (approvals, loudest), then the state of everything else."""

from __future__ import annotations

from collections import deque

import msgspec
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Static

from switchboard.console.formatting import clock_text, event_summary, tint
from switchboard.console.health import live_health, thresholds_for
from switchboard.console.screens.base import ViewScreen
from switchboard.server.contract import Overview
from switchboard.server.contract import Priority as PRIORITIES
from switchboard.server.contract.system import PriorityLoad

HEALTH_ORDER = ("healthy", "degraded", "unhealthy", "offline", "unknown")
RUN_ORDER = ("running", "paused", "failed", "completed", "cancelled")
STATE_COLUMNS = (("pending", "pending"), ("awaiting_approval", "awaiting"), ("assigned", "queued"),
                 ("in_progress", "running"), ("completed", "done"), ("failed", "failed"))


BLOCKS = " ▁▂▃▄▅▆▇█"


def spark(values: list[float], width: int) -> Text:
    """A one-line sparkline, newest on the right; missing history is blank, not zero."""
    values = values[-width:]
    if not values:
        return Text("collecting…", style="dim")
    top = max(values) or 1.0
    chars = [BLOCKS[max(1, round(v / top * 8))] if v > 0 else "▁" for v in values]
    return Text(" " * (width - len(chars)) + "".join(chars), style=tint("cyan"))


class OverviewScreen(ViewScreen):
    TITLE = "Overview"
    VIEW = "overview"
    WATCH = frozenset({"tasks", "approvals", "agents", "runs", "events"})
    MIN_RELOAD_INTERVAL = 1.0
    FILTERABLE = False
    HELP = ("Counts by state, each a key away from its list: approvals waiting (a or 5: the "
            "inbox), failed tasks (f), running tasks (r), runs waiting at a gate (w), agents "
            "by health (h). Tasks per "
            "priority and state, agents by health, runs by status; queue depth and throughput "
            "(completed per minute, last hour); the latest events.")

    BINDINGS = [
        Binding("a", "goto_approvals", "inbox", id="overview.inbox"),
        Binding("f", "drill('tasks status:failed')", "failed", id="overview.failed"),
        Binding("r", "drill('tasks status:running')", "running", id="overview.running"),
        Binding("w", "drill('runs status:paused')", "waiting runs", id="overview.waiting_runs"),
        Binding("h", "drill('agents')", "health", id="overview.agents"),
    ]

    def action_drill(self, command: str) -> None:
        """A count on this screen -> the list it counts, filtered (``:tasks status:failed``)."""
        self.sb_app.run_command(command)

    def __init__(self) -> None:
        super().__init__()
        self.depth_samples: deque[float] = deque(maxlen=60)
        self._last_sample_at: float | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("", id="ov-approvals", markup=False)
        with Horizontal(id="ov-middle"):
            with Vertical(id="ov-tasks", classes="pane"):
                yield Label("Tasks  (f failed · r running)", classes="pane-title")
                yield Static("", id="ov-tasks-table", markup=False)
            with Vertical(id="ov-side", classes="pane"):
                yield Label("Agents  (h)", classes="pane-title")
                yield Static("", id="ov-agents", markup=False)
                yield Label("Runs  (w waiting)", classes="pane-title")
                yield Static("", id="ov-runs", markup=False)
        with Horizontal(id="ov-sparks"):
            with Vertical(classes="spark"):
                yield Static("", id="ov-depth-label", markup=False)
                yield Static("", id="ov-depth", classes="sparkline", markup=False)
            with Vertical(classes="spark"):
                yield Static("", id="ov-throughput-label", markup=False)
                yield Static("", id="ov-throughput", classes="sparkline", markup=False)
        with Vertical(id="ov-events", classes="pane"):
            yield Label("Latest events", classes="pane-title")
            yield Static("", id="ov-events-text", markup=False)

    def _spark_width(self) -> int:
        width = self.query_one("#ov-depth", Static).size.width
        return max(width or (self.app.size.width // 2 - 3), 10)

    def action_goto_approvals(self) -> None:
        self.sb_app.action_view("approvals")

    async def reload(self) -> None:
        data = await self.backend.overview()
        now = self.now
        limits = thresholds_for(self.backend)
        health: dict[str, int] = {}
        for agent in await self.backend.agents():  # as of now, like the Agents view
            state = live_health(agent, now, limits)
            health[state] = health.get(state, 0) + 1
        data = msgspec.structs.replace(data, agents_by_health=health)
        self._show(data)
        pane_height = self.query_one("#ov-events").size.height
        room = max(pane_height - 2, 3) if pane_height else max(self.app.size.height - 21, 3)
        events = list(self.sb_app.recent_events)[-room:]
        if len(events) < room:
            events = await self.backend.recent_events(room)
        self._show_events(events)
        self.set_status(Text(f"{data.total_tasks:,} tasks · {data.agents_total} agents · "
                             f"{self._waiting(data)} approvals waiting"))

    def on_mount(self) -> None:
        super().on_mount()
        # the banner follows the header's live count, paused or not (a paused Overview
        # showed 55 waiting for 18 minutes while the header said 57)
        self.sb_app.status_changed.subscribe(self, lambda _: self._show_banner())

    def _show_banner(self) -> None:
        app = self.sb_app
        box = self.query_one("#ov-approvals", Static)
        if not app.approvals_known:
            box.update(Text(" approvals: unknown (not read yet)", style="bold"))
            box.set_class(False, "-alert")
            return
        waiting = app.approvals_waiting
        if waiting:
            by_priority = app.approvals_by_priority
            parts = [f"{p} {by_priority[p]}" for p in PRIORITIES if by_priority.get(p)]
            text = Text()
            if by_priority.get("P0"):
                text.append(f" P0 CRITICAL {by_priority['P0']} ", style="bold reverse")
                text.append(" ")
            text.append(f" ⚑ {waiting} APPROVAL{'S' if waiting != 1 else ''} WAITING ",
                        style="bold reverse")
            text.append("  " + ", ".join(parts) + "   press a (or 5) to decide")
            box.set_class(True, "-alert")
        else:
            text = Text(" no approvals waiting", style="dim")
            box.set_class(False, "-alert")
        box.update(text)

    def _waiting(self, data: Overview) -> int:
        app = self.sb_app
        return app.approvals_waiting if app.approvals_known else data.approvals_waiting

    def _show(self, data: Overview) -> None:
        self._show_banner()

        table = Table.grid(padding=(0, 1))
        table.add_column("", no_wrap=True)
        table.add_column("waiting", justify="right", no_wrap=True)
        table.add_column("running", justify="right", no_wrap=True)
        table.add_column("", no_wrap=True, width=1)
        table.add_column("state", no_wrap=True)
        table.add_column("n", justify="right", no_wrap=True)
        left: list[list[Text]] = [[Text(""), Text("waiting", style="bold"),
                                   Text("running", style="bold")]]
        for prio in PRIORITIES:
            bucket = data.tasks_by_priority.get(prio) or PriorityLoad()
            waiting_n, running_n = bucket.waiting, bucket.processing
            style = tint("bold red") if prio in ("P0", "P1") and waiting_n else ""
            left.append([Text(prio, style="bold"), Text(f"{waiting_n:,}", style=style),
                         Text(f"{running_n:,}")])
        right: list[list[Text]] = []
        by_status = data.tasks_by_status
        for key, label in STATE_COLUMNS:
            count = by_status.get(key, 0)
            style = tint("bold red") if key == "failed" and count else ("" if count else "dim")
            right.append([Text(label, style=style), Text(f"{count:,}", style=style)])
        ended = by_status.get("cancelled", 0) + by_status.get("rejected", 0)
        right.append([Text("cancelled/rej", style="" if ended else "dim"), Text(f"{ended:,}")])
        for index in range(max(len(left), len(right))):
            a = left[index] if index < len(left) else [Text(""), Text(""), Text("")]
            b = right[index] if index < len(right) else [Text(""), Text("")]
            table.add_row(*a, Text(""), *b)
        self.query_one("#ov-tasks-table", Static).update(table)

        health = Text()
        for state in HEALTH_ORDER:
            count = data.agents_by_health.get(state, 0)
            if count or state in ("healthy", "degraded", "unhealthy", "offline"):
                style = tint({"degraded": "yellow", "unhealthy": "bold red", "offline": "red"}
                             .get(state, "")) if count else "dim"
                health.append(f"{state} {count}  ", style=style)
        self.query_one("#ov-agents", Static).update(health)
        runs = Text()
        for state in RUN_ORDER:
            count = data.runs_by_status.get(state, 0)
            style = tint({"paused": "bold yellow", "failed": "bold red"}.get(state, "")) \
                if count else "dim"
            word = "waiting" if state == "paused" else state  # as the Runs view says
            runs.append(f"{word} {count}  ", style=style)
        self.query_one("#ov-runs", Static).update(runs)

        waiting_tasks = sum(b.waiting for b in data.tasks_by_priority.values())
        now = self.now
        if self._last_sample_at is None or now - self._last_sample_at >= 5:
            self.depth_samples.append(float(waiting_tasks))
            self._last_sample_at = now
        self.query_one("#ov-depth", Static).update(
            spark(list(self.depth_samples), self._spark_width()))
        self.query_one("#ov-depth-label", Static).update(
            Text.assemble(("Queue depth ", "bold"), f"{waiting_tasks:,} waiting"))
        self.query_one("#ov-throughput", Static).update(
            spark([float(v) for v in data.throughput], self._spark_width()))
        last = data.throughput[-1] if data.throughput else 0
        total = sum(data.throughput)
        self.query_one("#ov-throughput-label", Static).update(
            Text.assemble(("Throughput ", "bold"), f"{last}/min now, {total:,} last hour"))

    def _show_events(self, events: list) -> None:
        lines = Text()
        for event in reversed(events):
            if lines:
                lines.append("\n")
            lines.append(clock_text(event.timestamp) + " ", style="dim")
            lines.append(f"{event.event_type:<22.22} ")
            lines.append(event_summary(event))
        lines.no_wrap = True
        lines.overflow = "ellipsis"
        self.query_one("#ov-events-text", Static).update(lines or Text("no events yet",
                                                                         style="dim"))
