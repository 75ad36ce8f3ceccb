"""The shipped recipe JSON Schema and the pluggable schema builder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from hunter_cli.recipe import (
    DEFAULT_STEP_PARAMS,
    RECIPE_SCHEMA_PATH,
    build_recipe_schema,
    load_recipe_text,
    load_shipped_schema,
    render_schema_json,
    validate_recipe,
)

REPO = Path(__file__).resolve().parents[2]


def test_shipped_schema_matches_builder() -> None:
    assert load_shipped_schema() == build_recipe_schema(DEFAULT_STEP_PARAMS)
    # Byte-for-byte too, so regenerating never produces a spurious diff.
    assert RECIPE_SCHEMA_PATH.read_text(encoding="utf-8") == render_schema_json()


def test_shipped_schema_is_valid_draft_2020_12() -> None:
    schema = json.loads(RECIPE_SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"]
    Draft202012Validator.check_schema(schema)


def test_every_property_has_title_and_description() -> None:
    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                if isinstance(sub, dict) and sub and "not" not in sub:
                    assert "title" in sub, f"{where}.{name} has no title"
                    assert "description" in sub, f"{where}.{name} has no description"
            for key, value in node.items():
                # if/then branches only narrow properties documented at the top level.
                if key not in ("if", "then"):
                    walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{where}[{i}]")

    # Check the sources: the built schema also holds `true` placeholders and if/then branches.
    walk(build_recipe_schema(DEFAULT_STEP_PARAMS)["properties"], "recipe")
    for name, params in DEFAULT_STEP_PARAMS.items():
        walk({"properties": params["properties"]}, name)


def test_every_action_parameter_is_described_for_its_action() -> None:
    """An editor shows one description per parameter: each action that takes it must be
    named there (regression: api_call's `query:` was described for lead_search and db_query
    only)."""
    from hunter_cli.recipe.step_params import _ACTION_PARAMS, _ACTION_VARIANTS

    for action, (accepted, _required) in _ACTION_VARIANTS.items():
        for name, narrowed in accepted.items():
            if "not" in narrowed:  # refused for this action
                continue
            description = _ACTION_PARAMS[name]["description"]
            assert action in description, f"{name}: {description!r} does not mention {action}"


def test_module_prints_the_schema() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hunter_cli.recipe.schema"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == render_schema_json()
    assert result.stderr == ""


def test_core_does_not_import_cli_libraries() -> None:
    code = (
        "import sys, hunter_cli.recipe as r; r.build_recipe_schema;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


PLUGIN_PARAMS = {
    **DEFAULT_STEP_PARAMS,
    "wait": {
        "title": "Wait step",
        "description": "Sleep.",
        "type": "object",
        "properties": {
            "seconds": {"title": "Seconds", "description": "How long.", "type": "number"}
        },
        "required": ["seconds"],
        "additionalProperties": False,
    },
}


def test_plugin_step_types_are_validated() -> None:
    text = """\
slug: p
name: P
version: 1
steps:
  - id: pause
    type: wait
    seconds: soon
  - id: nap
    type: wait
    secs: 1
  - id: other
    type: sleep
"""
    loaded = load_recipe_text(text, "p.yaml")
    assert [str(p) for p in validate_recipe(loaded, PLUGIN_PARAMS)] == [
        "p.yaml:7:14: steps[0].seconds: 'soon' is not of type 'number'",
        "p.yaml:8:5: steps[1]: missing required parameter 'seconds' for step type 'wait'",
        "p.yaml:10:5: steps[1].secs: unknown parameter 'secs' for step type 'wait' "
        "(did you mean 'seconds'?)",
        "p.yaml:12:11: steps[2].type: unknown step type 'sleep'; known types: action, ai, "
        "audit, correspondence, state, subscription, wait",
    ]
    # The default step types know nothing about `wait`.
    assert "unknown step type 'wait'" in str(validate_recipe(loaded)[0])


def test_step_params_may_not_redefine_controls() -> None:
    bad = {"x": {"type": "object", "properties": {"timeout": {"type": "string"}}}}
    with pytest.raises(ValueError, match="timeout"):
        build_recipe_schema(bad)


def test_the_shipped_schema_takes_a_per_token_price_on_ai_steps_only() -> None:
    # What an editor checks with the schema alone, without hunter's own validation.
    checker = Draft202012Validator(load_shipped_schema())

    def problems(step: dict) -> list[str]:
        recipe = {"slug": "p", "name": "P", "version": 1, "steps": [{"id": "s", **step}]}
        return [e.message for e in checker.iter_errors(recipe)]

    per_token = {"credits": {"per_1k_tokens": 0.1}}
    assert problems({"type": "ai", "prompt": "hi", **per_token}) == []
    assert problems({"type": "state", "set": {"x": 1}, "credits": 0.5}) == []
    assert problems({"type": "state", "set": {"x": 1}, **per_token}) != []
    assert problems({"type": "audit", "action": "x.y", **per_token}) != []
    lead_search = {"type": "action", "action": "lead_search", **per_token}
    assert problems(lead_search) != []


@pytest.mark.parametrize(
    "price",
    [{"credits": 0.15}, {"credits": 0.29}, {"credits": 2.3}, {"credits": {"per_1k_tokens": 0.07}},
     {"credits": {"per_1k_tokens": 0.00015}}],
)  # fmt: skip
def test_an_editor_takes_every_price_hunter_takes(price: dict) -> None:
    """Regression: the schema said multipleOf 0.0001, and stock validators divide floats
    (0.15 / 0.0001 is not whole in binary): ordinary prices were red in editors."""
    import yaml

    from hunter_cli.recipe import load_recipe_text, validate_recipe

    def problems(step: dict) -> list:
        recipe = {"slug": "p", "name": "P", "version": 1, "steps": [step]}
        return validate_recipe(load_recipe_text(yaml.safe_dump(recipe)))

    step = {"id": "s", "type": "ai", "prompt": "hi", **price}
    recipe = {"slug": "p", "name": "P", "version": 1, "steps": [step]}
    assert list(Draft202012Validator(load_shipped_schema()).iter_errors(recipe)) == []
    assert problems(step) == []
    too_fine = problems({"id": "s", "type": "ai", "prompt": "hi", "credits": 0.00001})
    assert "more than 4 decimal places" in str(too_fine[0])


def test_a_plugin_step_type_may_be_priced_per_token_if_it_says_so() -> None:
    from hunter_cli.recipe.step_params import TOKEN_PRICED_KEY

    text = (
        "slug: p\nname: P\nversion: 1\nsteps:\n"
        "  - {id: w, type: wait, seconds: 1, credits: {per_1k_tokens: 1}}\n"
    )
    loaded = load_recipe_text(text, "p.yaml")
    assert [p.message for p in validate_recipe(loaded, PLUGIN_PARAMS)] == [
        "per_1k_tokens prices a step by the AI tokens it uses, and a 'wait' step uses none: "
        "give it a fixed number of credits"
    ]
    priced = {"wait": {**PLUGIN_PARAMS["wait"], TOKEN_PRICED_KEY: True}}
    assert validate_recipe(loaded, priced) == []
