"""The `hunter` command: global options and the command groups, each in its own module."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hunter_cli import __version__
from hunter_cli.cli import (
    audit,
    credits,
    customers,
    db,
    executions,
    leads,
    outbox,
    recipes,
    suppress,
    workspace,
)
from hunter_cli.cli import run as run_command
from hunter_cli.cli.params import GlobalOptions

app = typer.Typer(
    name="hunter",
    help=(
        "Run B2B lead-generation recipes from a local workspace.\n\n"
        "Start with `hunter init`, then `hunter seed`, then `hunter credits show`. "
        "Every command takes --json for scripts; exit codes are listed in README.md."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hunter {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            envvar="HUNTER_CONFIG",
            help="Path to hunter.toml (default: found in this folder or its parents).",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help="Database URL; overrides HUNTER_DATABASE_URL and hunter.toml."
        ),
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option("--actor", help="Who to name in the audit trail (default: OS user)."),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    ctx.obj = GlobalOptions(config=config, database_url=database_url, actor=actor)


workspace.register(app)
run_command.register(app)
app.add_typer(recipes.app, name="recipes")
app.add_typer(executions.app, name="executions")
app.add_typer(customers.customers_app, name="customers")
app.add_typer(customers.plans_app, name="plans")
app.add_typer(credits.app, name="credits")
app.add_typer(audit.app, name="audit")
app.add_typer(leads.app, name="leads")
app.add_typer(outbox.app, name="outbox")
app.add_typer(suppress.app, name="suppress")
app.add_typer(db.app, name="db")


def run() -> None:
    """Run the app (the console script enters through hunter_cli.entry). With --json, even a
    usage error that Click reports before our command runs (a missing option, a bad value)
    comes as the JSON error envelope."""
    if "--json" not in sys.argv[1:]:
        app(prog_name="hunter")
        return
    try:
        code = app(prog_name="hunter", standalone_mode=False)
    except Exception as exc:
        # Click's usage errors; matched by shape, as typer vendors Click in some versions.
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        from hunter_cli.cli.output import print_json

        print_json(
            {"status": "error", "error": {"code": "usage_error", "message": exc.format_message()}}
        )
        sys.exit(exc.exit_code)
    sys.exit(code or 0)
