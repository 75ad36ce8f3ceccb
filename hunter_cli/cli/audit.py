"""`hunter audit`: read and verify the tamper-evident audit trail."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from hunter_cli.cli.output import console, emit, fmt_time, handle_errors, note_more, table
from hunter_cli.cli.params import (
    CustomerFilterOption,
    JsonOption,
    OffsetOption,
    database_of,
    settings_of,
)

app = typer.Typer(help="The append-only, hash-chained audit trail.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_entries(
    ctx: typer.Context,
    customer: CustomerFilterOption = None,
    execution: Annotated[
        str | None,
        typer.Option(
            "--execution", "-e", help="Execution id, or a unique prefix of 6+ hex digits."
        ),
    ] = None,
    action: Annotated[
        str | None,
        typer.Option(
            "--action", "-a", help="Action, e.g. credits.reserve; a trailing * matches a prefix."
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Newest N entries.")] = 50,
    offset: OffsetOption = 0,
    json_output: JsonOption = False,
) -> None:
    """The newest audit entries, optionally for one customer, execution or action.

    When there are more than --limit, a note says so (on stderr with --json)."""
    import uuid

    from sqlalchemy import select

    from hunter_cli.customers import resolve_customer
    from hunter_cli.db.models import AuditLog, Customer
    from hunter_cli.executions import get_execution

    db = database_of(settings_of(ctx))
    with db.session() as session:
        # One more than asked for tells whether there are more.
        query = select(AuditLog).order_by(AuditLog.seq.desc()).limit(limit + 1).offset(offset)
        if customer:
            query = query.where(AuditLog.customer_id == resolve_customer(session, customer).id)
        if execution:
            try:
                execution_id = uuid.UUID(execution)
            except ValueError:  # a prefix, as `hunter run` and `executions list` show
                execution_id = get_execution(session, execution).id
            query = query.where(AuditLog.execution_id == execution_id)
        if action:
            query = query.where(
                AuditLog.action.startswith(action[:-1], autoescape=True)  # % and _ literal
                if action.endswith("*")
                else AuditLog.action == action
            )
        slugs = {c.id: c.slug for c in session.query(Customer)}
        rows: list[dict[str, Any]] = [
            {
                "seq": e.seq,
                "created_at": e.created_at.isoformat(),
                "actor": e.actor,
                "customer": slugs.get(e.customer_id) if e.customer_id else None,
                "customer_id": str(e.customer_id) if e.customer_id else None,
                "execution_id": str(e.execution_id) if e.execution_id else None,
                "action": e.action,
                "details": e.details,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in session.scalars(query)
        ]
    more = len(rows) > limit
    rows = rows[:limit]

    def render() -> None:
        if not rows:
            console.print(
                f"No audit entries match after the newest {offset}."
                if offset
                else "No audit entries match."
            )
            return
        console.print(
            table(
                "Audit trail",
                ["#", "when", "actor", "action", "execution", "details"],
                [
                    (
                        r["seq"],
                        fmt_time(_parse(r["created_at"])),
                        r["actor"],
                        r["action"],
                        (r["execution_id"] or "")[:8],
                        _summary(r["details"]),
                    )
                    for r in rows
                ],
                justify={"#": "right"},
            )
        )

    emit(rows, json_output=json_output, render=render)
    if more:
        note_more(limit, json_output=json_output, offset=offset)


@app.command("verify")
@handle_errors
def verify(
    ctx: typer.Context,
    anchor: Annotated[
        str | None,
        typer.Option(
            "--anchor",
            metavar="SEQ:HASH",
            help="The head an earlier verify printed, kept outside the database: that entry "
            "must still be there, unchanged. Catches the newest entries removed.",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Recompute the hash chain and name the first entry that was changed, removed or
    inserted out of order. Exit code 7 when the chain is broken.

    It prints the chain's head (SEQ:HASH). Keep it somewhere else (a cron log, a ticket)
    and pass it back with --anchor to also catch entries removed from the end, which the
    chain alone cannot show.
    """
    from hunter_cli.audit import AuditAnchor, verify_chain
    from hunter_cli.errors import IntegrityError

    expected = AuditAnchor.parse(anchor) if anchor is not None else None
    db = database_of(settings_of(ctx))
    with db.session() as session:
        result = verify_chain(session, expected)
    if not result.ok:
        raise IntegrityError(
            f"audit trail is broken at entry #{result.first_bad_seq}: {result.problem} "
            f"({result.checked} entries before it verified)",
            details=result.to_dict(),
        )

    def render() -> None:
        console.print(f"Audit trail intact: {result.checked} entries verified.")
        if result.head is not None:
            checked = f" (the anchor #{expected.seq} matches)" if expected else ""
            console.print(f"Head: {result.head}{checked}", soft_wrap=True, highlight=False)

    emit(result.to_dict(), json_output=json_output, render=render)


def _parse(value: str):
    from datetime import datetime

    return datetime.fromisoformat(value)


def _summary(details: dict, width: int = 60) -> str:
    """key=value pairs, shortened: the full details are in --json."""
    text = " ".join(
        f"{k}={v if not isinstance(v, dict | list) else json.dumps(v)}"
        for k, v in sorted(details.items())
    )
    return text if len(text) <= width else text[: width - 1] + "…"
