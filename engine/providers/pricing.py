"""Cost of a model call from its token usage and the configured price table.

Why a lookup with fallbacks: APIs report dated model names (``gpt-4o-mini-2024-07-18``) and
routers prefix them (``openai/gpt-4o``); the operator's table lists the base names. The
longest table entry the model name starts with wins, so ``gpt-4o-mini-...`` never gets
``gpt-4o``'s price.
"""

from __future__ import annotations

from collections.abc import Mapping

from switchboard.engine.providers.base import Usage

Prices = Mapping[str, Mapping[str, float]]
"""USD per 1M tokens: ``{"gpt-4o-mini": {"input": 0.15, "output": 0.60}}``."""


def price_for(model: str, prices: Prices) -> Mapping[str, float] | None:
    """The price entry for ``model``: exact, then without a ``vendor/`` prefix, then the
    longest entry that the name starts with. None if the model is not priced."""
    candidates = [model]
    if "/" in model:
        candidates.append(model.rsplit("/", 1)[1])
    for name in candidates:
        if name in prices:
            return prices[name]
    for name in candidates:
        best = max((key for key in prices if name.startswith(key)), key=len, default=None)
        if best is not None:
            return prices[best]
    return None


def compute_cost(usage: Usage, model: str, prices: Prices) -> float:
    """USD for ``usage`` on ``model``; 0.0 for unpriced models (rounded to 1e-6)."""
    price = price_for(model, prices)
    if price is None:
        return 0.0
    cost = (usage.input_tokens * float(price.get("input", 0.0))
            + usage.output_tokens * float(price.get("output", 0.0))) / 1_000_000
    return round(cost, 6)
