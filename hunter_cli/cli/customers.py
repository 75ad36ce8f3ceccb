"""`hunter customers` and `hunter plans`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hunter_cli.cli.output import console, emit, fmt_credits, handle_errors, printable, table
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
            console.print(
                "No customers yet: `hunter seed` loads the demo ones, `hunter customers add` "
                "adds your own."
            )
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


_SENDER_HELP = {
    "from_email": (
        "Address emails are sent from (an address your mail server may send as); "
        "'Acme Growth <growth@acme.eu>' sets --from-name too."
    ),
    "from_name": "Name shown with it, e.g. 'Acme Growth'.",
    "reply_to": "Where replies go, if not the from address (one address).",
    "postal_address": "Postal address for the footer of marketing emails (CAN-SPAM).",
}
NameOption = Annotated[str | None, typer.Option("--name", help="Display name (unique).")]
EmailOption = Annotated[
    str | None, typer.Option("--email", help="The customer's own contact address.")
]
FromEmailOption = Annotated[
    str | None, typer.Option("--from-email", help=_SENDER_HELP["from_email"])
]
FromNameOption = Annotated[str | None, typer.Option("--from-name", help=_SENDER_HELP["from_name"])]
ReplyToOption = Annotated[str | None, typer.Option("--reply-to", help=_SENDER_HELP["reply_to"])]
PostalOption = Annotated[
    str | None, typer.Option("--postal-address", help=_SENDER_HELP["postal_address"])
]


def _render_customer(data: dict[str, Any], title: str) -> None:
    console.print(printable(title), markup=False)
    labels = ("slug", "name", "email", "from_email", "from_name", "reply_to", "postal_address")
    for key in labels:
        # A value stored before control characters were refused is shown, not obeyed.
        value = printable(str(data.get(key) or "-"))
        console.print(f"  {key.replace('_', '-'):15} {value}", markup=False)


@customers_app.command("add")
@handle_errors
def add(
    ctx: typer.Context,
    slug: Annotated[
        str, typer.Argument(help="Stable key: lower-case letters, digits, - and _ (acme-eu).")
    ],
    name: NameOption = None,
    email: EmailOption = None,
    plan: Annotated[
        str,
        typer.Option("--plan", help="Plan slug (`hunter plans list`); its allowance is granted."),
    ] = "free",
    from_email: FromEmailOption = None,
    from_name: FromNameOption = None,
    reply_to: ReplyToOption = None,
    postal_address: PostalOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add a customer on a plan, with the sender its emails go out as.

    The plan's monthly allowance is granted for the first period (from today);
    `hunter credits grant` adds more. Example:

        hunter customers add acme-eu --name "Acme EU" --plan starter \
            --from-email growth@acme.eu --from-name "Acme Growth" \
            --postal-address "Acme EU, 1 Rue Exemple, Paris"
    """
    from hunter_cli.customers import create_customer, customer_summary

    settings = settings_of(ctx)
    db = database_of(settings)
    with db.session() as session:
        customer = create_customer(
            session,
            slug,
            name=name,
            plan=plan,
            actor=settings.actor,
            email=email,
            sender={
                "from_email": from_email,
                "from_name": from_name,
                "reply_to": reply_to,
                "postal_address": postal_address,
            },
        )
        data = customer_summary(session, customer)

    def render() -> None:
        _render_customer(data, f"Added customer {data['slug']} on the {data['plan']} plan.")
        console.print(f"  {'available':15} {fmt_credits(data['available'])} credits", markup=False)
        if not data["from_email"]:
            console.print(
                "Its emails cannot be sent until it has a sender: "
                f"hunter customers update {data['slug']} --from-email ADDRESS",
                style="dim",
                markup=False,
            )

    emit(data, json_output=json_output, render=render)


@customers_app.command("update")
@handle_errors
def update(
    ctx: typer.Context,
    customer: Annotated[str, typer.Argument(help="Customer slug, name or id.")],
    name: NameOption = None,
    email: EmailOption = None,
    from_email: FromEmailOption = None,
    from_name: FromNameOption = None,
    reply_to: ReplyToOption = None,
    postal_address: PostalOption = None,
    json_output: JsonOption = False,
) -> None:
    """Change a customer's name, contact email or sender; an empty value ("") clears a
    sender setting. Every change is in the audit trail. Messages already queued keep the
    sender they were written with."""
    from hunter_cli.customers import customer_summary, update_customer

    given = {
        "name": name,
        "email": email,
        "from_email": from_email,
        "from_name": from_name,
        "reply_to": reply_to,
        "postal_address": postal_address,
    }
    settings = settings_of(ctx)
    db = database_of(settings)
    with db.session() as session:
        found, changed = update_customer(
            session,
            customer,
            {k: v for k, v in given.items() if v is not None},
            actor=settings.actor,
        )
        data = {**customer_summary(session, found), "changed": changed}

    def render() -> None:
        title = (
            f"Updated customer {data['slug']}: {', '.join(changed)}."
            if changed
            else f"Customer {data['slug']} already had these values: nothing changed."
        )
        _render_customer(data, title)

    emit(data, json_output=json_output, render=render)


@customers_app.command("show")
@handle_errors
def show(
    ctx: typer.Context,
    customer: Annotated[str, typer.Argument(help="Customer slug, name or id.")],
    json_output: JsonOption = False,
) -> None:
    """One customer: contact, the sender its emails go out as, and its balance."""
    from hunter_cli.customers import customer_summary, resolve_customer

    db = database_of(settings_of(ctx))
    with db.session() as session:
        data = customer_summary(session, resolve_customer(session, customer))

    def render() -> None:
        _render_customer(data, f"Customer {data['slug']}")
        if data["plan"]:
            console.print(
                f"  {'plan':15} {data['plan']}, {fmt_credits(data['available'])} available",
                markup=False,
            )

    emit(data, json_output=json_output, render=render)


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
