"""Validation of whole recipes: the good example, problem formatting, every problem reported."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hunter_cli.recipe import (
    CONTROL_KEYS,
    RecipeInvalid,
    RecipeProblem,
    load_and_validate,
    load_recipe_file,
    load_recipe_text,
    render_path,
    split_step,
    validate_recipe,
)


def test_good_recipe_is_valid(good_recipe_path: Path) -> None:
    loaded = load_recipe_file(good_recipe_path)
    assert validate_recipe(loaded) == []
    assert load_and_validate(good_recipe_path).data["slug"] == "find-dentists"


def test_shipped_recipes_are_valid() -> None:
    recipes = Path(__file__).resolve().parents[2] / "recipes"
    for path in sorted(recipes.glob("*.yaml")):
        assert validate_recipe(load_recipe_file(path)) == [], path


def test_load_and_validate_text() -> None:
    text = "slug: t\nname: T\nversion: 1\nsteps:\n  - {id: a, type: ai, prompt: hi}\n"
    assert load_and_validate("inline.yaml", text=text).source == "inline.yaml"
    with pytest.raises(RecipeInvalid) as caught:
        load_and_validate("inline.yaml", text=text.replace("prompt", "promt"))
    assert [str(p) for p in caught.value.problems] == [
        "inline.yaml:5:5: steps[0]: missing required parameter 'prompt' for step type 'ai'",
        "inline.yaml:5:23: steps[0].promt: unknown parameter 'promt' for step type 'ai' "
        "(did you mean 'prompt'?)",
    ]


def test_problem_format() -> None:
    problem = RecipeProblem(
        "recipes/x.yaml", 14, 7, "steps[2].timeout", "'soon' is not of type 'number'"
    )
    assert str(problem) == "recipes/x.yaml:14:7: steps[2].timeout: 'soon' is not of type 'number'"
    assert str(RecipeProblem("x.yaml", 1, 1, "", "bad")) == "x.yaml:1:1: (root): bad"
    error = RecipeInvalid([problem, RecipeProblem("x.yaml", 1, 1, "", "bad")])
    assert isinstance(error, Exception)
    assert str(error).splitlines() == [str(problem), "x.yaml:1:1: (root): bad"]


def test_render_path() -> None:
    assert render_path(()) == ""
    assert render_path(("steps", 2, "timeout")) == "steps[2].timeout"
    assert render_path(("inputs", "$defs", "a b")) == "inputs.$defs['a b']"


def test_reports_every_problem_not_just_the_first() -> None:
    text = """\
slug: many
name: Many
version: 1
steps:
  - id: one
    type: ai
    prompt: "{{ steps.two.output }}"
    timeout: -1
  - id: two
    type: audit
    action: Bad Action
    retry: {attempts: 2, backof: 1}
"""
    problems = validate_recipe(load_recipe_text(text, "m.yaml"))
    assert [str(p) for p in problems] == [
        "m.yaml:7:13: steps[0].prompt: step 'two' is referenced before it runs",
        "m.yaml:8:14: steps[0].timeout: -1 is less than or equal to the minimum of 0",
        "m.yaml:11:13: steps[1].action: 'Bad Action' does not match '^[a-z0-9_.]+$'",
        "m.yaml:12:26: steps[1].retry.backof: unknown field 'backof' (did you mean 'backoff'?)",
    ]


def test_item_variables_allowed_in_steps_only() -> None:
    text = """\
slug: items
name: Items
version: 1
steps:
  - id: mail
    type: correspondence
    channel: email
    items: "{{ inputs.leads }}"
    to: "{{ item.email }}"
    body: "Lead {{ index }}"
outputs:
  first: "{{ item }}"
"""
    problems = validate_recipe(load_recipe_text(text, "i.yaml"))
    assert [str(p) for p in problems] == [
        "i.yaml:12:10: outputs.first: unknown variable 'item' in template; "
        "available: customer, execution, inputs, state, steps"
    ]


def test_split_step() -> None:
    step = {"id": "a", "type": "ai", "timeout": 3, "if": "x", "prompt": "p", "model": "m"}
    controls, params = split_step(step)
    assert controls == {"id": "a", "type": "ai", "timeout": 3, "if": "x"}
    assert params == {"prompt": "p", "model": "m"}
    assert "output_schema" in CONTROL_KEYS


def test_recipe_credit_limit_is_the_ledgers() -> None:
    from hunter_cli.ledger import MAX_CREDITS as LEDGER_MAX
    from hunter_cli.recipe.step_params import MAX_CREDITS

    assert int(LEDGER_MAX) == MAX_CREDITS


@pytest.mark.parametrize("amount", ["0.0003", "0.0007", "1.2345", "0.1", "3", "99999999999999"])
def test_amounts_to_four_places_are_accepted(amount: str) -> None:
    # Floats such as 0.0003 are not an exact multiple of 0.0001 in binary; they must pass.
    text = (
        "slug: t\nname: T\nversion: 1\nsteps:\n"
        f"  - {{id: a, type: subscription, operation: charge, amount: {amount}, "
        f"credits: {amount}}}\n"
    )
    assert validate_recipe(load_recipe_text(text, "t.yaml")) == []


def test_write_queries_are_the_components() -> None:
    from hunter_cli.components.actions.db_query import WRITES
    from hunter_cli.recipe.step_params import DB_WRITE_QUERIES

    assert set(DB_WRITE_QUERIES) == WRITES


def test_a_schema_open_to_other_inputs_lets_templates_name_them() -> None:
    text = """\
slug: open
name: Open
version: 1
inputs:
  type: object
  properties: {n: {type: integer}}
  additionalProperties: true
steps:
  - id: a
    type: state
    if: inputs.extra is defined
    set: {x: "{{ inputs.extra | default('none given') }}"}
"""
    assert validate_recipe(load_recipe_text(text, "o.yaml")) == []
    closed = text.replace("  additionalProperties: true\n", "")
    assert [p.message for p in validate_recipe(load_recipe_text(closed, "c.yaml"))] == [
        "unknown input 'extra' in template; inputs declares: n",
        "unknown input 'extra' in template; inputs declares: n",
    ]


def test_per_item_params_are_the_components() -> None:
    from hunter_cli.components import COMPONENTS, get_component
    from hunter_cli.recipe.step_params import PER_ITEM_PARAMS

    # COMPONENTS may also hold the test plugins other tests register (tests/engine/plugins).
    builtin = {t for t, target in COMPONENTS.items() if target.startswith("hunter_cli.")}
    assert set(PER_ITEM_PARAMS) == builtin
    for step_type, params in PER_ITEM_PARAMS.items():
        assert get_component(step_type).lazy_params == params, step_type


def test_every_lead_provider_lists_its_filters() -> None:
    from hunter_cli.providers.leads import PROVIDERS, provider_filters
    from hunter_cli.providers.leads.local import FILTERS as LOCAL

    assert all(provider_filters(name) for name in PROVIDERS)
    assert provider_filters("csv") == LOCAL
    assert provider_filters("nosuch") is None


def test_a_filter_the_provider_refuses_at_run_time_is_reported() -> None:
    from hunter_cli.providers.leads import LeadProviderError, LeadQuery, get_provider

    text = (
        "slug: f\nname: F\nversion: 1\nsteps:\n"
        "  - {id: s, type: action, action: lead_search, filters: {industy: Fintech}}\n"
    )
    problems = validate_recipe(load_recipe_text(text, "f.yaml"))
    assert [p.message.split(";")[0] for p in problems] == [
        "unknown filter 'industy' for the local lead provider (did you mean 'industry'?)"
    ]
    with pytest.raises(LeadProviderError, match="unknown filter 'industy'"):
        get_provider("local").search(LeadQuery(filters={"industy": "Fintech"}))


def test_correspondence_content_is_the_components() -> None:
    from hunter_cli.components.correspondence import RECIPIENT_PARAM, REQUIRED
    from hunter_cli.recipe.step_params import _CORRESPONDENCE_CHANNELS

    assert set(_CORRESPONDENCE_CHANNELS) == set(REQUIRED)
    for channel, (_, recipient, content) in _CORRESPONDENCE_CHANNELS.items():
        assert REQUIRED[channel] == ((recipient,), content), channel
        assert RECIPIENT_PARAM[channel] == recipient


def test_db_query_params_are_the_components() -> None:
    from hunter_cli.components.actions.db_query import QUERIES
    from hunter_cli.recipe.step_params import DB_QUERY_PARAMS

    assert {query: accepted for query, (accepted, _) in DB_QUERY_PARAMS.items()} == QUERIES


def test_data_operations_are_the_components() -> None:
    from hunter_cli.components.actions.data_processing import DataProcessing
    from hunter_cli.recipe.step_params import _ACTION_VARIANTS, DATA_OPERATIONS

    for operation in DATA_OPERATIONS:
        assert callable(getattr(DataProcessing, f"_{operation}", None)), operation
    accepted = set(_ACTION_VARIANTS["data_processing"][0])
    for operation, (takes, needs) in DATA_OPERATIONS.items():
        assert set(needs) <= set(takes) <= accepted, operation


def test_lead_file_providers_are_the_components() -> None:
    from hunter_cli.components.actions import lead_search
    from hunter_cli.recipe import static_params

    assert static_params.FILE_PROVIDERS == lead_search.FILE_PROVIDERS
    assert static_params._DEFAULT_LEAD_PROVIDER == lead_search.DEFAULT_PROVIDER


def test_waterfall_inputs_validate_asks_for_are_what_the_lookup_needs() -> None:
    from hunter_cli.components.actions.waterfall import lookup_arguments
    from hunter_cli.components.base import StepError
    from hunter_cli.providers.leads import LOOKUPS
    from hunter_cli.recipe.static_params import _LOOKUP_INPUTS

    values = {"email": "ann@example.com", "domain": "example.com", "company": "Example"}
    assert set(_LOOKUP_INPUTS) == set(LOOKUPS)
    for lookup, groups in _LOOKUP_INPUTS.items():
        for names, wanted in groups:
            others = {g[0]: values.get(g[0], "Ann Lee") for g, _ in groups if g is not names}
            for name in names:  # any one name of a group will do
                lookup_arguments(lookup, {**others, name: values.get(name, "Ann Lee")})
            with pytest.raises(StepError, match=re.escape(f"{lookup} needs {wanted}")):
                lookup_arguments(lookup, others)
