"""Options on the wrong side of the command say where they go, every command takes --json,
and a missing customer names every way to give one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hunter_cli.recipe import RECIPE_SCHEMA_PATH

ROOT = Path(__file__).resolve().parents[2]


def test_customer_before_the_command_says_it_goes_after(cli):
    result = cli("--customer", "acme", "credits", "show")
    assert result.exit_code == 2
    assert (
        "--customer and --json go after the command: hunter credits show --customer acme"
        in result.stderr
    )
    result = cli("--actor", "me", "-c", "acme", "leads", "list", "--tier", "A")
    assert "go after the command: hunter --actor me leads list --tier A -c acme" in result.stderr


def test_json_before_the_command_says_it_goes_after_in_the_json_envelope(tmp_path):
    # This tree's hunter_cli, not whichever one the interpreter has installed.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "hunter_cli", "--json", "outbox", "send"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 2
    assert json.loads(result.stdout) == {
        "status": "error",
        "error": {
            "code": "usage_error",
            "message": "--customer and --json go after the command: hunter outbox send --json",
        },
    }


def test_other_unknown_options_are_still_click_s_message(cli):
    result = cli("--jsn", "credits", "show")
    assert result.exit_code == 2 and "No such option: --jsn" in result.stderr


def test_recipes_schema_takes_json_like_every_command(cli):
    shipped = RECIPE_SCHEMA_PATH.read_text(encoding="utf-8")
    plain = cli("recipes", "schema")
    assert plain.exit_code == 0 and plain.stdout == shipped.rstrip() + "\n"  # for editors
    assert cli("recipes", "schema", "--json").ok() == json.loads(shipped)


def test_no_customer_names_the_flag_the_variable_and_hunter_toml(workspace, cli):
    (workspace / "hunter.toml").write_text("")
    message = cli("leads", "list", "--json").error(2)["message"]
    assert message == (
        "no customer given: pass --customer, set HUNTER_CUSTOMER or set default_customer in "
        "hunter.toml's [workspace]"
    )


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        # Regression: these said `hunter credits history --customer acme` and `hunter credits
        # grant 5 --customer acme`, commands that take the customer as an argument.
        (
            ("--customer", "acme", "credits", "history"),
            "go after the command, and credits history takes the customer as its argument: "
            "hunter credits history acme",
        ),
        (
            ("--customer", "acme", "credits", "grant", "5", "-r", "x"),
            "credits grant takes the customer as its argument: hunter credits grant acme 5 -r x",
        ),
        (
            ("-cacme", "credits", "grant", "--reason", "x", "5"),
            "hunter credits grant acme --reason x 5",
        ),
        (
            ("--customer=Acme Corp", "customers", "show"),
            "hunter customers show 'Acme Corp'",
        ),
        # Regression: --json was moved, --customer was left before the command.
        (
            ("--actor", "me", "--json", "--customer", "acme", "leads", "list"),
            "go after the command: hunter --actor me leads list --customer acme --json",
        ),
        (
            ("--customer", "acme", "plans", "list"),
            "go after the command; plans list takes no customer: hunter plans list",
        ),
        (("--actor", "me", "-c", "acme"), "hunter --actor me COMMAND -c acme"),
        (("--customer", "acme", "credits"), "hunter credits COMMAND --customer acme"),
    ],
)
def test_the_hint_moves_every_option_to_where_the_command_takes_it(cli, args, hint):
    result = cli(*args)
    assert result.exit_code == 2
    assert hint in result.stderr, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("credits", "grant", "", "5", "-r", "x"),
        ("customers", "show", " "),
        ("customers", "update", "", "--name", "x"),
    ],
)
def test_an_empty_customer_argument_is_not_told_to_pass_customer(workspace, cli, args):
    """Regression: `credits grant "" 5` said "pass --customer, set HUNTER_CUSTOMER...", which
    that command does not take."""
    assert cli(*args, "--json").error(2)["message"] == (
        "the customer given is empty: give a customer's slug, name or id"
    )


def test_credits_history_without_a_customer_says_it_takes_an_argument(workspace, cli):
    (workspace / "hunter.toml").write_text("")
    message = cli("credits", "history", "--json").error(2)["message"]
    assert message == (
        "no customer given: give it as the argument (hunter credits history CUSTOMER), set "
        "HUNTER_CUSTOMER or set default_customer in hunter.toml's [workspace]"
    )
