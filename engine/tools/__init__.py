"""Tools for agents and ``tool`` steps: a registry, offline built-ins, ``http``, an
allow-listed ``command`` and allow-listed Python ``module:function`` callables."""

from __future__ import annotations

from switchboard.engine.clock import Clock
from switchboard.engine.config import HttpToolConfig, OrchestrationsConfig
from switchboard.engine.tools.builtin import SIMULATED_NOTICE, builtin_tools
from switchboard.engine.tools.command import command_tool
from switchboard.engine.tools.http import http_tool
from switchboard.engine.tools.python import callable_tool, python_resolver
from switchboard.engine.tools.registry import (
    Tool,
    ToolContext,
    ToolError,
    ToolRegistry,
    ToolResult,
    UnknownToolError,
    check_arguments,
)


def build_tools(config: OrchestrationsConfig, clock: Clock | None = None, *,
                http: HttpToolConfig | None = None) -> ToolRegistry:
    """The registry a server starts with: built-ins and ``http`` (under ``http``'s outbound
    policy: ``[tools.http]``) always; ``command`` only when ``tool_commands`` lists
    executables; ``module:function`` names per ``tool_python``."""
    registry = ToolRegistry(resolver=python_resolver(config.tool_python))
    for tool in builtin_tools(clock):
        registry.register(tool)
    registry.register(http_tool(http))
    if config.tool_commands:
        registry.register(command_tool(config.tool_commands))
    return registry


__all__ = [
    "SIMULATED_NOTICE",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "UnknownToolError",
    "build_tools",
    "builtin_tools",
    "callable_tool",
    "check_arguments",
    "command_tool",
    "http_tool",
    "python_resolver",
]
