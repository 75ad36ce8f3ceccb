"""`hunter outbox`: the messages recipes asked to send: list, show, and send the queued ones."""

from __future__ import annotations

from typing import Annotated

import typer

from hunter_cli.cli.output import console, emit, fail, handle_errors, table
from hunter_cli.cli.params import (
    JsonOption,
    OffsetOption,
    database_of,
    given_customer,
    settings_of,
)

NOT_DELIVERED = (
    "Queued messages wait here: nothing is sent until `hunter outbox send` (or a run with "
    "--send, or `send = true` for the customer in hunter.toml)."
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
        typer.Option(
            "--customer",
            "-c",
            help="Only this customer's messages (slug, name or id).",
            callback=given_customer,
        ),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            "-s",
            help="queued, sending (or unknown: delivery not known), sent, skipped or failed.",
        ),
    ] = None,
    channel: Annotated[
        str | None, typer.Option("--channel", help="email, sms, webhook or push.")
    ] = None,
    execution: Annotated[
        str | None,
        typer.Option(
            "--execution",
            "-e",
            help="Only messages of this execution (its id, or a unique prefix of 6+ hex digits).",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Newest N messages.")] = 50,
    offset: OffsetOption = 0,
    json_output: JsonOption = False,
) -> None:
    """The newest messages in the outbox, optionally filtered.

    A `skipped` message could not or must not be sent (an invalid address, the suppression
    list); `show` gives the reason. A message in `sending` may or may not have reached its
    recipient (the program stopped, or no answer came): it is never sent again by itself.
    Queued messages wait: nothing is sent until `hunter outbox send`.
    """
    from hunter_cli import outbox
    from hunter_cli.customers import resolve_customer

    db = database_of(settings_of(ctx))
    with db.session() as session:
        who = resolve_customer(session, customer) if customer else None
        execution_id = _execution_id(session, execution)
        found = outbox.list_messages(  # one more than asked for tells whether there are more
            session,
            who,
            status=status,
            channel=channel,
            execution_id=execution_id,
            limit=limit + 1,
            offset=offset,
        )
        more, found = len(found) > limit, found[:limit]
        slugs = outbox.customer_slugs(session, found)
        rows = [outbox.message_to_dict(m, customer=slugs.get(m.customer_id)) for m in found]

    def render() -> None:
        if not rows:
            console.print(
                f"No messages in the outbox match after the newest {offset}."
                if offset
                else "No messages in the outbox match."
            )
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
                        _status_label(r["status"]),
                    )
                    for r in rows
                ],
                justify={"created": "right"},
            )
        )
        console.print(NOT_DELIVERED, style="dim")

    emit(rows, json_output=json_output, render=render)
    if more:
        from hunter_cli.cli.output import note_more

        note_more(limit, json_output=json_output, offset=offset)


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
        dry = not data["attempts"] and not data["error"]
        status += " (not delivered: dry run)" if dry else " (not delivered yet)"
    elif status == "sending":
        status += " (outcome unknown: never re-sent without --force-unknown)"
    lines = [
        ("id", data["id"]),
        ("status", status),
        ("reason" if data["status"] in ("skipped", "queued") else "error", data["error"]),
        ("channel", data["channel"]),
        ("customer", data["customer"]),
        ("from", payload.pop("from", None)),
        ("reply-to", payload.pop("reply_to", None)),
        ("to", data["recipient"]),
        ("subject", data["subject"]),
        ("execution", data["execution_id"]),
        ("step", data["step_id"]),
        ("created", data["created_at"]),
        ("attempts", data["attempts"] or None),
        ("provider", data["provider"]),
        ("provider id", data["provider_message_id"]),
        ("sending since", data["sending_at"] if data["status"] == "sending" else None),
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


def _execution_id(session, value: str | None):
    """An execution id, or a unique prefix of one (as `hunter run` and `executions list`
    show them)."""
    import uuid

    from hunter_cli.executions import get_execution

    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return get_execution(session, value).id


def _status_label(status: str) -> str:
    return "sending (unknown)" if status == "sending" else status


@app.command("send")
@handle_errors
def send(
    ctx: typer.Context,
    message_ids: Annotated[
        list[str] | None,
        typer.Argument(metavar="[ID]...", help="Messages to send (ids or 6+ character prefixes)."),
    ] = None,
    customer: Annotated[
        str | None,
        typer.Option(
            "--customer",
            "-c",
            help="Whose messages (default: default_customer); with IDs, each must be theirs.",
            callback=given_customer,
        ),
    ] = None,
    all_queued: Annotated[
        bool, typer.Option("--all-queued", help="Send every queued message of the customer.")
    ] = False,
    channel: Annotated[
        str | None, typer.Option("--channel", help="With --all-queued: only this channel.")
    ] = None,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="Also send messages that failed before: the given IDs, or with --all-queued "
            "every failed message of the customer as well as the queued ones.",
        ),
    ] = False,
    force_unknown: Annotated[
        bool,
        typer.Option(
            "--force-unknown",
            help="Also send the given messages left in `sending`: they may already have "
            "reached the recipient, so this can deliver them twice.",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Deliver queued messages you have reviewed (`hunter outbox list`, `show`).

    Each message is checked against the suppression list and the customer's daily cap
    right before it goes; over the cap it stays queued for another day. A message is
    delivered at most once: one found in `sending` (the program stopped mid-delivery) is
    refused unless you name it with --force-unknown. A message another sender (a second
    `outbox send`, a `run --send`) claims first is reported `taken`: it is theirs to
    deliver, and no failure of this one. One the server refuses for now (an SMTP 4xx, after
    the channel's retries) stays queued for a later send.

    Exit codes: 0 when nothing failed, 5 when some were sent and others failed (or stayed
    queued after a refusal or an unreachable server), 1 when none was sent and some failed,
    were refused or stayed queued so, 2 for bad options or configuration, 130 when Ctrl-C
    or SIGTERM stopped it (what it sent before is still reported).
    """
    from hunter_cli.cli.output import err_console
    from hunter_cli.customers import resolve_customer
    from hunter_cli.delivery import Deliverer, session_transaction
    from hunter_cli.errors import ExitCode, UsageError
    from hunter_cli.interrupts import stop_on_sigterm
    from hunter_cli.outbox import CHANNELS, get_message, waiting_messages

    if bool(message_ids) == all_queued:
        raise UsageError("give message IDs or --all-queued (one of the two)")
    if force_unknown and all_queued:
        raise UsageError("--force-unknown needs the messages named by ID, not --all-queued")
    if channel is not None and channel not in CHANNELS:
        raise UsageError(f"unknown channel {channel!r}; choose from {', '.join(CHANNELS)}")
    settings = settings_of(ctx)
    db = database_of(settings)
    warnings: list[str] = []
    with db.session() as session:
        who = None
        # Named messages must be the customer's too, the default one included: a message id
        # pasted from another client's list is refused, not sent.
        if customer or all_queued or settings.default_customer:
            who = resolve_customer(session, customer or settings.default_customer)
        # The status each message had here: one that changes before it is claimed was taken
        # by another sender, unlike one already `sending` now (an earlier sender crashed).
        seen: dict = {}
        seen_attempts: dict = {}  # a `sending` one claimed by another --force-unknown is taken
        if all_queued:
            seen = waiting_messages(session, who, channel=channel, include_failed=retry_failed)
            ids = list(seen)
        else:
            ids = []
            for ref in message_ids or []:
                message = get_message(session, ref)
                if who is not None and message.customer_id != who.id:
                    raise UsageError(
                        f"message {ref} belongs to another customer, not {who.slug}"
                        + ("" if customer else " (the default customer): pass --customer")
                    )
                if message.id not in ids:
                    ids.append(message.id)
                    seen[message.id] = message.status
                    seen_attempts[message.id] = message.attempts or 0
                    if message.status == "sending" and force_unknown:
                        warnings.append(
                            f"{str(message.id)[:8]} may already have been delivered; "
                            "sending it again can deliver it twice"
                        )
    if not json_output:
        for warning in warnings:
            err_console.print(f"warning: {warning}", markup=False, soft_wrap=True)

    stop_on_sigterm()  # cron's `timeout` stops a delivery as Ctrl-C does, not mid-record
    stopped: KeyboardInterrupt | None = None
    # On a terminal, how far it has got: 6,000 messages took minutes with nothing shown.
    status = err_console.status("sending…") if not json_output and err_console.is_terminal else None

    def progress(done: int, total: int) -> None:
        if status is not None:
            status.update(f"sending: {done}/{total} done…")

    if status is not None:
        status.start()
    deliverer = Deliverer(
        session_transaction(db.engine), settings, actor=settings.actor, progress=progress
    )
    try:
        with deliverer:
            outcomes = deliverer.deliver(
                ids,
                force_unknown=force_unknown,
                retry_failed=retry_failed,
                seen=seen,
                seen_attempts=seen_attempts,
            )
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM: say what went before it
        stopped, outcomes = exc, list(deliverer.done)
    finally:
        if status is not None:
            status.stop()
    rows = [o.to_dict() for o in outcomes]
    stuck = 0
    if all_queued and not rows:
        from hunter_cli.outbox import list_messages

        with db.session() as session:
            stuck = len(list_messages(session, who, status="sending", channel=channel, limit=1000))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    data = {"messages": rows, "counts": counts, "warnings": warnings}

    def render() -> None:
        if not rows:
            waiting = "queued or failed" if retry_failed else "queued"
            console.print(f"No {waiting} messages to send.")
            if stuck:  # not sent again by themselves: someone must decide
                console.print(
                    f"{stuck} message(s) are in `sending` with their outcome unknown (`hunter "
                    "outbox list --status unknown`): `hunter outbox send ID --force-unknown` "
                    "sends one again if it did not arrive.",
                    style="dim",
                )
            return
        console.print(
            table(
                "Delivery",
                ["id", "channel", "recipient", "status", "reason / provider id"],
                [
                    (
                        r["id"][:8],
                        r["channel"],
                        r["recipient"],
                        r["status"].replace("_", " "),
                        r["reason"] or r["provider_message_id"] or "",
                    )
                    for r in rows
                ],
            )
        )
        console.print(", ".join(f"{n} {status.replace('_', ' ')}" for status, n in counts.items()))

    if stopped is not None:
        error = _stopped_error(stopped, counts, not_attempted=len(ids) - len(outcomes))
        if json_output:
            from hunter_cli.cli.output import print_json

            print_json({"status": "error", "data": data, "error": error.to_dict()})
            raise typer.Exit(error.exit_code)
        if rows:
            render()
        raise fail(error, json_output=False)

    # `taken` is another sender's to deliver; a cap's `queued` waits as configured. A
    # message the server refused for now, or left queued as its channel is down (the one
    # tried and each one after it), is not delivered: it counts.
    bad = sum(counts.get(s, 0) for s in ("failed", "unknown", "not_deliverable"))
    bad += sum(1 for o in outcomes if o.retry_later or o.channel_down)
    if bad and json_output:
        # Like `hunter run`: the error envelope, with what did happen still in data.
        from hunter_cli.cli.output import print_json

        code = "partial" if counts.get("sent") else "delivery_failed"
        summary = f"{bad} message(s) not delivered" + (
            f", {counts['sent']} sent" if counts.get("sent") else ""
        )
        print_json({"status": "error", "data": data, "error": {"code": code, "message": summary}})
    else:
        emit(data, json_output=json_output, render=render)
    if bad:
        raise typer.Exit(ExitCode.PARTIAL if counts.get("sent") else ExitCode.FAILURE)


def _stopped_error(stopped: KeyboardInterrupt, counts: dict[str, int], *, not_attempted: int):
    """The error of a delivery Ctrl-C or SIGTERM cut short, saying what it did first."""
    from hunter_cli.errors import Interrupted
    from hunter_cli.interrupts import Stopped

    how = "stopped by SIGTERM" if isinstance(stopped, Stopped) else "interrupted (Ctrl-C)"
    parts = [f"{counts.get('sent', 0)} message(s) sent before it stopped"]
    if counts.get("unknown"):
        parts.append(
            f"{counts['unknown']} cut off mid-delivery (outcome unknown: left in `sending`)"
        )
    others = {s: n for s, n in counts.items() if s not in ("sent", "unknown") and n}
    parts += [f"{n} {status.replace('_', ' ')}" for status, n in sorted(others.items())]
    if not_attempted:
        parts.append(f"{not_attempted} not attempted (left as they were)")
    # Every outcome counted, as `data.counts` has them: a script adds them up.
    return Interrupted(
        f"{how}: " + ", ".join(parts),
        details={**counts, "sent": counts.get("sent", 0), "not_attempted": not_attempted},
    )
