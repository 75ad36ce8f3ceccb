"""`hunter suppress`: the addresses, domains and numbers a customer must never contact."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from hunter_cli.cli.output import console, emit, fmt_time, handle_errors, note_more, table
from hunter_cli.cli.params import CustomerOption, JsonOption, LimitOption, database_of, settings_of

app = typer.Typer(
    help=(
        "The suppression list: e-mail addresses, whole domains (and their subdomains) and "
        "phone numbers that no message ever goes to. Checked when a message is queued and "
        "again right before it is delivered; every change is in the audit trail."
    ),
    no_args_is_help=True,
)


class Kind(StrEnum):
    email = "email"
    domain = "domain"
    phone = "phone"


KindOption = Annotated[
    Kind | None,
    typer.Option(
        "--kind",
        "-k",
        help="email, domain or phone (default: guessed: has @ -> email, only digits, spaces "
        "and + ( ) - . -> phone, else domain).",
    ),
]
ReasonOption = Annotated[
    str | None, typer.Option("--reason", "-r", help="Why (shown in skipped messages).")
]


@app.command("add")
@handle_errors
def add(
    ctx: typer.Context,
    value: Annotated[str, typer.Argument(help="ann@example.com, example.com or +4930123456.")],
    customer: CustomerOption = None,
    kind: KindOption = None,
    reason: ReasonOption = None,
    json_output: JsonOption = False,
) -> None:
    """Never contact this address, domain or number again (for this customer).

    A domain covers its subdomains: example.com also blocks anyone@mail.example.com. An
    address covers its plus-addressed forms: bob@x.example also blocks bob+promo@x.example.
    """
    from hunter_cli.customers import resolve_customer
    from hunter_cli.suppression import add_suppression, suppression_to_dict

    settings = settings_of(ctx)
    with database_of(settings).session() as session:
        who = resolve_customer(session, customer or settings.default_customer)
        entry, created = add_suppression(
            session,
            who,
            value,
            kind=kind.value if kind else None,
            reason=reason,
            actor=settings.actor,
        )
        data = {"customer": who.slug, "created": created, **suppression_to_dict(entry)}

    def render() -> None:
        what = f"{data['kind']} {data['value']}"
        if created:
            console.print(f"Suppressed {what} for {who.slug}.", markup=False)
        else:
            console.print(f"{what} was already suppressed for {who.slug}.", markup=False)

    emit(data, json_output=json_output, render=render)


@app.command("remove")
@handle_errors
def remove(
    ctx: typer.Context,
    value: Annotated[str, typer.Argument(help="The address, domain or number to remove.")],
    customer: CustomerOption = None,
    kind: KindOption = None,
    json_output: JsonOption = False,
) -> None:
    """Take an entry off the suppression list (exit 3 if it is not on it)."""
    from hunter_cli.customers import resolve_customer
    from hunter_cli.suppression import remove_suppression, suppression_to_dict

    settings = settings_of(ctx)
    with database_of(settings).session() as session:
        who = resolve_customer(session, customer or settings.default_customer)
        entry = remove_suppression(
            session, who, value, kind=kind.value if kind else None, actor=settings.actor
        )
        data = {"customer": who.slug, "removed": True, **suppression_to_dict(entry)}

    emit(
        data,
        json_output=json_output,
        render=lambda: console.print(
            f"Removed {data['kind']} {data['value']} from {who.slug}'s suppression list.",
            markup=False,
        ),
    )


@app.command("list")
@handle_errors
def list_entries(
    ctx: typer.Context,
    customer: CustomerOption = None,
    kind: KindOption = None,
    limit: LimitOption = 200,
    json_output: JsonOption = False,
) -> None:
    """The customer's suppression list, newest first."""
    from hunter_cli.customers import resolve_customer
    from hunter_cli.suppression import list_suppressions, suppression_to_dict

    settings = settings_of(ctx)
    with database_of(settings).session() as session:
        who = resolve_customer(session, customer or settings.default_customer)
        # One more than asked for tells whether there are more.
        entries = list_suppressions(
            session, who, kind=kind.value if kind else None, limit=limit + 1
        )
        more, entries = len(entries) > limit, entries[:limit]
        rows = [suppression_to_dict(e) for e in entries]
        added = [fmt_time(e.created_at) for e in entries]

    def render() -> None:
        if not rows:
            console.print(f"Nothing is suppressed for {who.slug}.")
            return
        console.print(
            table(
                f"Suppressed: {who.slug}",
                ["kind", "value", "reason", "source", "created"],
                [
                    (r["kind"], r["value"], r["reason"], r["source"], when)
                    for r, when in zip(rows, added, strict=True)
                ],
            )
        )

    emit(rows, json_output=json_output, render=render)
    if more:
        note_more(limit, json_output=json_output)


@app.command("import")
@handle_errors
def import_(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="One value per line (each comma-separated value of a line counts), or CSV "
            "with a header naming a value, email, phone or domain column (optional kind and "
            "reason columns); a cell holding several addresses suppresses each. Lines "
            "starting with # are ignored."
        ),
    ],
    customer: CustomerOption = None,
    kind: KindOption = None,
    reason: ReasonOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add every entry of a file; lines that are not an address, domain or number are
    reported with their line number and the reason.

    Exit codes: 0 when entries were added (or were already there), 2 when the file cannot
    be read or every line was rejected.
    """
    from hunter_cli.customers import resolve_customer
    from hunter_cli.errors import ValidationError
    from hunter_cli.suppression import import_suppressions

    settings = settings_of(ctx)
    with database_of(settings).session() as session:
        who = resolve_customer(session, customer or settings.default_customer)
        report = import_suppressions(
            session,
            who,
            file,
            kind=kind.value if kind else None,
            reason=reason,
            actor=settings.actor,
        )
        data = {"customer": who.slug, "file": str(file), **report.to_dict()}
        if report.rejected and not (report.added or report.already):
            line, why = report.rejected[0]
            raise ValidationError(
                f"{file}: nothing could be imported ({len(report.rejected)} rejected; "
                f"line {line}: {why})",
                details=data,
            )

    def render() -> None:
        console.print(
            f"Suppressed {report.added} new entr{'y' if report.added == 1 else 'ies'} for "
            f"{who.slug}; {report.already} already there; rejected "
            f"{len(report.rejected)} line(s).",
            markup=False,
        )
        if report.rejected:
            console.print(
                table(
                    "Rejected lines", ["line", "reason"], report.rejected, justify={"line": "right"}
                )
            )

    emit(data, json_output=json_output, render=render)


@app.command("sms-reply")
@handle_errors
def sms_reply(
    ctx: typer.Context,
    from_number: Annotated[
        str, typer.Argument(metavar="FROM", help="The number the reply came from (E.164).")
    ],
    body: Annotated[str, typer.Argument(help="The reply's text, e.g. STOP.")],
    customer: CustomerOption = None,
    json_output: JsonOption = False,
) -> None:
    """Record an SMS reply: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT or REVOKE
    (in any case, full-width too) suppresses the number; START or UNSTOP lifts a suppression
    an earlier STOP made. Other text changes nothing (and is not stored)."""
    from hunter_cli.customers import resolve_customer
    from hunter_cli.suppression import record_inbound_sms

    settings = settings_of(ctx)
    with database_of(settings).session() as session:
        who = resolve_customer(session, customer or settings.default_customer)
        result = record_inbound_sms(session, who, from_number, body, actor=settings.actor)
        data = {"customer": who.slug, **result.to_dict()}

    messages = {
        "suppressed": f"{result.number} replied {result.keyword}: suppressed for {who.slug}.",
        "already": f"{result.number} replied {result.keyword}: it was already suppressed.",
        "resubscribed": f"{result.number} replied {result.keyword}: suppression lifted.",
        "ignored": "Not an opt-out or opt-in keyword: nothing changed.",
    }
    emit(
        data,
        json_output=json_output,
        render=lambda: console.print(messages[result.action], markup=False),
    )
