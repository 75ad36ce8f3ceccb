"""lead_search and the local lead provider: search quality on the bundled dataset, filters,
parameters, and a real run."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import yaml

from hunter_cli.components.actions.lead_search import LeadSearch
from hunter_cli.components.base import StepContext, StepError
from hunter_cli.config import Settings, load_settings
from hunter_cli.engine.runner import Runner
from hunter_cli.providers.ai.offline import expand_query
from hunter_cli.providers.leads import PROVIDERS, LeadProviderError, LeadQuery, get_provider
from hunter_cli.providers.leads.local import LocalProvider, is_role_term
from hunter_cli.recipe import load_and_validate
from hunter_cli.recipe.templates import evaluate_expression, render_value

SAASISH = re.compile(r"\b(saas|software|cloud|subscription)\b", re.IGNORECASE)
FOUNDERISH = re.compile(r"\b(founder|ceo|owner|chief executive)\b", re.IGNORECASE)


def search(text: str = "", keywords=None, filters=None, limit: int = 25) -> list[dict]:
    query = LeadQuery(query=text, keywords=keywords or [], filters=filters or {}, limit=limit)
    return LocalProvider().search(query)


def saasish(lead: dict) -> bool:
    data = lead["data"]
    return data["industry"] == "SaaS" or bool(SAASISH.search(data["description"] or ""))


def test_saas_founders_are_founders_at_saas_companies():
    keywords = expand_query("SaaS founders")["keywords"]
    assert "b2b" in keywords and "founder" in keywords  # what the offline AI step hands over
    leads = search("SaaS founders", keywords)
    assert len(leads) >= 10
    titles = [lead["title"] for lead in leads]
    assert all(FOUNDERISH.search(title) for title in titles), titles
    assert all(saasish(lead) for lead in leads), [lead["company"] for lead in leads]
    # An exact industry match ranks above a mention in a description.
    assert all(lead["data"]["industry"] == "SaaS" for lead in leads[:10])
    assert leads == search("SaaS founders", keywords)  # the same query, the same answer


def test_every_match_has_the_full_shape():
    lead = search(keywords=["saas", "founder"], limit=1)[0]
    assert set(lead) == {"name", "title", "email", "phone", "company", "domain", "data",
                         "source_provider"}  # fmt: skip
    assert lead["source_provider"] == "local"
    assert set(lead["data"]) == {"industry", "size", "size_band", "location", "technologies",
                                 "description", "linkedin", "founded"}  # fmt: skip
    assert lead["email"].endswith("@" + lead["domain"])


def test_company_words_alone_and_roles_alone():
    saas = search(keywords=["saas"], limit=200)
    assert len({lead["title"] for lead in saas}) > 5  # every role
    assert all(saasish(lead) for lead in saas)
    ceos = search(keywords=["ceo"], limit=200)
    assert all("ceo" in lead["title"].lower() for lead in ceos)
    assert len({lead["data"]["industry"] for lead in ceos}) > 5  # everywhere


def test_a_generic_word_cannot_match_a_company_on_its_own():
    # Nearly every company is "b2b": with a specific word given, b2b only ranks.
    leads = search(keywords=["saas", "b2b"], limit=500)
    assert leads and all(saasish(lead) for lead in leads)
    assert search(keywords=["b2b"], limit=500)  # alone it still finds b2b companies


def test_query_text_is_used_without_keywords():
    leads = search("fintech CTO")
    assert leads and all(lead["data"]["industry"] == "Fintech" for lead in leads)
    assert all("cto" in lead["title"].lower() for lead in leads)


@pytest.mark.parametrize(
    ("term", "role"),
    [("founders", True), ("co-founder", True), ("head of engineering", True),
     ("vp sales", True), ("business development", True), ("saas", False),
     ("marketing agency", False), ("hr tech", False)],
)  # fmt: skip
def test_role_vocabulary(term, role):
    assert is_role_term(term) is role


def test_filters():
    fintech = search(filters={"industry": ["FINTECH", "ecommerce"]}, limit=500)
    assert {lead["data"]["industry"] for lead in fintech} == {"Fintech", "E-commerce"}
    german = search(filters={"country": "de", "size_min": 50, "size_max": 500}, limit=500)
    assert german and all(
        lead["data"]["location"]["country"] == "DE" and 50 <= lead["data"]["size"] <= 500
        for lead in german
    )
    berlin = search(filters={"city": "berlin"}, limit=500)
    assert berlin and {lead["data"]["location"]["city"] for lead in berlin} == {"Berlin"}
    shopify = search(filters={"technologies": ["shopify", "Nope"]}, limit=500)
    assert shopify and all("Shopify" in lead["data"]["technologies"] for lead in shopify)
    one = search(limit=1)[0]
    same = search(filters={"domain": f"https://www.{one['domain'].upper()}/"}, limit=500)
    assert same and {lead["domain"] for lead in same} == {one["domain"]}
    vps = search(filters={"title": "vp "}, limit=500)
    assert vps and all(lead["title"].startswith("VP ") for lead in vps)
    assert search(keywords=["saas"], filters={"industry": "Healthcare"}) == []


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"industries": "SaaS"}, "unknown filter 'industries'"),
        ({"size_min": "big"}, "filter size_min must be a whole number"),
        ({"country": {"code": "DE"}}, "filter country must be a string or a list"),
    ],
)
def test_bad_filters(filters, message):
    with pytest.raises(LeadProviderError, match=message):
        search(filters=filters)


def test_registry():
    assert "local" in PROVIDERS
    assert get_provider("local").name == "local"
    with pytest.raises(KeyError, match="unknown lead provider 'nope'"):
        get_provider("nope")


# --- the action ----------------------------------------------------------------------------


def make_ctx() -> StepContext:
    """lead_search needs no database: a provider never touches it."""
    return StepContext(
        session=None,  # type: ignore[arg-type]
        settings=Settings(None, None, None, None, "tester"),
        customer_id=uuid.uuid4(),  # never loaded: these operations need no database
        execution_id=uuid.uuid4(),
        step_id="search",
        actor="tester",
        template_context={"inputs": {}, "steps": {}, "state": {}},
        render_fn=render_value,
        evaluate_fn=evaluate_expression,
    )


def test_action_output_and_meta():
    ctx = make_ctx()
    output = LeadSearch().run(
        {"action": "lead_search", "query": "SaaS founders", "keywords": "saas, founder",
         "limit": "5"},
        ctx,
    )  # fmt: skip
    assert output["provider"] == "local" and output["count"] == 5 == len(output["leads"])
    assert ctx.meta["provider"] == "local"
    assert LeadSearch().plan({"action": "lead_search"}, ctx) == {"provider": "leads:local"}


def test_action_takes_an_expand_query_output_as_query():
    expanded = {"text": "...", "data": expand_query("SaaS founders")}
    from_ai = LeadSearch().run({"query": expanded}, make_ctx())
    direct = LeadSearch().run(
        {"query": "SaaS founders", "keywords": expand_query("SaaS founders")["keywords"]},
        make_ctx(),
    )
    assert from_ai["leads"] == direct["leads"] and from_ai["count"] == 25


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"provider": "nope"}, "unknown lead provider 'nope'; known providers: local"),
        ({"limit": 0}, "limit must be at least 1"),
        ({"limit": "lots"}, "limit must be a whole number"),
        ({"filters": ["SaaS"]}, "filters must be a mapping"),
        ({"filters": {"colour": "red"}}, "lead provider local: unknown filter 'colour'"),
        ({"keywords": 5}, "keywords must be a list or comma-separated text"),
    ],
)
def test_action_errors(params, message):
    with pytest.raises(StepError, match=re.escape(message)):
        LeadSearch().run({"action": "lead_search", **params}, make_ctx())


def test_discovery_in_a_real_run(seeded, tmp_path: Path):
    recipe = {
        "slug": "find",
        "name": "Find",
        "version": 1,
        "inputs": {"type": "object", "properties": {"query": {"type": "string"}}},
        "steps": [
            {"id": "expand", "type": "ai", "task": "expand_query", "format": "json",
             "prompt": "Search terms for {{ inputs.query }}", "input": "{{ inputs.query }}"},
            {"id": "search", "type": "action", "action": "lead_search",
             "query": "{{ inputs.query }}", "keywords": "{{ steps.expand.output.data.keywords }}",
             "filters": {"country": ["US", "UK", "DE", "FR", "NL", "CA", "AU", "IN", "SG", "BR"]},
             "limit": 15},
        ],
        "outputs": {"count": "{{ steps.search.output.count }}",
                    "titles": "{{ steps.search.output.leads | map(attribute='title') | list }}"},
    }  # fmt: skip
    path = tmp_path / "find.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    settings = load_settings(database_url=seeded.url, actor="tester", environ={})
    result = Runner(seeded, settings).run(
        load_and_validate(str(path)), "acme", {"query": "SaaS founders"}
    )
    assert result.status == "success", result.error
    assert result.outputs["count"] == 15
    assert all(FOUNDERISH.search(title) for title in result.outputs["titles"])
    assert result.steps[1].meta["provider"] == "local"


def test_a_domain_filter_that_is_no_domain_is_an_error_not_no_filter():
    from hunter_cli.providers.leads.base import LeadProviderError
    from hunter_cli.providers.leads.local import _Filters

    for value in ("...", "  ", "https://", 3):
        with pytest.raises(LeadProviderError, match="is not a domain"):
            _Filters({"domain": value})
    assert _Filters({"domain": ""}).domain is None  # an empty template: no filter
    assert _Filters({"domain": "https://www.Acme.example/x"}).domain == "acme.example"
