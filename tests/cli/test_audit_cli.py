"""`hunter audit list` and `hunter audit verify`."""

from __future__ import annotations

import pytest
from sqlalchemy import text


@pytest.fixture
def ready(workspace, seeded, cli):
    return cli


def _break(db) -> None:
    with db.engine.begin() as conn:
        if db.backend == "postgresql":
            conn.execute(text("ALTER TABLE audit_logs DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_logs_no_update"))
        conn.execute(text("UPDATE audit_logs SET actor = 'mallory' WHERE seq = 2"))


def test_list_filters_by_action_with_a_limit(ready):
    rows = ready("audit", "list", "--action", "credits.grant", "--limit", "2", "--json").ok()
    assert [r["action"] for r in rows] == ["credits.grant", "credits.grant"]
    assert [r["seq"] for r in rows] == [3, 2]  # newest first
    assert set(rows[0]) == {
        "seq",
        "created_at",
        "actor",
        "customer",
        "customer_id",
        "execution_id",
        "action",
        "details",
        "prev_hash",
        "hash",
    }
    assert rows[0]["details"]["kind"] == "grant"
    assert rows[0]["actor"] == "tester"


def test_a_prefix_is_taken_literally(ready):
    assert ready("audit", "list", "--action", "%*", "--json").ok() == []
    assert ready("audit", "list", "--action", "credits_*", "--json").ok() == []
    assert ready("audit", "list", "--action", "credits.*", "--json").ok()


def test_list_by_prefix_and_customer(ready):
    assert len(ready("audit", "list", "--action", "credits.*", "--json").ok()) == 3
    assert len(ready("audit", "list", "-a", "seed.apply", "--json").ok()) == 1
    rows = ready("audit", "list", "--customer", "ACME", "--json").ok()
    assert [r["action"] for r in rows] == ["credits.grant"]
    assert rows[0]["customer"] == "acme"  # the slug, as other lists give it (it had only the id)
    seeded = ready("audit", "list", "-a", "seed.apply", "--json").ok()
    assert seeded[0]["customer"] is None and seeded[0]["customer_id"] is None
    human = ready("audit", "list")
    assert human.exit_code == 0 and "seed.apply" in human.stdout
    assert ready("audit", "list", "--action", "nothing.such", "--json").ok() == []


def test_list_with_a_bad_execution_id(ready):
    assert "not an execution id" in ready("audit", "list", "-e", "nope").one_line(2)


def test_every_cli_change_is_audited(ready):
    ready("credits", "grant", "acme", "5", "--reason", "support ticket 42")
    [entry] = ready("audit", "list", "--limit", "1", "--json").ok()
    assert entry["action"] == "credits.grant"
    assert entry["details"]["reason"] == "support ticket 42"
    assert ready("--actor", "alice", "credits", "grant", "acme", "1", "-r", "x").exit_code == 0
    [entry] = ready("audit", "list", "--limit", "1", "--json").ok()
    assert entry["actor"] == "alice"


def test_verify_intact(ready):
    data = ready("audit", "verify", "--json").ok()
    head = data.pop("head")
    assert data == {"ok": True, "checked": 4, "first_bad_seq": None, "problem": None}
    assert head.startswith("4:") and len(head) == 2 + 64
    human = ready("audit", "verify")
    assert human.exit_code == 0
    assert "Audit trail intact: 4 entries verified." in human.stdout
    assert f"Head: {head}" in human.stdout
    anchored = ready("audit", "verify", "--anchor", head)
    assert f"Head: {head} (the anchor #4 matches)" in anchored.stdout


def test_verify_with_an_anchor_past_the_end_exits_7(ready):
    head = ready("audit", "verify", "--json").ok()["head"]
    later = "9:" + head.split(":")[1]
    error = ready("audit", "verify", "--anchor", later, "--json").error(7)
    assert "entries #5 to #9 are gone" in error["message"]


def test_verify_with_a_malformed_anchor_exits_2(ready):
    line = ready("audit", "verify", "--anchor", "latest").one_line(2)
    assert "anchor 'latest' is not SEQ:HASH" in line


def test_verify_broken_names_the_entry_and_exits_7(ready, seeded):
    _break(seeded)
    line = ready("audit", "verify").one_line(7)
    assert "audit trail is broken at entry #2" in line
    assert "(1 entries before it verified)" in line
    error = ready("audit", "verify", "--json").error(7)
    assert error["code"] == "integrity_error"
    assert error["details"]["first_bad_seq"] == 2


def test_a_list_cut_at_its_limit_says_so_and_offset_pages(ready):
    """Regression: a list stopped at --limit without a word, in JSON and in the table."""
    every = [r["seq"] for r in ready("audit", "list", "--json").ok()]
    assert len(every) > 3
    cut = ready("audit", "list", "-n", "2", "--json")
    assert [r["seq"] for r in cut.ok()] == every[:2]
    note = "Showing the newest 2; use --limit to see more (or --offset 2 for the next 2)."
    assert cut.stderr.strip() == f"note: {note}"
    assert note in ready("audit", "list", "-n", "2").stdout
    page = ready("audit", "list", "-n", "2", "--offset", "2", "--json").ok()
    assert [r["seq"] for r in page] == every[2:4]
    last = ready("audit", "list", "--offset", str(len(every) - 1), "--json")
    assert [r["seq"] for r in last.ok()] == every[-1:] and last.stderr == ""
    assert "Showing" not in ready("audit", "list").stdout
