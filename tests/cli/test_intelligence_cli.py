"""The intelligence recipe's edges: a lead the provider does not know, a lead stored without a
domain, and domains that are not domains. None of them may research (and store) strangers."""

from __future__ import annotations


def _leads(cli) -> list[dict]:
    return cli("leads", "list", "--json").json()["data"]


def test_a_lead_without_a_domain_is_researched_by_its_email_domain(workspace, cli, tmp_path):
    cli("seed")
    rows = tmp_path / "one.csv"
    rows.write_text("name,email\nShort Row,short@imp.example\n")
    assert cli("leads", "import", str(rows)).exit_code == 0

    result = cli("run", "intelligence", "--lead", "short@imp.example", "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json()["data"]
    # The provider knows no company at imp.example: the named lead alone is scored.
    assert [lead["email"] for lead in data["outputs"]["leads"]] == ["short@imp.example"]
    assert data["outputs"]["analysis"] == "Nothing is known about this company."
    stored = _leads(cli)
    assert [lead["email"] for lead in stored] == ["short@imp.example"]
    assert stored[0]["data"]["analysis"] == "Nothing is known about this company."


def test_the_named_lead_is_scored_and_annotated_beside_its_colleagues(workspace, cli, tmp_path):
    cli("seed")
    found = cli("run", "discovery", "--query", "SaaS founders", "--limit", "1", "--json")
    domain = found.json()["data"]["outputs"]["leads"][0]["domain"]
    # Someone at that company whom the provider does not list.
    rows = tmp_path / "one.csv"
    rows.write_text(f"name,email,domain\nNew Hire,new.hire@{domain},{domain}\n")
    assert cli("leads", "import", str(rows)).exit_code == 0

    result = cli("run", "intelligence", "--lead", f"new.hire@{domain}", "--json")
    assert result.exit_code == 0, result.stderr
    scored = [lead["email"] for lead in result.json()["data"]["outputs"]["leads"]]
    assert f"new.hire@{domain}" in scored and len(scored) > 1
    by_email = {lead["email"]: lead for lead in _leads(cli)}
    hire = by_email[f"new.hire@{domain}"]
    colleague = next(lead for email, lead in by_email.items() if email != hire["email"])
    # Scored against the company's data, as the colleagues are, not against nothing.
    assert hire["company"] == colleague["company"]
    assert hire["data"]["industry"] == colleague["data"]["industry"]
    assert hire["score"] is not None
    annotated = [email for email, lead in by_email.items() if "analysis" in lead["data"]]
    assert annotated == [f"new.hire@{domain}"]


def test_domains_that_are_not_domains_find_nobody(workspace, cli):
    cli("seed")
    result = cli("run", "intelligence", "--domain", "")
    assert result.exit_code == 2
    assert "input 'domain': '' should be non-empty" in result.stderr

    result = cli("run", "intelligence", "--domain", "...", "--json")
    assert result.exit_code == 1
    assert "filter domain '...' is not a domain" in result.json()["error"]["message"]

    result = cli("run", "intelligence", "--domain", "nonexistent-co.example", "--json")
    assert result.exit_code == 1
    assert "knows no company at that domain" in result.json()["error"]["message"]
    assert _leads(cli) == []


def test_an_unknown_lead_provider_stops_the_run_before_anything_is_charged(workspace, cli):
    cli("seed")
    result = cli("run", "discovery", "--query", "SaaS", "--provider", "bogus", "--json")
    assert result.exit_code == 2
    assert result.json()["error"]["message"] == (
        "step 'search': unknown lead provider 'bogus'; known providers: local, csv, hunter_io, "
        "apollo"
    )
    assert cli("executions", "list", "--json").json()["data"] == []


def test_an_input_that_must_be_one_of_several_says_which(workspace, cli):
    cli("seed")
    result = cli("run", "intelligence", "--json")
    assert result.exit_code == 2
    assert result.json()["error"]["details"]["problems"] == [
        "missing input: give one of 'lead', 'domain'"
    ]
