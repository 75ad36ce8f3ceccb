"""The apollo lead provider against a fake Apollo.io API on loopback: the search body built
from a query, paging to the limit (total_entries and pagination.total_pages), enrichment of
search results to emails, rate limits, a refused or missing key, people and organization
enrichment, and the discovery recipe through the CLI."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest

from hunter_cli.providers.leads import (
    LeadProviderError,
    LeadQuery,
    MissingApiKeyError,
    TransientLeadProviderError,
)
from hunter_cli.providers.leads.apollo import ApolloProvider, search_body
from tests.lead_servers import APOLLO_KEY, FakeApollo
from tests.servers import LoopbackServer, Reply, http_server  # noqa: F401

SEARCH = "/api/v1/mixed_people/api_search"
BULK = "/api/v1/people/bulk_match"


@pytest.fixture
def apollo(http_server, monkeypatch) -> FakeApollo:  # noqa: F811
    monkeypatch.setenv("APOLLO_API_KEY", APOLLO_KEY)
    return FakeApollo(http_server)


def provider(server: LoopbackServer, **config) -> ApolloProvider:
    return ApolloProvider(base_url=server.url, backoff=0, **config)


def search(server: LoopbackServer, limit: int = 25, query: str = "", **config):
    filters = config.pop("filters", {})
    keywords = config.pop("keywords", [])
    return provider(server, **config).search(
        LeadQuery(query=query, keywords=keywords, filters=filters, limit=limit)
    )


def no_key_in(text: str) -> bool:
    return APOLLO_KEY not in text and quote(APOLLO_KEY, safe="") not in text


# --- what is asked ------------------------------------------------------------------------------


def test_the_search_body_from_a_query_keywords_and_filters():
    body = search_body(
        LeadQuery(
            query="SaaS founders",
            keywords=["saas", "software", "founder", "ceo", "vp sales"],
            filters={
                "country": "Germany",
                "city": ["Berlin"],
                "domain": "https://www.Orbit.example/",
                "size_min": 10,
                "size_max": 200,
                "technologies": ["Google Analytics"],
                "seniorities": ["founder", "c_suite"],
                "titles": ["Head of Growth"],
            },
        )
    )
    assert body == {
        "person_titles": ["founder", "ceo", "vp sales", "founders", "Head of Growth"],
        "q_keywords": "SaaS",
        "person_locations": ["Berlin", "Germany"],
        "q_organization_domains_list": ["orbit.example"],
        "person_seniorities": ["founder", "c_suite"],
        "organization_num_employees_ranges": ["10,200"],
        "currently_using_any_of_technology_uids": ["google_analytics"],
    }
    # Without free text the company keywords are the search words.
    assert search_body(LeadQuery(keywords=["fintech", "cto"]))["q_keywords"] == "fintech"
    with pytest.raises(LeadProviderError, match="unknown filter 'colour' for the apollo"):
        search_body(LeadQuery(filters={"colour": "red"}))
    with pytest.raises(LeadProviderError, match="filter size_min must be a whole number"):
        search_body(LeadQuery(filters={"size_min": "big"}))


# --- search -----------------------------------------------------------------------------------


def test_search_then_enrichment_maps_apollos_fields(apollo):
    leads = search(apollo.server, limit=3, filters={"domain": "orbit.example"})
    assert len(leads) == 3
    assert leads[0] == {
        "name": "Ada Stone",
        "title": "Founder & CEO",
        "email": "ada.stone0@orbit.example",
        "phone": "+14155550000",
        "company": "Orbit Payments",
        "domain": "orbit.example",
        "data": {
            "industry": "financial services",
            "size": 120,
            "location": {"city": "London", "region": "England", "country": "United Kingdom"},
            "technologies": ["Stripe", "Salesforce"],
            "description": "Payment infrastructure for marketplaces.",
            "founded": 2017,
            "company_linkedin": "http://www.linkedin.com/company/orbit",
            "apollo_organization_id": leads[0]["data"]["apollo_organization_id"],
            "linkedin": "http://www.linkedin.com/in/ada-stone",
            "seniority": "founder",
            "headline": "Founder & CEO at Orbit Payments",
            "email_status": "verified",
            "apollo_id": leads[0]["data"]["apollo_id"],
        },
        "source_provider": "apollo",
    }
    (asked,) = apollo.calls(SEARCH)
    # The key travels as Apollo wants it: the X-Api-Key header, never the URL.
    assert asked.headers["x-api-key"] == APOLLO_KEY and not asked.query
    assert asked.json() == {
        "q_organization_domains_list": ["orbit.example"],
        "page": 1,
        "per_page": 3,
    }
    (enriched,) = apollo.calls(BULK)
    assert enriched.headers["x-api-key"] == APOLLO_KEY
    assert [d["id"] for d in enriched.json()["details"]] == [
        lead["data"]["apollo_id"] for lead in leads
    ]


def test_pages_until_the_limit_and_enriches_ten_at_a_time(apollo):
    leads = search(apollo.server, limit=25, per_page=10)
    assert len(leads) == 25 and all(lead["email"] for lead in leads)
    assert [c.json()["page"] for c in apollo.calls(SEARCH)] == [1, 2, 3]
    assert [len(c.json()["details"]) for c in apollo.calls(BULK)] == [10, 10, 5]

    apollo.server.requests.clear()
    leads = search(apollo.server, limit=100, per_page=10)
    assert len(leads) == 27  # total_entries 27: three pages, no fourth
    assert [c.json()["page"] for c in apollo.calls(SEARCH)] == [1, 2, 3]


def test_the_older_search_endpoint_pages_by_total_pages(apollo):
    leads = search(apollo.server, limit=100, per_page=10, search_path="/api/v1/mixed_people/search")
    assert len(leads) == 27
    assert len(apollo.calls("/api/v1/mixed_people/search")) == 3
    assert apollo.calls(BULK) == []  # its records already carry the emails


def test_without_enrichment_no_obfuscated_surname_is_kept_as_a_name(apollo):
    leads = search(apollo.server, limit=2, enrich=False)
    assert apollo.calls(BULK) == []
    assert leads[0]["name"] == "Ada" and leads[0]["email"] is None
    assert leads[0]["data"]["last_name_obfuscated"] == "St***e"


def test_a_429_is_retried_after_its_retry_after(apollo):
    apollo.fail("POST", SEARCH, 429, retry_after="1")
    started = time.monotonic()
    leads = search(apollo.server, limit=5)
    assert time.monotonic() - started >= 0.9
    assert len(leads) == 5 and len(apollo.calls(SEARCH)) == 2


def test_a_429_during_enrichment_is_retried_there(apollo):
    apollo.fail("POST", BULK, 429, retry_after="0")
    leads = search(apollo.server, limit=12, per_page=12)
    assert all(lead["email"] for lead in leads)
    assert len(apollo.calls(SEARCH)) == 1  # the search was not asked again
    assert [len(c.json()["details"]) for c in apollo.calls(BULK)] == [10, 10, 2]


def test_server_errors_give_up_after_max_retries(apollo):
    apollo.fail("POST", SEARCH, 502, times=0)
    with pytest.raises(TransientLeadProviderError, match="HTTP 502") as caught:
        search(apollo.server, max_retries=1)
    assert len(apollo.calls(SEARCH)) == 2
    assert caught.value.exhausted and caught.value.message.endswith("(tried 2 times)")


def test_a_refused_key_is_not_retried(apollo, monkeypatch):
    monkeypatch.setenv("APOLLO_API_KEY", "wrong-apollo-key")
    with pytest.raises(LeadProviderError) as caught:
        search(apollo.server)
    assert not isinstance(caught.value, TransientLeadProviderError)
    message = caught.value.message
    assert "APOLLO_API_KEY" in message and "HTTP 401" in message and "Invalid API key" in message
    assert "wrong-apollo-key" not in message
    assert len(apollo.calls(SEARCH)) == 1


def test_a_key_without_access_to_the_endpoint(apollo):
    apollo.fail("POST", SEARCH, 403, times=0)
    with pytest.raises(LeadProviderError) as caught:
        search(apollo.server)
    assert "API_INACCESSIBLE" in caught.value.message
    assert "APOLLO_API_KEY" in caught.value.message
    assert len(apollo.calls(SEARCH)) == 1


def test_a_missing_key_names_the_variable(apollo, monkeypatch):
    monkeypatch.delenv("APOLLO_API_KEY")
    with pytest.raises(MissingApiKeyError, match="APOLLO_API_KEY is not set"):
        search(apollo.server)
    assert apollo.server.requests == []


# --- lookups ----------------------------------------------------------------------------------


def test_find_email_by_people_match(apollo):
    found = provider(apollo.server).find_email("Ada", "Stone", "www.lumen.example")
    assert found["email"] == "ada.stone0@lumen.example"
    assert found["verification"] == {"status": "valid", "email_status": "verified"}
    assert found["company"] == "Lumen CRM" and found["source_provider"] == "apollo"
    (asked,) = apollo.calls("/api/v1/people/match")
    assert asked.json() == {"first_name": "Ada", "last_name": "Stone", "domain": "lumen.example"}
    assert provider(apollo.server).find_email("No", "Body", "lumen.example") is None

    apollo.people[13].apollo_email_status = "guessed"  # Ada at lumen.example
    guessed = provider(apollo.server).find_email("Ada", "Stone", "lumen.example")
    assert guessed["verification"] == {"status": "unknown", "email_status": "guessed"}


def test_enrich_company_by_domain(apollo):
    company = provider(apollo.server).enrich_company("https://orbit.example/about")
    assert company["company"] == "Orbit Payments" and company["domain"] == "orbit.example"
    assert company["data"]["size"] == 120 and company["data"]["founded"] == 2017
    (asked,) = apollo.calls("/api/v1/organizations/enrich")
    assert asked.arg("domain") == "orbit.example" and asked.headers["x-api-key"] == APOLLO_KEY
    assert provider(apollo.server).enrich_company("unknown.example") is None


# --- through the CLI ----------------------------------------------------------------------------


def test_discovery_with_apollo_through_the_cli(workspace, cli, apollo):
    config = workspace / "hunter.toml"
    config.write_text(
        config.read_text()
        + f'\n[providers.apollo]\nbase_url = "{apollo.server.url}"\nbackoff = 0\n'
    )
    assert cli("seed").exit_code == 0
    result = cli(
        "run", "discovery", "--query", "founders", "--provider", "apollo", "--limit", "3",
        "--json",
    )  # fmt: skip
    data = result.ok()
    assert data["status"] == "success"
    (asked,) = apollo.calls(SEARCH)
    assert "founder" in asked.json()["person_titles"]
    stored = cli("leads", "list", "--json").ok()
    assert len(stored) == 3
    assert all(lead["title"] == "Founder & CEO" for lead in stored)
    assert {lead["data"]["_provenance"]["email"] for lead in stored} == {"apollo"}
    assert no_key_in(result.stdout) and no_key_in(cli("audit", "list", "--json").stdout)


def test_a_retried_step_does_not_pay_again_for_what_it_has(
    workspace,
    cli,
    http_server,  # noqa: F811
    monkeypatch,
):
    """Regression: the step's `retry` asked for the search and the first bulk_match again
    (both charged by Apollo) when the second bulk_match failed. A Retry-After longer than
    max_wait leaves the wait to the step; its second attempt asks only for that batch."""
    apollo = FakeApollo(http_server, people=90)  # 16 founders: one page, 10 + 6 to enrich
    config = workspace / "hunter.toml"
    config.write_text(
        config.read_text()
        + f'\n[providers.apollo]\nbase_url = "{apollo.server.url}"\nbackoff = 0\n'
        + "max_wait = 0.1\n"
    )
    monkeypatch.setenv("APOLLO_API_KEY", APOLLO_KEY)
    apollo.server.route(
        "POST",
        BULK,
        apollo.bulk_match,
        Reply(status=503, json={"error": "busy"}, headers={"Retry-After": "0.2"}),
        apollo.bulk_match,
    )
    assert cli("seed").exit_code == 0
    result = cli(
        "run", "discovery", "--query", "founders", "--provider", "apollo", "--limit", "8",
        "--json",
    )  # fmt: skip
    data = result.ok()
    search_step = data["steps"][1]
    assert search_step["status"] == "ok" and search_step["attempts"] == 2
    assert search_step["output"]["count"] == 16
    assert all(lead["email"] for lead in search_step["output"]["leads"])
    assert len(apollo.calls(SEARCH)) == 1  # the first attempt's search was kept
    # The first batch once; the second failed once, then was asked again.
    assert [len(c.json()["details"]) for c in apollo.calls(BULK)] == [10, 6, 6]
