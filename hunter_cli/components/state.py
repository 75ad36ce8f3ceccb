"""`state`: set, append to or merge values in the run's shared state."""

from __future__ import annotations

from typing import Any, ClassVar

from hunter_cli.components.base import StepContext, StepError


class StateStep:
    type: ClassVar[str] = "state"
    lazy_params: ClassVar[frozenset[str]] = frozenset()

    def run(self, params: dict[str, Any], ctx: StepContext) -> Any:
        state: dict[str, Any] = ctx.template_context["state"]
        # Work on a copy: the shared state changes only if the whole step succeeds.
        updated = dict(state)
        for key, value in (params.get("set") or {}).items():
            updated[key] = value
        for key, value in (params.get("append") or {}).items():
            current = updated.get(key, [])
            if not isinstance(current, list):
                raise StepError(f"cannot append to state.{key}: it is not a list")
            updated[key] = [*current, *(value if isinstance(value, list) else [value])]
        for key, value in (params.get("merge") or {}).items():
            current = updated.get(key, {})
            if not isinstance(current, dict) or not isinstance(value, dict):
                raise StepError(f"cannot merge into state.{key}: both must be mappings")
            updated[key] = {**current, **value}
        state.clear()
        state.update(updated)
        return dict(updated)

    def plan(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        return {
            "provider": None,
            "changes": sorted(
                {*params.get("set", {}), *params.get("append", {}), *params.get("merge", {})}
            ),
        }
