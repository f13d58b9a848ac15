"""The approval / human-gate form.

Each gate field becomes the widget that fits it (text -> Input, textarea -> TextArea,
select -> Select, multiselect -> SelectionList, number -> Input checked as a number,
boolean -> Switch). Required fields carry a ``*`` in their label (not a colour); an error is
written under its field. ``ctrl+s`` submits, ``esc`` cancels. The agent context is shown
beside the fields.

If the approval is decided elsewhere while the form is open (another console, the API, a
timeout), the form says so and refuses to submit. A P0 approval asks for a confirmation
whose default is Cancel, as in the inbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from msgspec import UnsetType
from rich.segment import Segment
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Footer, Input, Label, Select, SelectionList, Static, Switch, TextArea
from textual.widgets._toggle_button import ToggleButton
from textual.widgets.option_list import OptionDoesNotExist

from switchboard.console.backend import BackendError
from switchboard.console.formatting import datetime_text, one_line, pretty_json, short_id
from switchboard.console.messages import ApprovalDecided
from switchboard.console.widgets.header import StatusHeader
from switchboard.server.contract import (
    Approval,
    ApprovalKind,
    ApprovalStatus,
    GateField,
    HumanInputRequired,
    Priority,
    Run,
    validate_answer,
)

if TYPE_CHECKING:
    from switchboard.console.app import SwitchboardApp


def check_value(spec: GateField, raw: Any) -> tuple[Any, str | None]:
    """A widget's value checked by the one set of gate rules the engine also applies
    (``contract.validate_answer``). -> (cleaned value, error message or None)."""
    cleaned, errors = validate_answer([spec], {spec.name: None if raw is Select.NULL else raw})
    return cleaned.get(spec.name), (errors[0].message if errors else None)


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, UnsetType) else str(value)


class FieldBox(Vertical):
    """One labelled field with its error line."""

    DEFAULT_CSS = """
    FieldBox { height: auto; margin: 0 0 1 0; }
    FieldBox > .field-label { height: 1; }
    FieldBox:focus-within > .field-label { text-style: bold reverse; }
    FieldBox > .field-help { color: $text-muted; height: auto; }
    FieldBox > .field-error { height: auto; display: none; color: $text-error; text-style: bold; }
    FieldBox > .field-error.-shown { display: block; }
    """

    def __init__(self, spec: GateField, index: int, widget: Widget) -> None:
        super().__init__(id=f"box-{index}")
        self.spec = spec
        self.index = index
        self.widget = widget

    def compose(self) -> ComposeResult:
        required = " *" if self.spec.is_required else ""
        kind = self.spec.type
        hint = {"multiselect": "  (space toggles)", "boolean": "  (space toggles)",
                "select": "  (enter opens)"}.get(kind, "")
        yield Label(Text(f"{self.spec.title}{required}") + Text(hint, style="dim"),
                    classes="field-label")
        yield YesNo(self.widget) if isinstance(self.widget, Switch) else self.widget
        help_text = _text(self.spec.help)
        if help_text:
            yield Static(help_text, classes="field-help", markup=False)
        yield Static("", classes="field-error", id=f"error-{self.index}", markup=False)

    def set_error(self, message: str | None) -> None:
        error = self.query_one(f"#error-{self.index}", Static)
        error.update(f"error: {message}" if message else "")
        error.set_class(bool(message), "-shown")


class CheckList(SelectionList[str]):
    """A SelectionList whose boxes show their state by shape (X or blank), not colour only."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        _, scroll_y = self.scroll_offset
        try:
            selection = self.get_option_at_index(scroll_y + y)
        except OptionDoesNotExist:
            return strip
        if selection.value in self.selected:
            return strip
        segments = list(strip)
        if len(segments) > 1 and segments[1].text == ToggleButton.BUTTON_INNER:
            segments[1] = Segment(" " * len(ToggleButton.BUTTON_INNER), segments[1].style)
            return Strip(segments, strip.cell_length)
        return strip


class YesNo(Horizontal):
    """A Switch with its state in words beside it (the knob alone is colour)."""

    DEFAULT_CSS = """
    YesNo { height: auto; }
    YesNo > Static { width: auto; padding: 0 1; }
    """

    def __init__(self, switch: Switch) -> None:
        super().__init__()
        self.switch = switch

    def compose(self) -> ComposeResult:
        yield self.switch
        yield Static(self.word(self.switch.value), markup=False)

    @staticmethod
    def word(value: bool) -> str:
        return "yes" if value else "no"

    @on(Switch.Changed)
    def _changed(self, event: Switch.Changed) -> None:
        self.query_one(Static).update(self.word(event.value))


def build_widget(spec: GateField, index: int, blink: bool) -> Widget:
    kind = spec.type
    default = spec.default_value
    wid = f"field-{index}"
    placeholder = _text(spec.placeholder)
    if kind == "textarea":
        area = TextArea(str(default or ""), id=wid, soft_wrap=True, show_line_numbers=False,
                        tab_behavior="focus", compact=True)
        area.cursor_blink = blink
        return area
    if kind == "select":
        choices = spec.choices
        value = default if default in choices else Select.NULL
        return Select([(c, c) for c in choices], value=value, id=wid, compact=True,
                      allow_blank=True, prompt="choose…")
    if kind == "multiselect":
        choices = spec.choices
        chosen = set(default or []) if isinstance(default, list) else set()
        return CheckList(*[(c, c, c in chosen) for c in choices], id=wid, compact=True)
    if kind == "boolean":
        return Switch(value=bool(default), id=wid, animate=False)
    box = Input(value="" if default is None else str(default), placeholder=placeholder, id=wid,
                compact=True, type="number" if kind == "number" else "text")
    box.cursor_blink = blink
    return box


def widget_value(widget: Widget) -> Any:
    if isinstance(widget, TextArea):
        return widget.text
    if isinstance(widget, Select):
        return widget.value
    if isinstance(widget, SelectionList):
        return list(widget.selected)
    if isinstance(widget, Switch):
        return widget.value
    if isinstance(widget, Input):
        return widget.value
    return None


def attention_text(count: int) -> str:
    return f"{count} field{'s need' if count > 1 else ' needs'} attention"


class GateFormScreen(ModalScreen[bool]):
    """Answer an approval: a gate's form, or a task approval's plain yes."""

    TITLE = "Approval"
    HELP = ("Fill the form and press ctrl+s to submit; esc cancels. Fields marked * are "
            "required. tab / shift+tab move between fields. ctrl+r rejects (x too on a task "
            "approval, which has no fields) and asks for a reason. The agent's context is on "
            "the right. If someone decides this approval elsewhere first, the form says so.")

    BINDINGS = [
        Binding("ctrl+s", "submit", "submit", id="form.submit", priority=True),
        Binding("ctrl+r", "reject", "reject", id="form.reject", priority=True),
        Binding("x", "reject_x", "reject", show=False, id="form.reject_x"),
        Binding("escape", "cancel", "cancel", id="form.cancel"),
    ]

    def __init__(self, approval: Approval, *, run_id: str | None = None) -> None:
        super().__init__()
        self.approval = approval
        self.run_id = run_id or approval.run_id
        self.fields: list[GateField] = list(approval.fields)
        # the same names as the inbox's KIND column: a task approval is not a "gate form"
        self.TITLE = "Human gate" if approval.kind == "gate" else "Task approval"  # type: ignore[misc]
        self.decided_elsewhere: str | None = None
        self._submitting = False
        self._attention = False  # the banner counts fields with errors

    @property
    def sb_app(self) -> SwitchboardApp:
        return self.app  # type: ignore[return-value]

    # -- layout -----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        approval = self.approval
        blink = getattr(self.app, "cursor_blink", True)
        yield StatusHeader(self.TITLE)
        with Vertical(id="form-root"):
            yield Static(self._title_text(), id="form-title")
            yield Static("", id="form-banner", markup=False)
            with Horizontal(id="form-main"):
                with VerticalScroll(id="form-fields"):
                    prompt = approval.prompt or approval.request_reason or ""
                    if prompt:
                        yield Static(prompt, id="form-prompt", markup=False)
                    for index, spec in enumerate(self.fields):
                        yield FieldBox(spec, index, build_widget(spec, index, blink))
                    if not self.fields:
                        yield Static("No fields: ctrl+s approves; x (or ctrl+r) rejects and "
                                     "asks why.", classes="field-help")
                    elif any(f.is_required for f in self.fields):
                        yield Static("* required", classes="field-help")
                with VerticalScroll(id="form-context"):
                    yield Label("Agent context", classes="pane-title")
                    yield Static(self._context_text(), id="form-context-text", markup=False)
        yield Footer(compact=True)

    def _title_text(self) -> Text:
        a = self.approval
        what = "human gate" if a.kind == "gate" else "task approval"
        subject = f"run {short_id(a.run_id)} step {a.step_id}" if a.kind == "gate" else \
            f"task {short_id(a.task_id)}"
        return Text.assemble((f" {a.priority} ", "bold reverse"), f" {what} · {subject} · ",
                             (short_id(a.approval_id) if a.approval_id else "", "dim"))

    def _context_text(self) -> str:
        a = self.approval
        parts = []
        if a.agent_context:
            parts.append(a.agent_context)
        if a.kind != "gate" and a.request_reason:
            parts.append(f"Reason: {a.request_reason}")
        parts.append(f"Requested {datetime_text(a.created_at)}")
        if a.expires_at:
            parts.append(f"Expires {datetime_text(a.expires_at)} ({a.timeout_action} on timeout)")
        if a.assignees:
            parts.append(f"Assigned to: {', '.join(a.assignees)}")
        elif a.allowed_roles:
            parts.append(f"Who may answer: {', '.join(a.allowed_roles)}")
        if a.quorum > 1:
            voters = ", ".join(f"{v.by} ({v.decision})" for v in a.votes)
            parts.append(f"Votes: {a.progress}" + (f" ({voters})" if voters else "")
                         + f"; {a.quorum} distinct people decide it")
        return "\n\n".join(parts) if parts else "(no context given)"

    def on_mount(self) -> None:
        for index in range(len(self.fields)):
            try:
                self.query_one(f"#field-{index}").focus()
                break
            except Exception:
                continue

    # -- decided elsewhere ------------------------------------------------------------------
    @on(ApprovalDecided)
    def _decided(self, message: ApprovalDecided) -> None:
        if message.approval_id != self.approval.approval_id or self._submitting:
            return
        who = f" by {message.decided_by}" if message.decided_by else ""
        self.mark_decided(f"{message.status}{who}")

    def mark_decided(self, how: str) -> None:
        self.decided_elsewhere = how
        self._attention = False
        banner = self.query_one("#form-banner", Static)
        banner.update(f"DECIDED ELSEWHERE: this approval was {how}. Nothing will be "
                      "submitted; esc closes the form.")
        banner.add_class("-shown", "-warning")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "reject_x" and self.fields:
            return False  # x is a letter a field may want: with fields, ctrl+r rejects
        if action in ("reject", "reject_x"):
            if self.sb_app.read_only or not self.approval.approval_id:
                return False  # an older run's gate without an approval record: answer only
            if self.decided_elsewhere:
                return None
            return True
        if action == "submit":
            if self.sb_app.read_only:
                return False
            if self.decided_elsewhere:
                return None  # shown disabled
        return True

    # -- live re-checks ---------------------------------------------------------------------
    @on(Input.Changed)
    @on(Select.Changed)
    @on(SelectionList.SelectedChanged)
    @on(Switch.Changed)
    @on(TextArea.Changed)
    def _field_changed(self, event: Any) -> None:
        widget = event.control
        box = next((a for a in widget.ancestors if isinstance(a, FieldBox)), None)
        if box is None:
            return
        shown = bool(box.query_one(f"#error-{box.index}", Static).has_class("-shown"))
        if shown or box.spec.type == "number":
            _, error = check_value(box.spec, widget_value(widget))
            box.set_error(error)
            self._recount_errors()

    def _recount_errors(self) -> None:
        """Keep "n fields need attention" true as fields are fixed (it stayed after the
        field was corrected)."""
        if not self._attention:
            return
        count = sum(1 for box in self.query(FieldBox)
                    if box.query_one(f"#error-{box.index}", Static).has_class("-shown"))
        if count:
            self._banner(attention_text(count), warning=True, attention=True)
        else:
            self._attention = False
            banner = self.query_one("#form-banner", Static)
            banner.update("")
            banner.remove_class("-shown", "-warning")

    # -- submit -----------------------------------------------------------------------------
    def collect(self) -> tuple[dict[str, Any], dict[int, str]]:
        values: dict[str, Any] = {}
        errors: dict[int, str] = {}
        for index, spec in enumerate(self.fields):
            box = self.query_one(f"#box-{index}", FieldBox)
            value, error = check_value(spec, widget_value(box.widget))
            box.set_error(error)
            if error:
                errors[index] = error
            else:
                values[spec.name] = value
        return values, errors

    def action_submit(self) -> None:
        if self.sb_app.read_only:
            self.notify("read-only mode: answering approvals is disabled", severity="warning")
            return
        if self.decided_elsewhere:
            self.notify(f"already {self.decided_elsewhere}; nothing submitted", severity="warning")
            return
        values, errors = self.collect()
        if errors:
            first = min(errors)
            self.query_one(f"#field-{first}").focus()
            self._banner(attention_text(len(errors)), warning=True, attention=True)
            return
        self.run_worker(self._submit(values), group="submit", exclusive=True,
                        exit_on_error=False)

    async def _submit(self, values: dict[str, Any]) -> None:
        from switchboard.console.dialogs.confirm import ConfirmDialog

        approval = self.approval
        if approval.priority == "P0":
            ok = await self.app.push_screen_wait(ConfirmDialog(
                "Approve a P0 (critical) item?",
                f"{one_line(approval.request_reason or approval.prompt, 200)}\n\nApproval "
                f"{approval.approval_id}.", confirm="Approve"))
            if not ok:
                return
        self._submitting = True
        result = None
        try:
            if approval.kind == "gate" and not approval.approval_id and self.run_id:
                await self.sb_app.backend.resume_run(self.run_id, values)
            elif approval.kind == "gate":
                result = await self.sb_app.backend.submit_gate(approval.approval_id, values)
            else:
                result = await self.sb_app.backend.approve(approval.approval_id)
        except BackendError as exc:
            self._submitting = False
            if self.sb_app.note_backend_error(exc):
                self._banner("UNAUTHORIZED: the server refused the token - ctrl+l logs in "
                             "again, then ctrl+s sends this form", warning=True)
                return
            if exc.conflict:
                self.mark_decided(exc.detail.removeprefix(f"approval {approval.approval_id} is "))
                return
            if exc.field:
                name = exc.field.split(".")[-1]
                for index, spec in enumerate(self.fields):
                    if spec.name == name:
                        self.query_one(f"#box-{index}", FieldBox).set_error(
                            exc.detail.split(": ", 1)[-1])
                        self.query_one(f"#field-{index}").focus()
                        break
            self._banner(exc.detail, warning=True)
            return
        self._submitting = False
        if result is not None and not result.final:  # a quorum vote: not approved yet
            self.notify(f"{result.words('approve')} {short_id(approval.approval_id)}",
                        timeout=4)
        else:
            self.notify("answer sent" if approval.kind == "gate" else
                        f"approved {short_id(approval.approval_id)}", timeout=3)
        self.dismiss(True)

    def _banner(self, text: str, *, warning: bool = False, attention: bool = False) -> None:
        self._attention = attention
        banner = self.query_one("#form-banner", Static)
        banner.update(text)
        banner.add_class("-shown")
        banner.set_class(warning, "-warning")

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_reject_x(self) -> None:
        self.action_reject()

    def action_reject(self) -> None:
        self.run_worker(self._reject(), group="submit", exclusive=True, exit_on_error=False)

    async def _reject(self) -> None:
        from switchboard.console.dialogs.prompt import PromptDialog

        approval = self.approval
        reason = await self.app.push_screen_wait(PromptDialog(
            f"Reject {approval.priority} {'gate' if approval.kind == 'gate' else 'task'} "
            "approval?", "Reason (recorded and shown to whoever asked)",
            body=one_line(approval.request_reason or approval.prompt, 300), required=True,
            submit_hint="enter rejects, esc cancels"))
        if reason is None:
            return
        self._submitting = True
        try:
            result = await self.sb_app.backend.reject(approval.approval_id, reason=reason)
        except BackendError as exc:
            self._submitting = False
            if self.sb_app.note_backend_error(exc):
                return
            if exc.conflict:
                self.mark_decided(exc.detail.removeprefix(f"approval {approval.approval_id} is "))
                return
            self._banner(exc.detail, warning=True)
            return
        self._submitting = False
        self.notify(f"{result.words('reject')} {short_id(approval.approval_id)}", timeout=3)
        self.dismiss(True)


def approval_from_run(run: Run) -> Approval:
    """A form for a paused run without an approval record (older runners)."""
    gate = run.human_input_required
    gate = gate if isinstance(gate, HumanInputRequired) else HumanInputRequired()
    return Approval(approval_id=run.approval_id or "", kind=ApprovalKind.GATE,
                    priority=Priority.P2, status=ApprovalStatus.PENDING, run_id=run.run_id,
                    step_id=gate.step_id, prompt=gate.prompt, fields=gate.fields,
                    agent_context=gate.agent_context, created_at=run.updated_at)


__all__ = ["GateFormScreen", "approval_from_run", "check_value", "pretty_json"]
