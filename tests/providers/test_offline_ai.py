"""The offline provider's company summary reads as English and never invents facts."""

from __future__ import annotations

from hunter_cli.providers.ai.offline import summarize_company


def test_the_article_follows_the_industry():
    assert summarize_company({"name": "Birchleaf", "industry": "E-commerce"})["summary"] == (
        "Birchleaf is an E-commerce company."
    )
    assert summarize_company({"name": "Acme", "industry": "SaaS", "size": 3})["summary"] == (
        "Acme is a SaaS company of about 3 people."
    )


def test_nothing_known_is_said_as_such():
    assert summarize_company({"name": "Acme"})["summary"] == (
        "Nothing is known about Acme beyond its name."
    )
    lead = {"name": "Short Row", "company": None, "domain": None, "data": {}}
    assert summarize_company(lead)["summary"] == "Nothing is known about this company."


def test_an_offline_answer_that_misses_the_schema_fails_at_once_and_says_so(seeded, tmp_path):
    from tests.engine.test_runner import run, write_recipe

    step = {
        "id": "expand",
        "type": "ai",
        "task": "expand_query",
        "format": "json",
        "prompt": "q",
        "input": "the and",
        "output_schema": {
            "type": "object",
            "properties": {
                "data": {
                    "type": "object",
                    "properties": {"keywords": {"type": "array", "minItems": 1}},
                }
            },
        },
    }
    result = run(seeded, write_recipe(tmp_path, [step]))
    assert result.status == "failed"
    assert result.steps[0].error.startswith(
        "the offline provider's answer does not match the expected schema at keywords"
    )
    assert "asked twice" not in result.steps[0].error
