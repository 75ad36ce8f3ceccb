"""Options on the wrong side of the command say where they go, every command takes --json,
and a missing customer names every way to give one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
