"""`hunter customers` and `hunter plans`."""

from __future__ import annotations

from typing import Any

import typer

from hunter_cli.cli.output import console, emit, fmt_credits, handle_errors, table
from hunter_cli.cli.params import JsonOption, database_of, settings_of

customers_app = typer.Typer(help="Customers: who recipes run for.", no_args_is_help=True)
plans_app = typer.Typer(
    help="Subscription plans and their credit allowances.", no_args_is_help=True
)


@customers_app.command("list")
@handle_errors
def list_customers(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """List customers with their plan and available credits."""
    from hunter_cli import customers, ledger

    db = database_of(settings_of(ctx))
    with db.session() as session:
        rows = []
        for customer in customers.list_customers(session):
            balances = ledger.balances(session, customer)
            active = next((b for b in balances if b.status == "active"), None)
            rows.append(
                {
                    "id": str(customer.id),
                    "slug": customer.slug,
                    "name": customer.name,
                    "email": customer.email,
                    "plan": active.plan if active else None,
                    "available": str(active.available) if active else None,
                    "created_at": customer.created_at.isoformat(),
                }
            )

    def render() -> None:
        if not rows:
            console.print("No customers yet: run `hunter seed`.")
            return
        console.print(
            table(
                "Customers",
                ["slug", "name", "email", "plan", "available"],
                [
                    (r["slug"], r["name"], r["email"], r["plan"], fmt_credits(r["available"]))
                    for r in rows
                ],
                justify={"available": "right"},
            )
        )

    emit(rows, json_output=json_output, render=render)


@plans_app.command("list")
@handle_errors
def list_plans(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """List subscription plans: monthly credits, price, and whether credits roll over."""
    from sqlalchemy import select

    from hunter_cli.db.models import SubscriptionPlan

    db = database_of(settings_of(ctx))
    with db.session() as session:
        plans = session.scalars(
            select(SubscriptionPlan).order_by(SubscriptionPlan.monthly_credits)
        ).all()
        rows: list[dict[str, Any]] = [
            {
                "slug": p.slug,
                "name": p.name,
                "monthly_credits": str(p.monthly_credits),
                "price": str(p.price),
                "currency": p.currency,
                "rollover": p.rollover,
                "created_at": p.created_at.isoformat(),
            }
            for p in plans
        ]

    def render() -> None:
        if not rows:
            console.print("No plans yet: run `hunter seed`.")
            return
        console.print(
            table(
                "Plans",
                ["slug", "name", "monthly credits", "price", "rollover"],
                [
                    (
                        r["slug"],
                        r["name"],
                        fmt_credits(r["monthly_credits"]),
                        f"{fmt_credits(r['price'])} {r['currency']}",
                        "yes" if r["rollover"] else "no",
                    )
                    for r in rows
                ],
                justify={"monthly credits": "right", "price": "right"},
            )
        )

    emit(rows, json_output=json_output, render=render)
