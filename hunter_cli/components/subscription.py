"""`subscription`: check the balance, or charge an explicit amount, through the ledger."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from hunter_cli import ledger
from hunter_cli.components.base import StepContext, StepError
from hunter_cli.db.types import to_credits


class SubscriptionStep:
    type: ClassVar[str] = "subscription"
    lazy_params: ClassVar[frozenset[str]] = frozenset()

    def run(self, params: dict[str, Any], ctx: StepContext) -> Any:
        operation = params["operation"]
        sub = ledger.active_subscription(ctx.session, ctx.customer)
        if operation == "check_balance":
            available = sub.credits_available
            minimum = params.get("minimum")
            if minimum is not None and available < to_credits(minimum):
                raise StepError(f"available credits {available} are below the minimum {minimum}")
            return {
                "available": str(available),
                "plan": sub.plan.name,
                "period_end": sub.period_end.isoformat(),
            }
        # charge: a separate hold and capture under this step's own key, so a retried step
        # cannot charge twice.
        amount = to_credits(params["amount"])
        key = f"exec:{ctx.execution_id}:step:{ctx.step_id}:charge"
        charge_id = uuid.uuid5(uuid.NAMESPACE_URL, key)
        ledger.reserve_credits(
            ctx.session,
            ctx.customer,
            amount,
            execution_id=ctx.execution_id,
            actor=ctx.actor,
            idempotency_key=f"{key}:reserve",
            reason=params.get("reason") or f"charge by step {ctx.step_id}",
        )
        ledger.capture_credits(
            ctx.session,
            ctx.execution_id,
            amount,
            actor=ctx.actor,
            idempotency_key=f"{key}:capture",
            release_rest=False,
        )
        return {
            "charged": str(amount),
            "charge_id": str(charge_id),
            "available": str(
                ledger.active_subscription(ctx.session, ctx.customer).credits_available
            ),
        }

    def plan(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        if params.get("operation") == "charge":
            return {"provider": "ledger", "charges": str(params.get("amount"))}
        return {"provider": "ledger"}
