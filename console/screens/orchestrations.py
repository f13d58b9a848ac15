"""Orchestrations: the loaded definitions and their validation state; ``n`` starts a run."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Label, Static

from switchboard.console.backend import BackendError, NotAvailable
from switchboard.console.formatting import cell, display_path, one_line, short_id, tint
from switchboard.console.screens.base import ViewScreen, matches_words
from switchboard.console.widgets.live_table import Col, LiveTable
from switchboard.server.contract import OrchestrationInfo

ORCH_COLUMNS = [
    Col("id", "ID", 20, flex=True),
    Col("name", "NAME", 20, flex=True),
    Col("steps", "STEPS", 5, right=True),
    Col("state", "STATE", 8),
    Col("source", "FILE", 16, min_screen=110),
]


class OrchestrationsScreen(ViewScreen):
    TITLE = "Orchestrations"
    VIEW = "orchestrations"
    WATCH = frozenset({"orchestrations"})
    POLL_INTERVAL = 5.0
    HELP = ("The orchestration definitions the engine has loaded, with their validation "
            "state: a broken file shows its errors (the last good version keeps running). "
            "n starts a run of the selected orchestration with a message.")

    BINDINGS = [
        Binding("n", "start_run", "new run", id="orchestrations.start"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, OrchestrationInfo] = {}

    def compose_body(self) -> ComposeResult:
        yield LiveTable(ORCH_COLUMNS, cap=1000, id="orch-table")
        with VerticalScroll(id="orch-preview", classes="pane"):
            yield Label("Selected", classes="pane-title")
            yield Static("", id="orch-preview-text", markup=False)

    @property
    def table(self) -> LiveTable:
        return self.query_one("#orch-table", LiveTable)

    def focus_main(self) -> None:
        self.table.focus()

    def selected_id(self) -> str | None:
        return self.table.current_key

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start_run" and not self.backend.capabilities.runs:
            return False
        return super().check_action(action, parameters)

    async def reload(self) -> None:
        try:
            items = await self.backend.orchestrations()
        except NotAvailable as exc:
            self.table.display = False
            self.query_one("#orch-preview-text", Static).update(
                f"{exc.detail}: this engine has no orchestration definitions loaded.")
            self.set_status(Text(exc.detail))
            return
        words = self.filter_text.lower().split()
        items = [i for i in items if matches_words(words, i.id, i.name, i.description,
                                                   i.source)]
        items.sort(key=lambda i: (i.valid, i.id))
        self.items = {i.id: i for i in items}
        self.table.display = True
        self.table.sync([(i.id, [
            cell(i.id), cell(i.name), cell(str(i.steps) if i.steps else "-"),
            cell("valid", "green") if i.valid else cell("BROKEN", "bold reverse red"),
            cell(i.source.rsplit("/", 1)[-1]),
        ]) for i in items])
        broken = sum(not i.valid for i in items)
        self.set_status(Text(f"{len(items)} definitions" +
                             (f" · {broken} broken" if broken else " · all valid") +
                             (" · n starts a run" if self.backend.capabilities.runs else "")))
        self._preview()

    @on(LiveTable.RowHighlighted, "#orch-table")
    def _preview(self) -> None:
        key = self.selected_id()
        item = self.items.get(key) if key else None
        text = Text()
        if item is None:
            text.append("nothing selected", style="dim")
        else:
            text.append(f"{item.name}", style="bold")
            text.append(f"  {item.id}\n", style="dim")
            if item.description:
                text.append(item.description + "\n")
            if item.source:
                text.append(f"file {display_path(item.source)}", style="dim")
                if item.version:
                    text.append(f" · version {item.version}", style="dim")
                text.append("\n")
            for problem in item.problems:
                text.append("error: ", style=tint("bold red"))
                text.append(problem + "\n")
        self.query_one("#orch-preview-text", Static).update(text)

    def action_start_run(self) -> None:
        if self.refuse_if_read_only("starting runs"):
            return
        key = self.selected_id()
        item = self.items.get(key) if key else None
        if item is None:
            return
        if not item.valid and not item.steps:
            self.notify(f"{item.id} is broken; fix the file first", severity="error")
            return
        self.run_worker(self._start(item), group="action", exit_on_error=False)

    async def _start(self, item: OrchestrationInfo) -> None:
        from switchboard.console.dialogs.prompt import PromptDialog
        from switchboard.console.screens.runs import RunDetailScreen

        message = await self.app.push_screen_wait(PromptDialog(
            f"Start {item.name}", "Message (the run's first input)",
            body=one_line(item.description, 200), required=True,
            submit_hint="enter starts the run, esc cancels"))
        if message is None:
            return
        try:
            run_id = await self.backend.start_run(item.id, message)
        except BackendError as exc:
            if not self.sb_app.note_backend_error(exc):
                self.notify(exc.detail, title="Run not started", severity="error")
            return
        self.notify(f"run {short_id(run_id)} started", timeout=3)
        self.sb_app.switch_mode("runs")
        self.app.push_screen(RunDetailScreen(run_id))
