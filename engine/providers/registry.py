"""Which providers exist, what each can do, and which one is the default.

Why a registry object rather than module globals: seed 002's ``/providers/switch`` changes
the default at runtime, tests build their own, and the executor resolves an agent step's
``provider`` (or the default when it names none) in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from switchboard.engine.config import ProvidersConfig
from switchboard.engine.providers.adk import ADKProvider
from switchboard.engine.providers.base import Provider, unavailable_reason
from switchboard.engine.providers.builtin import BuiltinProvider
from switchboard.engine.providers.mcp import MCPProvider
from switchboard.engine.providers.openai import OpenAIProvider

log = logging.getLogger("switchboard.providers")


class UnknownProviderError(KeyError):
    """No provider by that name; the message lists the ones that exist."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown provider {name!r}; available: {', '.join(known)}")

    def __str__(self) -> str:
        return str(self.args[0])


class ProviderRegistry:
    """Named providers plus a switchable default."""

    def __init__(self, default: str = "builtin") -> None:
        self._providers: dict[str, Provider] = {}
        self._default = default

    def register(self, provider: Provider) -> None:
        self._providers[provider.name] = provider

    def names(self) -> list[str]:
        return list(self._providers)

    def __contains__(self, name: object) -> bool:
        return name in self._providers

    @property
    def default(self) -> str:
        return self._default

    def get(self, name: str | None = None) -> Provider:
        """The named provider, or the default for None. Raises UnknownProviderError."""
        key = name or self._default
        provider = self._providers.get(key)
        if provider is None:
            raise UnknownProviderError(key, self.names())
        return provider

    def set_default(self, name: str) -> None:
        """Make ``name`` the default. Raises UnknownProviderError, or ValueError if it is
        registered but not usable (e.g. its API key is missing)."""
        provider = self.get(name)
        if not provider.available():
            raise ValueError(f"provider {name!r} is not available: {unavailable_reason(provider)}")
        self._default = name

    def switch(self, name: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Seed 002's ``POST /providers/switch``: set the default and apply ``config``
        (``timeout`` in milliseconds as the seed shows, ``max_retries``)."""
        provider = self.get(name)
        if options:
            settings: dict[str, Any] = {}
            if options.get("timeout") is not None:
                settings["timeout_seconds"] = float(options["timeout"]) / 1000.0
            if options.get("max_retries") is not None:
                settings["max_retries"] = int(options["max_retries"])
            configure = getattr(provider, "configure", None)
            if settings and callable(configure):
                configure(**settings)
        self.set_default(name)
        return {"success": True, "provider": name, "default": self._default}

    def describe(self) -> dict[str, Any]:
        """Seed 002's ``GET /providers`` shape; an unavailable provider also says why
        (``reason``: a missing extra and how to install it, a missing key, ...)."""
        out: dict[str, Any] = {}
        for name, provider in self._providers.items():
            entry: dict[str, Any] = {
                "name": provider.display_name,
                "available": provider.available(),
                "features": {
                    "generation": provider.features.generation,
                    "execution": provider.features.execution,
                    "refinement": provider.features.refinement,
                    "streaming": provider.features.streaming,
                    "compose": provider.features.compose,
                },
            }
            if not entry["available"]:
                entry["reason"] = unavailable_reason(provider)
            out[name] = entry
        return {"providers": out, "default": self._default}

    async def start(self, tools: Any, *, log_dir: Path | None = None) -> None:
        """Let providers that bring tools (mcp) connect and register them in ``tools``
        (the engine's ToolRegistry); called by the engine before definitions load, so
        definitions that name those tools validate."""
        for provider in self._providers.values():
            start = getattr(provider, "start", None)
            if callable(start):
                await start(tools, log_dir=log_dir)

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()


def build_providers(
    config: ProvidersConfig, env: Mapping[str, str] | None = None
) -> ProviderRegistry:
    """The builtin, openai, mcp and adk providers from config (mcp and adk are listed even
    without their extras, as unavailable with the reason). If the configured default is unknown
    or unusable, fall back to builtin (logged) so a fresh install always runs offline."""
    registry = ProviderRegistry(default="builtin")
    registry.register(BuiltinProvider())
    registry.register(OpenAIProvider.from_config(config.openai, env=env))
    registry.register(MCPProvider(config.mcp, registry.get, env=env))
    registry.register(ADKProvider(config.adk, env=env))
    try:
        registry.set_default(config.default)
    except (UnknownProviderError, ValueError) as exc:
        log.warning("default provider %r not usable (%s); using builtin", config.default, exc)
    return registry
