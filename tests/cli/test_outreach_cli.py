"""outreach run again: the leads it already wrote to, and suppressed addresses, are left out
before any AI is asked, so a re-run costs one query and sends nothing twice."""

from __future__ import annotations

from sqlalchemy import text


def _run(cli, *args) -> dict:
    result = cli("run", *args, "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    return result.json()["data"]


def _scored_leads(cli) -> tuple[str, list[dict]]:
    """Seed, discover, score one company: a tier that has leads, and those leads."""
    cli("seed")
    found = _run(cli, "discovery", "--query", "SaaS founders", "--limit", "3")
    _run(cli, "intelligence", "--domain", found["outputs"]["leads"][0]["domain"])
    tiered = [lead for lead in cli("leads", "list", "--json").json()["data"] if lead["tier"]]
    tier = tiered[0]["tier"]
    return tier, [lead for lead in tiered if lead["tier"] == tier]


def test_a_second_outreach_spends_nothing_on_leads_it_already_wrote_to(workspace, cli, db):
    tier, chosen = _scored_leads(cli)

    first = _run(cli, "outreach", "--tier", tier)
    assert first["outputs"]["queued"] == len(chosen) > 0

    # Drafts still queued (waiting for review) are picked again, and not doubled: the run
    # that sends delivers those drafts.
    review = _run(cli, "outreach", "--tier", tier)
    assert review["outputs"]["leads"] == len(chosen)
    assert (review["outputs"]["queued"], review["outputs"]["duplicates"]) == (0, len(chosen))

    # Once they are sent, those leads are left out before any AI is asked.
    with db.session() as session:
        session.execute(text("UPDATE outbox_messages SET status = 'sent'"))
    again = _run(cli, "outreach", "--tier", tier)
    assert again["outputs"]["leads"] == 0 and again["outputs"]["queued"] == 0
    assert [s["status"] for s in again["steps"]] == ["ok", "skipped", "skipped", "skipped"]
    assert again["credits"]["used"] == "0.0100"  # the query; no AI, no send
    assert len(cli("outbox", "list", "--json").json()["data"]) == len(chosen)

    # Named leads are always taken: the send step then says it already wrote to them.
    named = _run(cli, "outreach", "--lead-ids", chosen[0]["id"])
    assert (named["outputs"]["queued"], named["outputs"]["duplicates"]) == (0, 1)


def test_suppressed_addresses_are_left_out_before_any_ai_is_asked(workspace, cli):
    tier, chosen = _scored_leads(cli)
    assert cli("suppress", "add", chosen[0]["email"]).exit_code == 0

    run = _run(cli, "outreach", "--tier", tier)
    assert run["outputs"]["leads"] == len(chosen) - 1
    recipients = {m["recipient"] for m in cli("outbox", "list", "--json").json()["data"]}
    assert chosen[0]["email"] not in recipients
    # Named, the lead is taken, and the send step skips the address with the reason.
    named = _run(cli, "outreach", "--lead-ids", chosen[0]["id"])
    assert named["outputs"]["leads"] == 1 and named["outputs"]["skipped"] == 1
    assert not [w for w in named["warnings"] if "not stored" in w]
