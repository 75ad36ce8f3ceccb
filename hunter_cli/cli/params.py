"""Options shared by many commands, and how a command gets its settings and database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from hunter_cli.config import Settings
    from hunter_cli.db.engine import Database

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document ({status, data|error}).")
]


def given_customer(value: str | None) -> str | None:
    """`--customer ""` (a script's unset variable) must not quietly mean the default
    customer, or every customer: it is refused. (Also `credits history ""`'s argument.)"""
    if value is not None and not value.strip():
        raise typer.BadParameter("is empty; give a customer's slug, name or id, or leave it out")
    return value


CustomerOption = Annotated[
    str | None,
    typer.Option(
        "--customer",
        "-c",
        help="Customer slug, name or id (default: HUNTER_CUSTOMER, else default_customer).",
        callback=given_customer,
    ),
]
CustomerFilterOption = Annotated[
    str | None,
    typer.Option(
        "--customer",
        "-c",
        help="Only this customer (slug, name or id); default: all.",
        callback=given_customer,
    ),
]
LimitOption = Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most this many.")]
OffsetOption = Annotated[
    int, typer.Option("--offset", min=0, help="Skip this many of the newest first (paging).")
]
# A run's options, for `run` and `executions resume` alike.
NoCacheOption = Annotated[bool, typer.Option("--no-cache", help="Bypass the AI response cache.")]
SendOption = Annotated[
    bool,
    typer.Option("--send", help="Really deliver messages (otherwise they go to the outbox)."),
]


@dataclass
class GlobalOptions:
    config: str | None = None
    database_url: str | None = None
    actor: str | None = None


def settings_of(ctx: typer.Context) -> Settings:
    from hunter_cli.config import load_settings

    root = ctx.find_root()
    options = root.obj if isinstance(root.obj, GlobalOptions) else GlobalOptions()
    settings = load_settings(
        config=options.config, database_url=options.database_url, actor=options.actor
    )
    if settings.warnings:
        from hunter_cli.cli.output import err_console, escape, printable

        for warning in settings.warnings:
            err_console.print(f"[yellow]warning:[/] {escape(printable(warning))}", soft_wrap=True)
    return settings


def database_of(settings: Settings, *, create: bool = False) -> Database:
    """Open the configured database, upgrading SQLite on first use (see open_database); a
    missing or empty SQLite file is given a schema only for the commands that set one up
    (create=True), and they say so."""
    from hunter_cli.db.engine import describe_url, open_database

    db = open_database(settings.require_database_url(), create=create)
    if create:
        from hunter_cli.cli.output import note_new_database

        note_new_database(db.new_file, describe_url(db.url))
    return db
