"""Input names that `hunter run` could not set, because its own options take them."""

from __future__ import annotations

import typer.main

from hunter_cli.cli.main import app
from hunter_cli.recipe.schema import RUN_OPTION_NAMES


def test_taken_input_names_are_the_run_commands_options() -> None:
    run = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    context = run.make_context("run", ["x"], resilient_parsing=True)
    options = {
        opt.removeprefix("--").replace("-", "_")
        for param in run.get_params(context)
        for opt in param.opts
        if opt.startswith("--")
    }
    assert set(RUN_OPTION_NAMES) == options
