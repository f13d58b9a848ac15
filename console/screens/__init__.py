"""The console's views, one module each; ``MODE_SCREENS`` maps mode names to them."""

from __future__ import annotations

from switchboard.console.screens.agents import AgentsScreen
from switchboard.console.screens.approvals import ApprovalsScreen
from switchboard.console.screens.events import EventsScreen
from switchboard.console.screens.orchestrations import OrchestrationsScreen
from switchboard.console.screens.overview import OverviewScreen
from switchboard.console.screens.runs import RunsScreen
from switchboard.console.screens.tasks import TasksScreen

MODE_SCREENS = {
    "overview": OverviewScreen,
    "runs": RunsScreen,
    "tasks": TasksScreen,
    "agents": AgentsScreen,
    "approvals": ApprovalsScreen,
    "events": EventsScreen,
    "orchestrations": OrchestrationsScreen,
}
