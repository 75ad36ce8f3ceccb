"""Step types, registered in one table. Modules load on first use, so start-up stays fast."""

from __future__ import annotations

import importlib
from decimal import Decimal
from typing import Any

from hunter_cli.components.base import Component

# type -> "module:Class". The one place a new step type is registered.
COMPONENTS: dict[str, str] = {
    "ai": "hunter_cli.components.ai:AiStep",
    "action": "hunter_cli.components.action:ActionStep",
    "correspondence": "hunter_cli.components.correspondence:CorrespondenceStep",
    "state": "hunter_cli.components.state:StateStep",
    "audit": "hunter_cli.components.audit_entry:AuditStep",
    "subscription": "hunter_cli.components.subscription:SubscriptionStep",
}

# A component step costs 0.01 credits unless the recipe says otherwise (the original
# system's price).
DEFAULT_STEP_CREDITS = Decimal("0.01")
DEFAULT_MAX_TOKENS = 1024

_loaded: dict[str, Component] = {}


def get_component(step_type: str) -> Component:
    if step_type not in _loaded:
        target = COMPONENTS.get(step_type)
        if target is None:
            known = ", ".join(sorted(COMPONENTS))
            raise KeyError(f"unknown step type {step_type!r}; known types: {known}")
        module_name, class_name = target.split(":")
        _loaded[step_type] = getattr(importlib.import_module(module_name), class_name)()
    return _loaded[step_type]


def estimate_step_credits(step: dict[str, Any]) -> Decimal:
    """A step's price, or for per-token pricing the most it can cost (its max_tokens); for a
    waterfall, the sum of its providers' prices (it may have to ask every one)."""
    from hunter_cli.db.types import to_credits

    providers = step.get("providers")
    if (
        step.get("type") == "action"
        and step.get("action") == "waterfall"
        and isinstance(providers, list)
    ):
        return sum(
            (
                to_credits(entry.get("credits", DEFAULT_STEP_CREDITS))
                for entry in providers
                if isinstance(entry, dict)
            ),
            to_credits(0),
        )
    credits = step.get("credits", DEFAULT_STEP_CREDITS)
    amount = step.get("amount")
    if (
        step.get("type") == "subscription"
        and step.get("operation") == "charge"
        and isinstance(amount, int | float | Decimal)
        and not isinstance(amount, bool)
    ):
        # An explicit charge is part of what the run costs: held with the rest, charged as
        # the step's price.
        return to_credits(credits) + to_credits(amount)
    if isinstance(credits, dict):
        per_1k = Decimal(str(credits.get("per_1k_tokens", 0)))  # a rate: not rounded yet
        max_tokens = int(step.get("max_tokens") or DEFAULT_MAX_TOKENS)
        return to_credits(per_1k * max_tokens / 1000)
    return to_credits(credits)
