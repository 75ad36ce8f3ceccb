"""`hunter init` and `hunter seed`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hunter_cli.cli.output import (
    console,
    emit,
    err_console,
    escape,
    handle_errors,
    note_new_database,
    table,
)
from hunter_cli.cli.params import JsonOption, database_of, settings_of


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("seed")(seed)


@handle_errors
def init(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Folder for the workspace.")] = Path("."),
    json_output: JsonOption = False,
) -> None:
    """Create a workspace: hunter.toml, a recipes/ folder to edit, and the database.

    Safe to run again: an existing hunter.toml or recipe file is never overwritten.
    """
    from hunter_cli.cli.params import GlobalOptions
    from hunter_cli.workspace import init_workspace

    options = ctx.find_root().obj or GlobalOptions()
    report = init_workspace(directory, database_url=options.database_url)
    if report.new_database_file == "empty":  # a new workspace's missing file is no news
        note_new_database(report.new_database_file, report.database)

    def render() -> None:
        verb = "wrote" if report.config_written else "kept existing"
        console.print(f"Workspace {report.workspace}: {verb} hunter.toml")
        if report.recipes_copied:
            console.print(f"Copied recipes: {', '.join(report.recipes_copied)}")
        console.print(f"Database: {report.database}")
        console.print("Next: `hunter seed` loads the demo customers, plans and recipes.")

    emit(report.to_dict(), json_output=json_output, render=render)


@handle_errors
def seed(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Load the demo data from seeds/ and register every recipe file.

    Creates 3 customers, 1 agent, 4 plans and 3 active subscriptions (each granted its
    plan's allowance). Running it again changes nothing and says so; a changed recipe file
    is stored as a new version.
    """
    from hunter_cli.resources import bundled_dir, recipe_dirs
    from hunter_cli.seeding import apply_seed

    settings = settings_of(ctx)
    db = database_of(settings, create=True)
    with db.session() as session:
        report = apply_seed(
            session, bundled_dir("seeds"), recipe_dirs(settings.workspace), actor=settings.actor
        )

    for skipped in report.skipped:  # on stderr, with --json too: a script's log shows them
        first, more = skipped["problems"][0], len(skipped["problems"]) - 1
        err_console.print(
            f"[yellow]warning:[/] {escape(first)}"
            + (f" (and {more} more)" if more else "")
            + " (recipe not loaded: run `hunter recipes validate`)",
            soft_wrap=True,
        )

    def render() -> None:
        if not report.changed:
            console.print("Nothing to do: the seed data is already loaded (no changes).")
            return
        rows = [(name, count) for name, count in sorted(report.created.items())]
        rows += [(f"{name} (updated)", count) for name, count in sorted(report.updated.items())]
        console.print(table("Seeded", ["entity", "count"], rows, justify={"count": "right"}))

    emit(report.to_dict(), json_output=json_output, render=render)
