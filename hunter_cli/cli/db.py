"""`hunter db`: schema migrations."""

from __future__ import annotations

import typer

from hunter_cli.cli.output import console, emit, handle_errors
from hunter_cli.cli.params import JsonOption, settings_of

app = typer.Typer(help="The database schema (Alembic migrations).", no_args_is_help=True)


@app.command("upgrade")
@handle_errors
def upgrade(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Bring the database schema up to date with this version of hunter."""
    from hunter_cli.cli.output import note_new_database
    from hunter_cli.db.engine import Database, describe_url, head_revision
    from hunter_cli.db.migrate import upgrade as run_upgrade

    url = settings_of(ctx).require_database_url()
    db = Database(url)
    before, after = run_upgrade(db)
    note_new_database(db.new_file, describe_url(url))
    data = {"database": describe_url(url), "from": before, "to": after, "head": head_revision()}

    def render() -> None:
        if before == after:
            console.print(f"{data['database']}: already at {after} (up to date).")
        else:
            console.print(f"{data['database']}: upgraded {before or '(empty)'} → {after}.")

    emit(data, json_output=json_output, render=render)


@app.command("current")
@handle_errors
def current(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Show the schema revision of the database and the one this hunter needs."""
    from hunter_cli.db.engine import (
        Database,
        current_revision,
        describe_url,
        head_revision,
        refuse_newer_schema,
    )

    url = settings_of(ctx).require_database_url()
    revision = current_revision(Database(url, create=False))
    refuse_newer_schema(url, revision)
    head = head_revision()
    data = {
        "database": describe_url(url),
        "current": revision,
        "head": head,
        "up_to_date": revision == head,
    }

    def render() -> None:
        state = "up to date" if revision == head else "behind: run `hunter db upgrade`"
        console.print(f"{data['database']}: revision {revision or '(none)'}, head {head} ({state})")

    emit(data, json_output=json_output, render=render)
