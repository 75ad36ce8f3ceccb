"""`subscription`: check the balance, or charge an explicit amount, through the ledger."""

from __future__ import annotations

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
                raise StepError(
                    f"available credits {available} are below the minimum {minimum} (what is "
                    "left after this run's hold for its own steps)"
                )
            return {
                "available": str(available),
                "plan": sub.plan.name,
                "period_end": sub.period_end.isoformat(),
            }
        # charge: the amount is part of the step's price (estimate_step_credits), so it is
        # held with the run's hold and captured with the rest when the run closes: a retried
        # or resumed step cannot charge twice, and a run that cannot afford it never starts.
        from hunter_cli.audit import append_audit

        charged = str(to_credits(params["amount"]))
        reason = params.get("reason") or f"charge by step {ctx.step_id}"
        # The ledger has the run's one capture; this entry says what part of it and why.
        append_audit(
            ctx.session,
            "credits.charge",
            actor=ctx.actor,
            customer_id=ctx.customer_id,
            execution_id=ctx.execution_id,
            details={"step": ctx.step_id, "amount": charged, "reason": reason},
        )
        return {"charged": charged, "reason": reason, "available": str(sub.credits_available)}

    def plan(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        if params.get("operation") == "charge":
            # Quantized like every other amount of credits ("150.0000", not "150").
            return {"provider": "ledger", "charges": str(to_credits(params["amount"]))}
        entry: dict[str, Any] = {"provider": "ledger"}
        minimum = params.get("minimum")
        if isinstance(minimum, int | float) and not isinstance(minimum, bool):
            available = ledger.active_subscription(ctx.session, ctx.customer).credits_available
            available -= to_credits(ctx.meta.get("held_by_run", 0))  # as the run would see it
            if available < to_credits(minimum):
                entry["problem"] = (
                    f"available credits {available} (after this run's hold) are below the "
                    f"minimum {minimum}"
                )
        return entry
