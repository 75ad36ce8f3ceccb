"""The hunter_io lead provider against a fake Hunter.io API v2 on loopback: mapping, paging to
the limit, rate limits and Retry-After, a refused or missing key, the email finder with the
verifier, and the discovery recipe end to end through the CLI with the key kept out of
every record."""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import quote, quote_plus

import pytest
from sqlalchemy import create_engine, inspect, text

from hunter_cli.providers.leads import (
    LeadProviderError,
    LeadQuery,
    MissingApiKeyError,
    TransientLeadProviderError,
    get_provider,
)
from hunter_cli.providers.leads.hunter_io import HunterIoProvider
from tests.lead_servers import HUNTER_KEY, FakeHunter
from tests.servers import LoopbackServer, Reply, http_server  # noqa: F401

SEARCH = "/v2/domain-search"


@pytest.fixture
def hunter(http_server, monkeypatch) -> FakeHunter:  # noqa: F811
    monkeypatch.setenv("HUNTER_API_KEY", HUNTER_KEY)
    return FakeHunter(http_server)


def provider(server: LoopbackServer, **config) -> HunterIoProvider:
    return HunterIoProvider(base_url=server.url, backoff=0, **config)


def search(server: LoopbackServer, query: str = "northwind.example", limit: int = 25, **config):
    return provider(server, **config).search(LeadQuery(query=query, limit=limit))


def no_key_in(text_: str) -> bool:
    return all(
        form not in text_
        for form in (HUNTER_KEY, quote(HUNTER_KEY, safe=""), quote_plus(HUNTER_KEY))
    )


# --- search ---------------------------------------------------------------------------------


def test_domain_search_maps_hunters_fields(hunter):
    leads = search(hunter.server, limit=4)
    assert len(leads) == 4
    first = leads[0]
    assert first == {
        "name": "Ada Stone",
        "title": "Founder & CEO",
        "email": "ada.stone0@northwind.example",
        "phone": "+14155550000",
        "company": "Northwind Analytics",
        "domain": "northwind.example",
        "data": {
            "industry": "Information Technology",
            "size_band": "51-200",
            "location": {"city": "San Francisco", "region": "CA", "country": "US"},
            "technologies": ["stripe", "segment"],
            "description": "Analytics for subscription businesses.",
            "linkedin": "https://www.linkedin.com/in/ada-stone",
            "seniority": "executive",
            "department": "executive",
            "email_type": "personal",
            "confidence": 94,
            "verification": {"date": "2025-01-10", "status": "valid"},
        },
        "source_provider": "hunter_io",
    }
    assert leads[1]["phone"] is None and "phone" not in leads[1]["data"]
    (request,) = hunter.calls(SEARCH)
    # The key travels as Hunter wants it: the api_key query parameter, nowhere else.
    assert request.arg("api_key") == HUNTER_KEY
    assert "x-api-key" not in request.headers and "authorization" not in request.headers
    assert (request.arg("domain"), request.arg("limit"), request.arg("offset")) == (
        "northwind.example",
        "4",
        "0",
    )


def test_an_unknown_company_field_is_left_out(hunter):
    lead = search(hunter.server, "tinyco.example")[0]
    assert lead["company"] == "TinyCo"
    assert lead["data"]["location"] == {"city": "Berlin", "region": None, "country": "DE"}
    assert "industry" not in lead["data"] and "description" not in lead["data"]


def test_pages_until_the_limit(hunter):
    leads = search(hunter.server, limit=25, page_size=10)
    assert len(leads) == 23  # all Hunter has: the third page came back short
    assert len({lead["email"] for lead in leads}) == 23
    calls = hunter.calls(SEARCH)
    assert [(c.arg("offset"), c.arg("limit")) for c in calls] == [
        ("0", "10"),
        ("10", "10"),
        ("20", "5"),
    ]

    hunter.server.requests.clear()
    leads = search(hunter.server, limit=15, page_size=10)
    assert len(leads) == 15
    assert [(c.arg("offset"), c.arg("limit")) for c in hunter.calls(SEARCH)] == [
        ("0", "10"),
        ("10", "5"),
    ]

    hunter.server.requests.clear()
    assert len(search(hunter.server, limit=20, page_size=10)) == 20
    assert len(hunter.calls(SEARCH)) == 2  # meta.results says there is more, but 20 is enough


def test_the_domain_comes_from_the_query_or_the_filters(hunter):
    server = hunter.server
    leads = provider(server).search(
        LeadQuery(
            query="SaaS founders", filters={"domain": "https://www.NorthWind.example/"}, limit=2
        )
    )
    assert len(leads) == 2 and hunter.calls(SEARCH)[-1].arg("domain") == "northwind.example"
    provider(server).search(
        LeadQuery(filters={"company": "Northwind", "seniority": ["executive", "senior"]}, limit=1)
    )
    last = hunter.calls(SEARCH)[-1]
    assert last.arg("company") == "Northwind" and last.arg("domain") is None
    assert last.arg("seniority") == "executive,senior"
    with pytest.raises(LeadProviderError, match="give a domain as the query"):
        provider(server).search(LeadQuery(query="SaaS founders"))
    with pytest.raises(LeadProviderError, match="unknown filter 'industry'.*domain, company"):
        provider(server).search(LeadQuery(query="northwind.example", filters={"industry": "x"}))
    with pytest.raises(LeadProviderError, match="filter domain 'not a domain'"):
        provider(server).search(LeadQuery(filters={"domain": "not a domain"}))


# --- rate limits and failures ------------------------------------------------------------------


def test_a_429_with_retry_after_is_waited_for_then_the_same_page_asked_again(hunter):
    hunter.fail(SEARCH, 429, retry_after="1")
    started = time.monotonic()
    leads = search(hunter.server, limit=5)
    assert time.monotonic() - started >= 0.9  # backoff is 0: the wait was the server's
    assert len(leads) == 5
    calls = hunter.calls(SEARCH)
    assert len(calls) == 2 and calls[0].query == calls[1].query


def test_a_429_on_a_later_page_resumes_at_that_page(hunter):
    # Page 1 answers, page 2 is rate-limited once, then answers.
    pages = iter([None, 429, None, None])

    def flaky(request):
        status = next(pages)
        if status:
            return Reply(
                status=status, json=hunter.error_body(status), headers={"Retry-After": "0"}
            )
        return hunter.domain_search(request)

    hunter.server.route("GET", SEARCH, flaky)
    leads = search(hunter.server, limit=23, page_size=10)
    assert len(leads) == 23
    assert [c.arg("offset") for c in hunter.calls(SEARCH)] == ["0", "10", "10", "20"]


def test_hunters_403_rate_limit_is_retried(hunter):
    hunter.fail(SEARCH, 403)
    assert len(search(hunter.server, limit=3)) == 3
    assert len(hunter.calls(SEARCH)) == 2


def test_server_errors_are_retried_a_bounded_number_of_times(hunter):
    hunter.fail(SEARCH, 503, times=0)
    with pytest.raises(TransientLeadProviderError) as caught:
        search(hunter.server, max_retries=2)
    assert len(hunter.calls(SEARCH)) == 3
    message = caught.value.message
    assert "HTTP 503" in message and "/v2/domain-search" in message and no_key_in(message)
    assert "api_key" not in message  # the query string is never shown
    # Used up here: the step's own `retry` must not ask 3 more times.
    assert caught.value.exhausted and message.endswith("(tried 3 times)")


def test_a_wait_longer_than_max_wait_is_left_to_the_step(hunter):
    hunter.fail(SEARCH, 429, retry_after="120")
    with pytest.raises(TransientLeadProviderError) as caught:
        search(hunter.server)
    assert caught.value.retry_after == 120.0 and not caught.value.exhausted
    assert len(hunter.calls(SEARCH)) == 1
    assert "monthly usage limit" in caught.value.message


def test_a_429_saying_the_monthly_quota_is_used_up_is_not_retried(hunter):
    hunter.fail(SEARCH, 429, times=0)  # no Retry-After: it will not lift within a run
    with pytest.raises(LeadProviderError) as caught:
        search(hunter.server)
    assert not isinstance(caught.value, TransientLeadProviderError)
    assert len(hunter.calls(SEARCH)) == 1
    assert "monthly usage limit" in caught.value.message
    assert "quota is used up: not retried" in caught.value.message


def test_a_refused_key_is_not_retried_and_the_message_names_the_variable(hunter, monkeypatch):
    monkeypatch.setenv("HUNTER_API_KEY", "wrong+key/value")
    with pytest.raises(LeadProviderError) as caught:
        search(hunter.server)
    assert not isinstance(caught.value, TransientLeadProviderError)
    assert len(hunter.calls(SEARCH)) == 1
    message = caught.value.message
    assert "HUNTER_API_KEY" in message and "HTTP 401" in message
    assert "No user found for the API key supplied" in message
    assert "wrong+key/value" not in message and "wrong%2Bkey" not in message


def test_a_missing_key_names_the_variable_and_calls_nobody(hunter, monkeypatch):
    monkeypatch.delenv("HUNTER_API_KEY")
    with pytest.raises(MissingApiKeyError) as caught:
        search(hunter.server)
    assert caught.value.env == "HUNTER_API_KEY"
    assert "environment variable HUNTER_API_KEY is not set" in caught.value.message
    monkeypatch.setenv("TEAM_HUNTER_KEY", HUNTER_KEY)
    assert search(hunter.server, limit=1, api_key_env="TEAM_HUNTER_KEY")
    monkeypatch.delenv("TEAM_HUNTER_KEY")
    with pytest.raises(MissingApiKeyError, match="TEAM_HUNTER_KEY is not set"):
        search(hunter.server, api_key_env="TEAM_HUNTER_KEY")
    assert len(hunter.calls(SEARCH)) == 1


def test_settings_are_checked(http_server):  # noqa: F811
    with pytest.raises(
        LeadProviderError, match="unknown setting providers.hunter_io.base-url.*base_url"
    ):
        get_provider("hunter_io", {"base-url": "http://x"})
    with pytest.raises(LeadProviderError, match="base_url must be an http"):
        get_provider("hunter_io", {"base_url": "ftp://x"})
    with pytest.raises(LeadProviderError, match="page_size must be a whole number"):
        get_provider("hunter_io", {"page_size": 0})
    assert get_provider("hunter_io", {}).options.base_url == "https://api.hunter.io"


def test_the_key_never_reaches_the_log(hunter, caplog):
    caplog.set_level(logging.DEBUG)
    hunter.fail(SEARCH, 429, retry_after="0")
    search(hunter.server, limit=2)
    assert "HTTP Request" in caplog.text  # httpx did log the requests...
    assert no_key_in(caplog.text)  # ...without the key in their URLs


def test_a_redirect_is_named_not_followed(hunter):
    """Regression: a 302 was reported as "answered without a `data` object"."""
    with LoopbackServer() as elsewhere:
        moved = f"{elsewhere.url}/v2/domain-search?api_key=leaked"
        hunter.server.route("GET", SEARCH, Reply(status=302, headers={"Location": moved}))
        with pytest.raises(LeadProviderError) as caught:
            search(hunter.server)
        assert not isinstance(caught.value, TransientLeadProviderError)
        assert elsewhere.requests == [] and len(hunter.calls(SEARCH)) == 1
        message = caught.value.message
        assert message == (
            f"hunter_io: GET {hunter.server.url}/v2/domain-search answered HTTP 302, a "
            f"redirect to 127.0.0.1:{elsewhere.port}, which is not followed (the API key "
            "would go with it): check providers.hunter_io.base_url in hunter.toml"
        )
        assert no_key_in(message) and "leaked" not in message


# --- lookups ----------------------------------------------------------------------------------


def test_find_email_asks_the_verifier(hunter):
    found = provider(hunter.server).find_email("ada", "STONE", "northwind.example")
    assert found["email"] == "ada.stone0@northwind.example"
    assert found["verification"]["status"] == "valid"
    assert found["verification"]["result"] == "deliverable"
    assert found["confidence"] == 91 and found["source_provider"] == "hunter_io"
    finder, verifier = hunter.calls("/v2/email-finder"), hunter.calls("/v2/email-verifier")
    assert finder[0].arg("first_name") == "ada" and finder[0].arg("domain") == "northwind.example"
    assert verifier[0].arg("email") == found["email"]
    assert all(r.arg("api_key") == HUNTER_KEY for r in hunter.server.requests)

    # Nothing found: no verification either.
    assert provider(hunter.server).find_email("No", "Body", "northwind.example") is None
    assert len(hunter.calls("/v2/email-verifier")) == 1

    unverified = provider(hunter.server, verify=False).find_email(
        "Ada", "Stone", "northwind.example"
    )
    assert unverified["verification"] == {"date": None, "status": None}
    assert len(hunter.calls("/v2/email-verifier")) == 1


def test_the_verifier_is_asked_again_while_it_answers_202(hunter):
    hunter.fail("/v2/email-verifier", 202)
    checked = provider(hunter.server).verify_email("ben.stone1@northwind.example")
    assert checked["verification"]["status"] == "valid"
    assert len(hunter.calls("/v2/email-verifier")) == 2


def test_451_means_no_answer(hunter):
    hunter.server.route(
        "GET",
        "/v2/email-finder",
        Reply(
            status=451,
            json={
                "errors": [
                    {
                        "id": "claimed_email",
                        "code": 451,
                        "details": "The person behind this email address has asked us to stop "
                        "processing it.",
                    }
                ]
            },
        ),
    )
    assert provider(hunter.server).find_email("Ada", "Stone", "northwind.example") is None


# --- the discovery recipe through the CLI -------------------------------------------------------


def _workspace_config(workspace, server_url: str) -> None:
    config = workspace / "hunter.toml"
    config.write_text(
        config.read_text()
        + f'\n[providers.hunter_io]\nbase_url = "{server_url}"\nbackoff = 0\npage_size = 10\n'
    )


def _database_text(url: str) -> str:
    """Every row of every table, as text."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            parts = []
            for table in inspect(conn).get_table_names():
                rows = conn.execute(text(f'SELECT * FROM "{table}"')).fetchall()
                parts.append(json.dumps([list(map(str, row)) for row in rows]))
            return "\n".join(parts)
    finally:
        engine.dispose()


def test_discovery_with_hunter_io_through_the_cli(workspace, cli, hunter, db_url):
    _workspace_config(workspace, hunter.server.url)
    assert cli("seed").exit_code == 0
    hunter.fail(SEARCH, 429, retry_after="0")

    result = cli(
        "run", "discovery", "--query", "northwind.example", "--provider", "hunter_io",
        "--limit", "12", "--json",
    )  # fmt: skip
    data = result.ok()
    assert data["status"] == "success"
    search_step = data["steps"][1]
    assert search_step["meta"]["provider"] == "hunter_io"
    assert search_step["output"]["count"] == 23  # the recipe asks for twice the limit
    assert data["outputs"]["new_leads"] == 12
    # A 429 then pages 1-3 (page_size 10): every one carried the key as a query parameter.
    calls = hunter.calls(SEARCH)
    assert [c.arg("offset") for c in calls] == ["0", "0", "10", "20"]
    assert all(c.arg("api_key") == HUNTER_KEY for c in calls)

    stored = cli("leads", "list", "--json").ok()
    assert len(stored) == 12
    lead = stored[0]
    assert lead["domain"] == "northwind.example" and lead["company"] == "Northwind Analytics"
    provenance = lead["data"]["_provenance"]
    assert provenance["email"] == provenance["name"] == provenance["industry"] == "hunter_io"
    assert lead["source"]["provider"] == "hunter_io"

    # The key is nowhere: not in the run's JSON, the audit trail or any database row.
    audit = cli("audit", "list", "--limit", "200", "--json")
    for output in (result.stdout, result.stderr, audit.stdout):
        assert no_key_in(output)
    assert no_key_in(_database_text(db_url))


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        (Reply(status=503, json=FakeHunter.error_body(500)), "HTTP 503"),
        (Reply(status=403, json=FakeHunter.error_body(403)), "HTTP 403"),
        (Reply(json={}, delay=0.5), "timed out after 0.2 s"),
    ],
    ids=["5xx", "403-rate-limit", "timeout"],
)
def test_discovery_does_not_multiply_the_providers_retries(workspace, cli, hunter, failure, said):
    """The recipe's search step has `retry: {attempts: 3}` and the provider max_retries = 2:
    a failure that lasts is asked 3 times in all, not 3 x 3."""
    _workspace_config(workspace, hunter.server.url)
    config = workspace / "hunter.toml"
    config.write_text(config.read_text() + "timeout = 0.2\n")
    assert cli("seed").exit_code == 0
    hunter.server.route("GET", SEARCH, failure)
    result = cli(
        "run", "discovery", "--query", "northwind.example", "--provider", "hunter_io", "--json"
    )
    assert result.exit_code == 1
    assert len(hunter.calls(SEARCH)) == 3
    step = result.json()["data"]["steps"][1]
    assert step["status"] == "failed" and step["attempts"] == 1
    assert said in step["error"] and "(tried 3 times); not retried by the step" in step["error"]
    assert "[providers.hunter_io] max_retries" in step["error"]


def test_a_retried_step_asks_only_for_the_pages_it_lacks(workspace, cli, hunter):
    """Regression: page 2 failing made the step's `retry` start over at page 1 (paid twice):
    offsets 0,1,1,1,0,1,2. Page 2 asks for a longer wait than max_wait (so the step's retry
    takes over); the second attempt starts at page 2."""
    config = workspace / "hunter.toml"
    config.write_text(
        config.read_text()
        + f'\n[providers.hunter_io]\nbase_url = "{hunter.server.url}"\nbackoff = 0\n'
        + "page_size = 1\nmax_wait = 0.1\n"
    )
    busy = [True]

    def page_two_busy_once(request):
        if request.arg("offset") == "1" and busy:
            busy.clear()
            return Reply(status=503, json=hunter.error_body(500), headers={"Retry-After": "0.2"})
        return hunter.domain_search(request)

    hunter.server.route("GET", SEARCH, page_two_busy_once)
    assert cli("seed").exit_code == 0
    result = cli(
        "run", "discovery", "--query", "northwind.example", "--provider", "hunter_io",
        "--limit", "2", "--json",
    )  # fmt: skip
    data = result.ok()
    assert data["steps"][1]["attempts"] == 2 and data["steps"][1]["output"]["count"] == 4
    assert [c.arg("offset") for c in hunter.calls(SEARCH)] == ["0", "1", "1", "2", "3"]


def test_discovery_with_a_wrong_or_missing_key(workspace, cli, hunter, monkeypatch):
    _workspace_config(workspace, hunter.server.url)
    assert cli("seed").exit_code == 0

    monkeypatch.setenv("HUNTER_API_KEY", "not-the-key")
    result = cli(
        "run", "discovery", "--query", "northwind.example", "--provider", "hunter_io", "--json"
    )
    assert result.exit_code == 1
    data = result.json()["data"] if "data" in result.json() else result.json()["error"]
    text_ = json.dumps(data)
    assert "HUNTER_API_KEY" in text_ and "HTTP 401" in text_ and "not-the-key" not in text_
    assert len(hunter.calls(SEARCH)) == 1  # the recipe retries 3 times, but never a 401

    monkeypatch.delenv("HUNTER_API_KEY")
    executions = len(cli("executions", "list", "--json").json()["data"])
    result = cli(
        "run", "discovery", "--query", "northwind.example", "--provider", "hunter_io", "--json"
    )
    # The pre-flight check stops the run before anything is reserved or recorded.
    assert result.exit_code == 2
    assert result.json()["error"]["code"] == "config_error"
    assert "environment variable HUNTER_API_KEY" in result.json()["error"]["message"]
    assert len(hunter.calls(SEARCH)) == 1
    assert len(cli("executions", "list", "--json").json()["data"]) == executions
