"""`hunter credits`: balances, grants, the ledger, and the ledger check."""

from __future__ import annotations

from typing import Annotated

import typer

from hunter_cli.cli.output import (
    console,
    emit,
    fmt_credits,
    fmt_credits_column,
    handle_errors,
    note_more,
    table,
)
from hunter_cli.cli.params import (
    CustomerFilterOption,
    JsonOption,
    database_of,
    given_customer,
    settings_of,
)

app = typer.Typer(help="Prepaid credits: balances, grants and the ledger.", no_args_is_help=True)


@app.command("show")
@handle_errors
def show(
    ctx: typer.Context, customer: CustomerFilterOption = None, json_output: JsonOption = False
) -> None:
    """Per subscription: plan, period, allowance, granted, used, held and available credits.

    Without --customer, every customer's subscriptions are shown.
    """
    from hunter_cli import ledger
    from hunter_cli.customers import resolve_customer

    db = database_of(settings_of(ctx))
    with db.session() as session:
        who = resolve_customer(session, customer) if customer else None
        balances = ledger.balances(session, who)

    from hunter_cli.db.types import utcnow

    now = utcnow()

    def render() -> None:
        if not balances:
            console.print(
                "No subscriptions yet: `hunter seed` loads the demo customers, `hunter "
                "customers add SLUG --plan PLAN` adds one of your own."
            )
            return
        console.print(
            table(
                "Credits",
                [
                    "customer",
                    "plan",
                    "period ends",
                    "allowance",
                    "granted",
                    "used",
                    "held",
                    "available",
                ],
                [
                    (
                        b.customer,
                        b.plan if b.status == "active" else f"{b.plan} ({b.status})",
                        # An ended period renews (and unused credits expire) on next use.
                        f"{b.period_end.date()} (ended)"
                        if b.period_end <= now
                        else b.period_end.date(),
                        *map(fmt_credits, (b.allowance, b.granted, b.used, b.held, b.available)),
                    )
                    for b in balances
                ],
                justify={k: "right" for k in ("allowance", "granted", "used", "held", "available")},
            )
        )
        if any(not b.rollover for b in balances):
            console.print(
                "Unused credits expire at the end of the period unless the plan rolls them over.",
                style="dim",
            )

    emit([b.to_dict() for b in balances], json_output=json_output, render=render)


@app.command("grant")
@handle_errors
def grant(
    ctx: typer.Context,
    customer: Annotated[str, typer.Argument(help="Customer slug, name or id.")],
    amount: Annotated[str, typer.Argument(help="Credits to add, e.g. 25 or 2.50.")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (kept in the ledger).")],
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="Run twice with the same key: one grant."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Add credits to a customer's active subscription."""
    from hunter_cli import ledger
    from hunter_cli.customers import resolve_customer

    settings = settings_of(ctx)
    db = database_of(settings)
    with db.session() as session:
        who = resolve_customer(session, customer)
        tx = ledger.grant_credits(
            session,
            who,
            amount,
            reason=reason,
            actor=settings.actor,
            idempotency_key=idempotency_key,
        )
        data = _tx_dict(tx, who.slug)
        data["already_applied"] = tx.replayed
        # A replay's row holds the balance of its day; say what is available now.
        data["available"] = str(ledger.active_subscription(session, who).credits_available)

    def render() -> None:
        if tx.replayed:
            console.print(
                f"Already granted under this idempotency key on {data['created_at'][:19]}: "
                f"{fmt_credits(data['amount'])} credits to {who.slug}; nothing added. "
                f"Available now {fmt_credits(data['available'])}."
            )
            return
        console.print(
            f"Granted {fmt_credits(data['amount'])} credits to {who.slug}; "
            f"available now {fmt_credits(data['available'])}."
        )

    emit(data, json_output=json_output, render=render)


@app.command("history")
@handle_errors
def history(
    ctx: typer.Context,
    customer: Annotated[
        str | None,
        typer.Argument(
            help="Customer slug, name or id (default: default_customer).",
            callback=given_customer,
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Newest N rows.")] = 50,
    json_output: JsonOption = False,
) -> None:
    """The credits ledger of a customer, newest first."""
    from hunter_cli import ledger
    from hunter_cli.customers import resolve_customer

    settings = settings_of(ctx)
    db = database_of(settings)
    with db.session() as session:
        who = resolve_customer(
            session,
            customer or settings.default_customer,
            missing="give it as the argument (hunter credits history CUSTOMER)",
        )
        # One more than asked for tells whether there are more.
        rows = [_tx_dict(tx, who.slug) for tx in ledger.history(session, who, limit + 1)]
    more = len(rows) > limit
    rows = rows[:limit]

    def render() -> None:
        if not rows:
            console.print(f"No ledger entries for {who.slug}.")
            return
        amounts = fmt_credits_column([r["amount"] for r in rows])
        after = fmt_credits_column([r["balance_after"] for r in rows])
        console.print(
            table(
                f"Ledger: {who.slug}",
                ["when", "kind", "amount", "available after", "execution", "reason"],
                [
                    (
                        r["created_at"][:16].replace("T", " "),
                        r["kind"],
                        amount,
                        balance,
                        (r["execution_id"] or "")[:8],
                        r["reason"],
                    )
                    for r, amount, balance in zip(rows, amounts, after, strict=True)
                ],
                justify={"amount": "right", "available after": "right"},
            )
        )

    emit(rows, json_output=json_output, render=render)
    if more:
        note_more(limit, json_output=json_output)


@app.command("check")
@handle_errors
def check(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Recompute every balance from the ledger and compare it with the subscriptions.

    Exit code 7 when they disagree.
    """
    from hunter_cli import ledger
    from hunter_cli.errors import IntegrityError

    db = database_of(settings_of(ctx))
    with db.session() as session:
        problems = ledger.check_ledger(session)
    if problems:
        first = problems[0]
        raise IntegrityError(
            f"ledger and balances disagree for {first.customer}: {first.field} is "
            f"{first.row} {first.where} but {first.ledger} in the ledger "
            f"({len(problems)} mismatch(es))",
            details={"mismatches": [p.to_dict() for p in problems]},
        )
    emit(
        {"ok": True},
        json_output=json_output,
        render=lambda: console.print("Ledger and balances agree."),
    )


def _tx_dict(tx, customer_slug: str) -> dict:
    return {
        "id": str(tx.id),
        "customer": customer_slug,
        "kind": tx.kind,
        "amount": str(tx.amount),
        "balance_after": str(tx.balance_after),
        "execution_id": str(tx.execution_id) if tx.execution_id else None,
        "idempotency_key": tx.idempotency_key,
        "reason": tx.reason,
        "actor": tx.actor,
        "created_at": tx.created_at.isoformat(),
    }
