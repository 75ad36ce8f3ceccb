"""The waterfall action through the real runner on SQLite and PostgreSQL, against fake
Hunter.io and Apollo servers: it stops at the first acceptable answer, charges exactly the
providers that answered (the run's hold covers them all), records who answered, and fails
with the calls still paid for when nobody does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from hunter_cli.components import estimate_step_credits
from hunter_cli.components.actions.lead_search import missing_provider_keys
from hunter_cli.components.actions.waterfall import Waterfall, rejection
from hunter_cli.components.base import StepError
from hunter_cli.config import load_settings
from hunter_cli.db.models import CreditTransaction, Execution, Lead
from hunter_cli.engine.runner import Runner, RunOptions, max_cost
from hunter_cli.recipe import load_and_validate
from hunter_cli.recipe.problems import RecipeInvalid
from tests.components.test_data_processing import make_ctx
from tests.lead_servers import APOLLO_KEY, HUNTER_KEY, FakeApollo, FakeHunter
from tests.servers import LoopbackServer

HUNTER_PRICE, APOLLO_PRICE, STORE_PRICE = Decimal("0.02"), Decimal("0.03"), Decimal("0.01")


@pytest.fixture
def fakes(monkeypatch) -> Iterator[tuple[FakeHunter, FakeApollo]]:
    monkeypatch.setenv("HUNTER_API_KEY", HUNTER_KEY)
    monkeypatch.setenv("APOLLO_API_KEY", APOLLO_KEY)
    with LoopbackServer() as hunter_server, LoopbackServer() as apollo_server:
        yield FakeHunter(hunter_server), FakeApollo(apollo_server)


def find_email_recipe(**step: Any) -> dict[str, Any]:
    waterfall = {
        "id": "email",
        "type": "action",
        "action": "waterfall",
        "lookup": "find_email",
        "input": {
            "first_name": "{{ inputs.first }}",
            "last_name": "{{ inputs.last }}",
            "domain": "{{ inputs.domain }}",
        },
        "providers": [
            {
                "provider": "hunter_io",
                "credits": float(HUNTER_PRICE),
                "accept": {"field": "verification.status", "in": ["valid", "deliverable"]},
            },
            {"provider": "apollo", "credits": float(APOLLO_PRICE)},
        ],
        **step,
    }
    return {
        "slug": "find-email",
        "name": "Find an email",
        "version": 1,
        "inputs": {
            "type": "object",
            "properties": {
                "first": {"type": "string"},
                "last": {"type": "string"},
                "domain": {"type": "string"},
            },
        },
        "steps": [
            waterfall,
            {
                "id": "store",
                "type": "action",
                "action": "db_query",
                "query": "upsert_leads",
                "write": True,
                "params": {"leads": ["{{ steps.email.output.result }}"]},
                "if": "steps.email.output.found",
                "credits": float(STORE_PRICE),
            },
        ],
        "outputs": {"email": "{{ steps.email.output }}"},
    }


def run(db, tmp_path: Path, fakes, recipe: dict[str, Any], inputs: dict[str, Any], **options):
    hunter, apollo = fakes
    config = tmp_path / "hunter.toml"
    config.write_text(
        f'[providers.hunter_io]\nbase_url = "{hunter.server.url}"\nbackoff = 0\n'
        f'[providers.apollo]\nbase_url = "{apollo.server.url}"\nbackoff = 0\n'
    )
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    settings = load_settings(config=config, database_url=db.url, actor="tester", environ={})
    return Runner(db, settings).run(
        load_and_validate(str(path)), "acme", inputs, RunOptions(**options)
    )


def ledger(db, execution_id: uuid.UUID) -> dict[str, Decimal]:
    with db.session() as session:
        execution = session.get(Execution, execution_id)
        rows = session.scalars(
            select(CreditTransaction).where(CreditTransaction.execution_id == execution_id)
        ).all()
        amounts = {row.kind: abs(row.amount) for row in rows}
        return {
            "reserved": execution.credits_reserved,
            "used": execution.credits_used,
            **amounts,
        }


ADA_AT_NORTHWIND = {"first": "Ada", "last": "Stone", "domain": "northwind.example"}
ADA_AT_ORBIT = {"first": "Ada", "last": "Stone", "domain": "orbit.example"}


# --- through the runner -------------------------------------------------------------------------


def test_the_first_acceptable_answer_wins_and_only_it_is_paid(seeded, tmp_path, fakes):
    hunter, apollo = fakes
    result = run(seeded, tmp_path, fakes, find_email_recipe(), ADA_AT_NORTHWIND)
    assert result.status == "success", result.error
    output = result.outputs["email"]
    assert output["found"] is True and output["provider"] == "hunter_io"
    assert output["result"]["email"] == "ada.stone0@northwind.example"
    assert output["result"]["verification"]["status"] == "valid"
    assert output["tried"] == [
        {
            "provider": "hunter_io",
            "credits": "0.0200",
            "accepted": True,
            "reason": "accepted",
            "requests": 2,  # the finder, then the verifier
        }
    ]
    assert apollo.server.requests == []  # never reached
    assert result.steps[0].meta["provider"] == "hunter_io"
    assert result.steps[0].credits == HUNTER_PRICE
    # The hold covered every provider; the capture is what was asked.
    books = ledger(seeded, result.execution_id)
    assert books["reserved"] == HUNTER_PRICE + APOLLO_PRICE + STORE_PRICE
    assert books["used"] == books["capture"] == HUNTER_PRICE + STORE_PRICE
    assert books["release"] == APOLLO_PRICE
    # The stored lead says which provider supplied its email.
    with seeded.session() as session:
        lead = session.scalars(select(Lead)).one()
        assert lead.email == "ada.stone0@northwind.example"
        assert lead.data["_provenance"]["email"] == "hunter_io"
        assert lead.source["provider"] == "hunter_io"


def test_no_answer_falls_through_to_the_next_provider(seeded, tmp_path, fakes):
    hunter, apollo = fakes
    result = run(seeded, tmp_path, fakes, find_email_recipe(), ADA_AT_ORBIT)
    assert result.status == "success", result.error
    output = result.outputs["email"]
    assert output["provider"] == "apollo"
    assert output["result"]["email"] == "ada.stone0@orbit.example"
    assert [(t["provider"], t["credits"], t["accepted"], t["reason"]) for t in output["tried"]] == [
        ("hunter_io", "0.0200", False, "no answer"),
        ("apollo", "0.0300", True, "accepted"),
    ]
    assert len(hunter.calls("/v2/email-finder")) == 1
    assert hunter.calls("/v2/email-verifier") == []  # nothing found, nothing to verify
    assert apollo.calls("/api/v1/people/match")[0].headers["x-api-key"] == APOLLO_KEY
    books = ledger(seeded, result.execution_id)
    assert books["used"] == books["capture"] == HUNTER_PRICE + APOLLO_PRICE + STORE_PRICE
    with seeded.session() as session:
        lead = session.scalars(select(Lead)).one()
        assert lead.data["_provenance"]["email"] == "apollo"


def test_when_nobody_answers_acceptably_the_calls_are_still_paid(seeded, tmp_path, fakes):
    hunter, apollo = fakes
    hunter.people[0].verification = "accept_all"  # Ada at northwind: a catch-all domain
    result = run(seeded, tmp_path, fakes, find_email_recipe(), ADA_AT_NORTHWIND)
    assert result.status == "failed"
    step = result.steps[0]
    assert step.status == "failed"
    assert step.error == (
        "waterfall find_email: no provider gave an acceptable answer (hunter_io: "
        "verification.status is 'accept_all', not one of valid, deliverable; apollo: no answer)"
    )
    assert step.credits == HUNTER_PRICE + APOLLO_PRICE
    assert len(result.steps) == 1  # the run stopped there
    books = ledger(seeded, result.execution_id)
    assert books["used"] == books["capture"] == HUNTER_PRICE + APOLLO_PRICE
    assert len(apollo.calls("/api/v1/people/match")) == 1


def test_not_required_returns_found_false(seeded, tmp_path, fakes):
    recipe = find_email_recipe(required=False)
    result = run(seeded, tmp_path, fakes, recipe, {**ADA_AT_NORTHWIND, "last": "Nobody"})
    assert result.status == "success", result.error
    assert result.outputs["email"]["found"] is False
    assert result.outputs["email"]["provider"] is None
    assert result.steps[1].status == "skipped"
    assert ledger(seeded, result.execution_id)["used"] == HUNTER_PRICE + APOLLO_PRICE


def test_a_provider_without_its_key_is_skipped_and_not_charged(
    seeded, tmp_path, fakes, monkeypatch
):
    hunter, apollo = fakes
    monkeypatch.delenv("HUNTER_API_KEY")
    result = run(seeded, tmp_path, fakes, find_email_recipe(), ADA_AT_ORBIT)
    assert result.status == "success", result.error
    first = result.outputs["email"]["tried"][0]
    assert first == {
        "provider": "hunter_io",
        "credits": "0",
        "accepted": False,
        "reason": "environment variable HUNTER_API_KEY is not set",
    }
    assert hunter.server.requests == []
    assert any("HUNTER_API_KEY" in w for w in result.warnings)
    assert ledger(seeded, result.execution_id)["used"] == APOLLO_PRICE + STORE_PRICE


def test_a_refused_key_is_not_charged_and_never_shown(seeded, tmp_path, fakes, monkeypatch):
    hunter, _apollo = fakes
    monkeypatch.setenv("HUNTER_API_KEY", "wrong-hunter-key")
    result = run(seeded, tmp_path, fakes, find_email_recipe(), ADA_AT_ORBIT)
    assert result.status == "success", result.error
    first = result.outputs["email"]["tried"][0]
    assert first["credits"] == "0" and "HTTP 401" in first["reason"]
    assert "HUNTER_API_KEY" in first["reason"] and "wrong-hunter-key" not in str(result.to_dict())
    assert len(hunter.calls("/v2/email-finder")) == 1  # not retried
    assert ledger(seeded, result.execution_id)["used"] == APOLLO_PRICE + STORE_PRICE
    # Regression: skipped without a word, every lookup going to the pricier fallback.
    (warning,) = [w for w in result.warnings if "hunter_io" in w]
    assert warning.startswith("step email: hunter_io skipped: the API key in ")
    assert "HUNTER_API_KEY was refused (HTTP 401" in warning
    assert "wrong-hunter-key" not in warning


def test_a_provider_with_a_wrong_setting_is_skipped_with_a_warning(fakes):
    """hunter.toml is checked when it is loaded; settings made otherwise still get a word."""
    from dataclasses import replace
    from types import MappingProxyType

    ctx = make_ctx()
    ctx.step_id = "email"
    ctx.settings = replace(
        ctx.settings,
        sections=MappingProxyType({"providers": {"hunter_io": {"base_url": "ftp://x"}}}),
    )
    params = {
        "lookup": "find_email",
        "input": {"first_name": "Ada", "last_name": "Stone", "domain": "northwind.example"},
        "providers": [{"provider": "hunter_io"}, {"provider": "local"}],
        "required": False,
    }
    Waterfall().run(params, ctx)
    assert ctx.warnings == [
        "step email: hunter_io skipped: hunter.toml: providers.hunter_io.base_url must be an "
        "http:// or https:// URL, not 'ftp://x'"
    ]


def test_the_plan_holds_the_sum_of_the_prices(seeded, tmp_path, fakes):
    recipe = find_email_recipe()
    assert max_cost(recipe["steps"]) == HUNTER_PRICE + APOLLO_PRICE + STORE_PRICE
    planned = run(seeded, tmp_path, fakes, recipe, ADA_AT_NORTHWIND, plan_only=True)
    entry = planned.plan[0]
    assert entry["credits"] == "0.0500"
    assert entry["provider"] == "leads:hunter_io,apollo"
    assert entry["providers"][0]["api_key_env"] == {"name": "HUNTER_API_KEY", "set": True}
    hunter, apollo = fakes
    assert hunter.server.requests == [] and apollo.server.requests == []


# --- the recipe format --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"credits": 0.05}, "parameter 'credits' is not valid for action 'waterfall'"),
        ({"lookup": "find_phone"}, "lookup"),
        ({"providers": []}, "providers"),
        ({"providers": [{"provider": "apollo", "price": 1}]}, "price"),
        (
            {"providers": [{"provider": "apollo", "accept": {"field": "x", "in": [1], "min": 2}}]},
            "accept",
        ),
    ],
)
def test_recipe_validation(tmp_path, change, message):
    recipe = find_email_recipe(**change)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    with pytest.raises(RecipeInvalid) as caught:
        load_and_validate(str(path))
    assert message in str(caught.value)


def test_a_valid_waterfall_recipe_and_its_estimate(tmp_path):
    recipe = find_email_recipe()
    path = tmp_path / "good.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    load_and_validate(str(path))
    default_priced = {
        "type": "action",
        "action": "waterfall",
        "providers": [{"provider": "hunter_io"}, {"provider": "apollo", "credits": 0.5}],
    }
    assert estimate_step_credits(default_priced) == Decimal("0.51")


# --- the action on its own ----------------------------------------------------------------------


def test_accept_rules():
    answer = {"verification": {"status": "Valid", "score": 91}, "email": "a@b.example", "n": None}
    assert rejection(answer, [{"field": "verification.status", "in": ["valid"]}]) is None
    assert rejection(answer, [{"field": "verification.score", "min": 90}]) is None
    assert rejection(answer, [{"field": "verification.score", "max": 90}]) == (
        "verification.score is 91, above 90"
    )
    assert rejection(answer, [{"field": "email", "exists": True}]) is None
    assert rejection(answer, [{"field": "n", "exists": True}]) == "n is None"
    assert rejection(answer, [{"field": "phone", "exists": True}]) == "phone is missing"
    assert rejection(answer, [{"field": "email", "equals": "x@b.example"}]) == (
        "email is 'a@b.example', not 'x@b.example'"
    )
    both = [{"field": "email", "exists": True}, {"field": "verification.score", "min": 95}]
    assert rejection(answer, both) == "verification.score is 91, below 95"


def test_offline_providers_can_answer(monkeypatch):
    # The bundled dataset knows its companies: a waterfall needs no network to enrich one.
    output = Waterfall().run(
        {
            "lookup": "enrich_company",
            "input": {"domain": "https://driftforge-medical.example/"},
            "providers": [{"provider": "local", "credits": 0}],
        },
        ctx := make_ctx(),
    )
    assert output["found"] and output["result"]["company"] == "Driftforge Medical Pte Ltd"
    assert output["result"]["source_provider"] == "local"
    assert ctx.credits_used == Decimal("0")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lookup": "find_phone"}, "lookup must be one of find_email"),
        ({"providers": []}, "providers must be a non-empty list"),
        ({"providers": [{"provider": "apollo", "credits": -1}]}, "credits must be a number"),
        ({"providers": [{"provider": "apollo", "accept": {"in": [1]}}]}, "accept must be"),
        ({"input": {"first_name": "Ada"}}, "find_email needs input.domain"),
        ({"input": {"domain": "x.example"}}, "find_email needs input.first_name"),
    ],
)
def test_bad_parameters(params, message):
    base = {
        "lookup": "find_email",
        "input": {"first_name": "Ada", "last_name": "Stone", "domain": "x.example"},
        "providers": [{"provider": "local"}],
    }
    with pytest.raises(StepError, match=message):
        Waterfall().run({**base, **params}, make_ctx())


def test_an_unknown_provider_is_a_reason_not_a_crash():
    with pytest.raises(StepError, match="nope: unknown lead provider 'nope'"):
        Waterfall().run(
            {
                "lookup": "enrich_company",
                "input": {"domain": "x.example"},
                "providers": [{"provider": "nope"}],
            },
            make_ctx(),
        )


def test_preflight_names_missing_keys(monkeypatch):
    monkeypatch.delenv("HUNTER_API_KEY", raising=False)
    monkeypatch.setenv("APOLLO_API_KEY", "set")
    settings = make_ctx().settings
    steps = [
        {"id": "a", "type": "action", "action": "lead_search", "provider": "{{ inputs.p }}"},
        {"id": "b", "type": "action", "action": "lead_search", "provider": "local"},
        {"id": "c", "type": "action", "action": "lead_search", "provider": "hunter_io",
         "if": "inputs.p == 'never'"},
        {"id": "d", "type": "action", "action": "waterfall",
         "providers": [{"provider": "hunter_io"}, {"provider": "apollo"}]},
        {"id": "e", "type": "action", "action": "waterfall",
         "providers": [{"provider": "hunter_io"}]},
    ]  # fmt: skip
    assert missing_provider_keys(steps, {"p": "hunter_io"}, settings) == [
        "step 'a': environment variable HUNTER_API_KEY (for hunter_io) is not set",
        "step 'e': environment variable HUNTER_API_KEY (for hunter_io) is not set",
    ]
    assert missing_provider_keys(steps, {"p": "local"}, settings) == [
        "step 'e': environment variable HUNTER_API_KEY (for hunter_io) is not set",
    ]


def test_preflight_refuses_before_anything_is_reserved(monkeypatch):
    from hunter_cli.components.actions.lead_search import preflight_lead_providers
    from hunter_cli.errors import ConfigError

    monkeypatch.delenv("APOLLO_API_KEY", raising=False)
    steps = [{"id": "search", "type": "action", "action": "lead_search", "provider": "apollo"}]
    with pytest.raises(ConfigError) as caught:
        preflight_lead_providers(steps, {}, make_ctx().settings)
    assert caught.value.message.startswith(
        "step 'search': environment variable APOLLO_API_KEY (for apollo) is not set"
    )
    monkeypatch.setenv("APOLLO_API_KEY", "x")
    preflight_lead_providers(steps, {}, make_ctx().settings)
