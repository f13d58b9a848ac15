"""The console's views, one module each; ``MODE_SCREENS`` maps mode names to them."""

from __future__ import annotations

from console.screens.agents import AgentsScreen
from console.screens.approvals import ApprovalsScreen
from console.screens.events import EventsScreen
from console.screens.orchestrations import OrchestrationsScreen
from console.screens.overview import OverviewScreen
from console.screens.runs import RunsScreen
from console.screens.tasks import TasksScreen

MODE_SCREENS = {
    "overview": OverviewScreen,
    "runs": RunsScreen,
    "tasks": TasksScreen,
    "agents": AgentsScreen,
    "approvals": ApprovalsScreen,
    "events": EventsScreen,
    "orchestrations": OrchestrationsScreen,
}
