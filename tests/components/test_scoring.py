"""The scoring action: every operator, reasons, clamping, tiers, and a real run on both
backends."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hunter_cli.components.actions.scoring import Scoring, rule_matches
from hunter_cli.components.base import StepError
from hunter_cli.config import load_settings
from hunter_cli.engine.runner import Runner
from hunter_cli.recipe import load_and_validate
from tests.components.test_data_processing import make_ctx


def score(items, rules, tiers=None, **context):
    params = {"items": items, "rules": rules}
    if tiers is not None:
        params["tiers"] = tiers
    return Scoring().run(params, make_ctx(**context))


@pytest.mark.parametrize(
    ("op", "actual", "value", "expected"),
    [
        ("eq", "SaaS", "saas", True),
        ("eq", 50, "50", True),
        ("eq", "SaaS", "fintech", False),
        ("in", "SaaS", ["saas", "fintech"], True),
        ("in", ["ruby", "Python"], ["python"], True),  # any element of a list field
        ("in", "retail", ["saas"], False),
        ("not_in", "retail", ["saas"], True),
        ("not_in", "SAAS", ["saas"], False),
        ("between", 50, [10, 50], True),
        ("between", 10, [10, 50], True),
        ("between", 51, [10, 50], False),
        ("between", "1,000", [500, None], True),  # numeric text, open upper bound
        ("between", "n/a", [1, 5], False),
        ("gte", 100, 100, True),
        ("gte", 99.5, 100, False),
        ("lte", "2024-01-01", "2024-06-30", True),  # ISO dates compare as text
        ("lte", 5, "abc", False),
        ("contains", "Head of Sales EMEA", "sales", True),
        ("contains", "Engineer", "sales", False),
        ("contains", ["HubSpot", "Salesforce"], "salesforce", True),
        ("contains", ["HubSpot"], "sales", False),  # elements must equal, not contain
        ("contains", "VP Marketing", ["sales", "marketing"], True),
    ],
)
def test_operators(op, actual, value, expected):
    assert rule_matches(op, actual, value) is expected


def test_missing_or_empty_fields_never_match_even_not_in():
    for actual in (None, "", []):
        assert rule_matches("not_in", actual, ["saas"]) is False
        assert rule_matches("eq", actual, "") is False


def test_matches_is_a_case_insensitive_search():
    result = score(
        [{"title": "Chief Technology Officer"}, {"title": "cto"}, {"title": "Intern"}],
        [
            {
                "field": "title",
                "op": "matches",
                "value": r"\b(cto|chief tech)",
                "points": 30,
                "reason": "technical leader",
            }
        ],
    )
    assert [i["score"] for i in result["items"]] == [30, 30, 0]


def test_bad_regex_names_the_rule():
    with pytest.raises(StepError, match=r"rules\[1\] \(senior\): invalid regular expression"):
        score(
            [{"title": "x"}],
            [
                {"field": "title", "op": "eq", "value": "x", "points": 1},
                {
                    "field": "title",
                    "op": "matches",
                    "value": "(unclosed",
                    "points": 1,
                    "reason": "senior",
                },
            ],
        )


RULES = [
    {
        "field": "industry",
        "op": "in",
        "value": ["SaaS", "Fintech"],
        "points": 40,
        "reason": "target industry",
    },
    {
        "field": "company.size",
        "op": "between",
        "value": [50, 500],
        "points": 30,
        "reason": "mid-market",
    },
    {"field": "title", "op": "contains", "value": "head", "points": 20, "reason": "decision maker"},
    {
        "field": "email",
        "op": "matches",
        "value": "@(gmail|yahoo)\\.",
        "points": -25,
        "reason": "personal e-mail",
    },
    {"field": "country", "op": "eq", "value": "US", "points": 20, "reason": "home market"},
]


def test_scores_reasons_and_tiers():
    items = [
        {
            "id": 1,
            "industry": "saas",
            "company": {"size": 120},
            "title": "Head of Growth",
            "country": "us",
        },  # 40+30+20+20 = 110 -> 100
        {"id": 2, "industry": "fintech", "company": {"size": 40}, "title": "Head of Ops"},  # 60
        {"id": 3, "industry": "retail", "title": "Head of Ops", "email": "x@gmail.com"},  # -5->0
        {"id": 4, "industry": "saas", "email": "y@corp.com"},  # 40
        {"id": 5},  # nothing known: 0
    ]
    result = score(items, RULES, {"A": 80, "B": 50, "C": 30})
    scores = {i["id"]: (i["score"], i["tier"]) for i in result["items"]}
    assert scores == {1: (100, "A"), 2: (60, "B"), 3: (0, None), 4: (40, "C"), 5: (0, None)}
    assert result["tiers"] == {"A": 1, "B": 1, "C": 1}
    assert result["count"] == 5
    first = result["items"][0]
    assert first["score_reasons"] == [
        {"rule": "target industry", "points": 40},
        {"rule": "mid-market", "points": 30},
        {"rule": "decision maker", "points": 20},
        {"rule": "home market", "points": 20},
    ]
    third = result["items"][2]
    assert third["score_reasons"] == [
        {"rule": "decision maker", "points": 20},
        {"rule": "personal e-mail", "points": -25},
    ]
    # The items are copies; the originals are unchanged.
    assert "score" not in items[0]


def test_default_tiers_and_fractional_points():
    result = score([{"a": 1}], [{"field": "a", "op": "eq", "value": 1, "points": 82.5}])
    item = result["items"][0]
    assert item["score"] == 82.5 and item["tier"] == "A"
    assert item["score_reasons"] == [{"rule": "a eq 1", "points": 82.5}]
    assert result["tiers"] == {"A": 1, "B": 0, "C": 0}


def test_rule_values_are_rendered_per_item():
    items = [{"country": "DE", "home": "de"}, {"country": "FR", "home": "de"}]
    result = score(
        items,
        [
            {
                "field": "country",
                "op": "eq",
                "value": "{{ item.home }}",
                "points": 10,
                "reason": "local to {{ item.home | upper }}",
            },
            {
                "field": "country",
                "op": "in",
                "value": "{{ inputs.markets }}",
                "points": 5,
                "reason": "market",
            },
        ],
        inputs={"markets": ["FR"]},
    )
    assert [i["score"] for i in result["items"]] == [10, 5]
    assert result["items"][0]["score_reasons"][0]["rule"] == "local to DE"


def test_wrong_types():
    with pytest.raises(StepError, match="items must be a list, got a string"):
        score("leads", RULES)
    with pytest.raises(StepError, match=r"items\[0\] must be a mapping"):
        score(["x"], RULES)
    with pytest.raises(StepError, match=r"between needs \[low, high\]"):
        score([{}], [{"field": "a", "op": "between", "value": 5, "points": 1}])
    with pytest.raises(StepError, match="tiers.A must be a number"):
        score([{}], RULES, {"A": "high"})


def test_scoring_in_a_run(seeded, tmp_path: Path):
    recipe = {
        "slug": "sc",
        "name": "SC",
        "version": 1,
        "description": "scoring",
        "inputs": {"type": "object", "properties": {"target": {"type": "string"}}},
        "steps": [
            {
                "id": "leads",
                "type": "state",
                "set": {
                    "leads": [
                        {"email": "a@x.com", "industry": "SaaS", "employees": 200},
                        {"email": "b@y.com", "industry": "Retail", "employees": 5},
                    ]
                },
            },
            {
                "id": "score",
                "type": "action",
                "action": "scoring",
                "items": "{{ state.leads }}",
                "rules": [
                    {
                        "field": "industry",
                        "op": "eq",
                        "value": "{{ inputs.target }}",
                        "points": 60,
                        "reason": "target industry",
                    },
                    {
                        "field": "employees",
                        "op": "gte",
                        "value": 50,
                        "points": 30,
                        "reason": "big enough",
                    },
                ],
                "tiers": {"A": 80, "B": 50},
            },
        ],
        "outputs": {"tiers": "{{ steps.score.output.tiers }}"},
    }
    path = tmp_path / "sc.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    settings = load_settings(database_url=seeded.url, actor="tester", environ={})
    result = Runner(seeded, settings).run(load_and_validate(str(path)), "acme", {"target": "saas"})
    assert result.status == "success", result.error
    assert result.outputs == {"tiers": {"A": 1, "B": 0}}
    scored = result.steps[1].output["items"]
    assert [(i["score"], i["tier"]) for i in scored] == [(90, "A"), (0, None)]
