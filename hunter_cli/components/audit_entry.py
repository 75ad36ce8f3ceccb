"""`audit`: write a custom entry to the audit trail (redacted and hash-chained as any other)."""

from __future__ import annotations

from typing import Any, ClassVar

from hunter_cli.components.base import StepContext


class AuditStep:
    type: ClassVar[str] = "audit"
    lazy_params: ClassVar[frozenset[str]] = frozenset()

    def run(self, params: dict[str, Any], ctx: StepContext) -> Any:
        action = f"recipe.{params['action']}"
        ctx.audit(action, dict(params.get("details") or {}))
        return {"action": action}

    def plan(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        return {"provider": None, "writes": f"audit entry recipe.{params.get('action')}"}
