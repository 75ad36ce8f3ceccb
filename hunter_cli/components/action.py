"""`action`: one step type, several actions, each in its own module and registered here."""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

from hunter_cli.components.base import StepContext, StepError

# action -> "module:Class". The one place a new action is registered.
ACTIONS: dict[str, str] = {
    "lead_search": "hunter_cli.components.actions.lead_search:LeadSearch",
    "waterfall": "hunter_cli.components.actions.waterfall:Waterfall",
    "api_call": "hunter_cli.components.actions.api_call:ApiCall",
    "db_query": "hunter_cli.components.actions.db_query:DbQuery",
    "data_processing": "hunter_cli.components.actions.data_processing:DataProcessing",
    "scoring": "hunter_cli.components.actions.scoring:Scoring",
}

_loaded: dict[str, Any] = {}


def get_action(name: str) -> Any:
    if name not in _loaded:
        target = ACTIONS.get(name)
        if target is None:
            raise StepError(
                f"unknown action {name!r}; known actions: " + ", ".join(sorted(ACTIONS))
            )
        module_name, class_name = target.split(":")
        _loaded[name] = getattr(importlib.import_module(module_name), class_name)()
    return _loaded[name]


class ActionStep:
    type: ClassVar[str] = "action"
    # Expressions evaluated per item (`where`) and per-rule values stay unrendered here.
    lazy_params: ClassVar[frozenset[str]] = frozenset({"where", "rules"})

    def run(self, params: dict[str, Any], ctx: StepContext) -> Any:
        return get_action(params["action"]).run(params, ctx)

    def plan(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        return get_action(params["action"]).plan(params, ctx)
