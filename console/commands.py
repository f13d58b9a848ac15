"""Command-palette entries (ctrl+p): every view and help (Quit is Textual's system entry,
which the app replaces with one that asks first)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

VIEW_HELP = {
    "overview": "Counts, sparklines, the latest events",
    "runs": "Orchestration runs, live",
    "tasks": "The task queue by priority and status",
    "agents": "Agent health, load and success rate",
    "approvals": "Everything waiting for a human decision",
    "events": "The live event tail",
    "orchestrations": "Definitions and their validation state",
}


class SwitchboardCommands(Provider):
    def _entries(self) -> list[tuple[str, str, object]]:
        app = self.app
        out: list[tuple[str, str, object]] = []
        for index, (name, help_text) in enumerate(VIEW_HELP.items(), start=1):
            out.append((f"Go to {name.title()} ({index})", help_text,
                        partial(app.action_view, name)))  # type: ignore[attr-defined]
        out.append(("Help for this view (?)", "Keys and what the view shows",
                    app.action_help))  # type: ignore[attr-defined]
        return out

    async def discover(self) -> Hits:
        for name, help_text, callback in self._entries():
            yield DiscoveryHit(name, callback, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._entries():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)  # type: ignore[arg-type]
