"""`hunter recipes`: list, show, validate, and print the recipe format's JSON Schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hunter_cli.cli.output import console, emit, err_console, handle_errors, printable, table
from hunter_cli.cli.params import JsonOption, settings_of

app = typer.Typer(
    help="Recipes: list, show, validate, and the recipe JSON Schema.", no_args_is_help=True
)


@app.command("list")
@handle_errors
def list_recipes(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Recipes this workspace can run: its own recipes/ first, then the bundled ones."""
    from hunter_cli.engine.catalog import list_recipes as catalog

    rows = [entry.to_dict() for entry in catalog(settings_of(ctx).workspace)]

    def render() -> None:
        console.print(
            table(
                "Recipes",
                ["slug", "name", "steps", "origin", "file", "problems"],
                [
                    (
                        r["slug"],
                        r["name"],
                        r["steps"],
                        r["origin"],
                        r["path"],
                        len(r["problems"]) or "",
                    )
                    for r in rows
                ],
                justify={"steps": "right"},
            )
        )

    emit(rows, json_output=json_output, render=render)


@app.command("show")
@handle_errors
def show(
    ctx: typer.Context,
    recipe: Annotated[str, typer.Argument(help="Recipe slug or path.")],
    json_output: JsonOption = False,
) -> None:
    """A recipe's inputs, steps (with costs) and outputs."""
    from hunter_cli.engine.catalog import describe_recipe

    info = describe_recipe(recipe, settings_of(ctx).workspace)

    def render() -> None:
        console.print(
            f"[bold]{info['name']}[/] ({info['slug']}, version {info['version']}) — {info['path']}"
        )
        if info.get("description"):
            console.print(info["description"])
        console.print(
            table(
                "Inputs",
                ["name", "type", "required", "default", "description"],
                [
                    (
                        i["name"],
                        i["type"],
                        "yes" if i["required"] else "",
                        i["default"],
                        i["description"],
                    )
                    for i in info["inputs"]
                ],
            )
        )
        console.print(
            table(
                "Steps",
                ["id", "type", "does", "if", "credits"],
                [(s["id"], s["type"], s["does"], s["if"], s["credits"]) for s in info["steps"]],
                justify={"credits": "right"},
            )
        )
        console.print(
            f"Most a run can cost: {info['max_cost']} credits. "
            f"Outputs: {', '.join(info['outputs']) or 'none'}."
        )

    emit(info, json_output=json_output, render=render)


@app.command("validate")
@handle_errors
def validate(
    ctx: typer.Context,
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Recipe files or folders of them (default: every recipe the workspace can run)."
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Check recipe files; every problem is reported as file:line:column: path: message.

    Exit code 2 when any file has a problem, 3 when a file named does not exist.
    """
    from hunter_cli.engine.catalog import validate_files
    from hunter_cli.errors import ValidationError

    report = validate_files(files or None, settings_of(ctx).workspace)
    problems = [p for entry in report for p in entry["problems"]]
    if json_output:
        if problems:
            raise ValidationError(
                f"{len(problems)} problem(s) in {sum(1 for e in report if e['problems'])} file(s)",
                details={"files": report},
            )
        emit(report, json_output=True)
        return
    for entry in report:
        if entry["problems"]:
            for line in entry["problems"]:
                # One problem per line however long: editors jump to file:line:column.
                # A recipe's text, quoted: its control characters shown, not obeyed.
                err_console.print(printable(line), markup=False, highlight=False, soft_wrap=True)
        else:
            console.print(f"{entry['path']}: ok")
    if problems:
        raise ValidationError(f"{len(problems)} problem(s) found")


@app.command("schema")
@handle_errors
def schema(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Print the recipe format's JSON Schema, for editors (e.g. yaml-language-server). With
    --json it is the `data` of the usual {status, data} document, like every command's."""
    from hunter_cli.recipe import RECIPE_SCHEMA_PATH

    text = Path(RECIPE_SCHEMA_PATH).read_text(encoding="utf-8").rstrip()
    if json_output:
        import json

        emit(json.loads(text), json_output=True)
        return
    typer.echo(text)
