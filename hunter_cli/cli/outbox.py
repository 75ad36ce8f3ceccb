"""`hunter outbox`: the messages recipes asked to send (queued here; not delivered yet)."""

from __future__ import annotations

from typing import Annotated

import typer

from hunter_cli.cli.output import console, emit, handle_errors, table
from hunter_cli.cli.params import JsonOption, database_of, settings_of

NOT_DELIVERED = (
    "In this version messages are recorded in the outbox only (a dry run): nothing is sent."
)

app = typer.Typer(
    help="Messages that correspondence steps queued (e-mail, SMS, webhook, push). " + NOT_DELIVERED,
    no_args_is_help=True,
)


@app.command("list")
@handle_errors
def list_messages(
    ctx: typer.Context,
    customer: Annotated[
        str | None,
        typer.Option("--customer", "-c", help="Only this customer's messages (slug, name or id)."),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", "-s", help="queued, sent, skipped or failed."),
    ] = None,
    channel: Annotated[
        str | None, typer.Option("--channel", help="email, sms, webhook or push.")
    ] = None,
    execution: Annotated[
        str | None, typer.Option("--execution", "-e", help="Only messages of this execution.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Newest N messages.")] = 50,
    json_output: JsonOption = False,
) -> None:
    """The newest messages in the outbox, optionally filtered.

    A `skipped` message could not be sent (e.g. an invalid address); `show` gives the reason.
    In this version messages stay `queued`: nothing is delivered.
    """
    from hunter_cli import outbox
    from hunter_cli.customers import resolve_customer

    execution_id = _execution_id(execution)
    db = database_of(settings_of(ctx))
    with db.session() as session:
        who = resolve_customer(session, customer) if customer else None
        found = outbox.list_messages(
            session, who, status=status, channel=channel, execution_id=execution_id, limit=limit
        )
        slugs = outbox.customer_slugs(session, found)
        rows = [outbox.message_to_dict(m, customer=slugs.get(m.customer_id)) for m in found]

    def render() -> None:
        if not rows:
            console.print("No messages in the outbox match.")
            return
        console.print(
            table(
                "Outbox",
                ["id", "created", "channel", "recipient", "subject", "status"],
                [
                    (
                        r["id"][:8],
                        r["created_at"][:16].replace("T", " "),
                        r["channel"],
                        r["recipient"],
                        r["subject"],
                        r["status"],
                    )
                    for r in rows
                ],
                justify={"created": "right"},
            )
        )
        console.print(NOT_DELIVERED, style="dim")

    emit(rows, json_output=json_output, render=render)


@app.command("show")
@handle_errors
def show(
    ctx: typer.Context,
    message_id: Annotated[
        str, typer.Argument(metavar="ID", help="Message id, or a unique prefix of 6+ characters.")
    ],
    json_output: JsonOption = False,
) -> None:
    """One message in full: its headers, then the body (and HTML, when there is one).

    Secret-looking payload values and webhook URL query strings are hidden.
    """
    from hunter_cli import outbox

    db = database_of(settings_of(ctx))
    with db.session() as session:
        message = outbox.get_message(session, message_id)
        slugs = outbox.customer_slugs(session, [message])
        data = outbox.message_to_dict(message, customer=slugs.get(message.customer_id))

    def render() -> None:
        # Bodies are the recipe's text, not markup: print them verbatim.
        console.print(_headers(data), markup=False, highlight=False)
        console.print()
        console.print(data["body"] or "(no plain-text body)", markup=False, highlight=False)
        if data["html"]:
            console.print("\n--- html ---", style="dim")
            console.print(data["html"], markup=False, highlight=False)

    emit(data, json_output=json_output, render=render)


def _headers(data: dict) -> str:
    import json

    payload = dict(data["payload"])
    status = data["status"]
    if status == "queued":
        status += " (not delivered: dry run)"
    lines = [
        ("id", data["id"]),
        ("status", status),
        ("reason" if data["status"] == "skipped" else "error", data["error"]),
        ("channel", data["channel"]),
        ("customer", data["customer"]),
        ("from", payload.pop("from", None)),
        ("reply-to", payload.pop("reply_to", None)),
        ("to", data["recipient"]),
        ("subject", data["subject"]),
        ("execution", data["execution_id"]),
        ("step", data["step_id"]),
        ("created", data["created_at"]),
        ("sent", data["sent_at"]),
        ("key", data["message_key"]),
    ]
    # The rest of the payload (postal address, webhook JSON...) as more header lines.
    lines += [
        (key.replace("_", "-"), value if isinstance(value, str) else json.dumps(value))
        for key, value in payload.items()
    ]
    shown = [(key, str(value)) for key, value in lines if value not in (None, "")]
    width = max(len(key) for key, _ in shown) + 1
    return "\n".join(f"{key + ':':<{width}} {value}" for key, value in shown)


def _execution_id(value: str | None):
    import uuid

    from hunter_cli.errors import UsageError

    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise UsageError(f"not an execution id: {value!r} (give the full id)") from None
