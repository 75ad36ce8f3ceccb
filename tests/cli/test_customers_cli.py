"""`hunter customers list` and `hunter plans list`."""

from __future__ import annotations


def test_customers_list(workspace, seeded, cli):
    rows = cli("customers", "list", "--json").ok()
    assert [(r["slug"], r["name"], r["plan"], r["available"]) for r in rows] == [
        ("acme", "Acme", "Pro", "1000.0000"),
        ("global", "Global", "Enterprise", "10000.0000"),
        ("techstartup", "TechStartup", "Starter", "100.0000"),
    ]
    assert rows[0]["email"] == "growth@acme.example"
    human = cli("customers", "list")
    assert human.exit_code == 0
    assert "techstartup" in human.stdout and "10,000.00" in human.stdout


def test_plans_list(workspace, seeded, cli):
    rows = cli("plans", "list", "--json").ok()
    assert [(r["slug"], r["monthly_credits"], r["price"], r["rollover"]) for r in rows] == [
        ("free", "10.0000", "0.0000", False),
        ("starter", "100.0000", "29.0000", False),
        ("pro", "1000.0000", "99.0000", False),
        ("enterprise", "10000.0000", "499.0000", True),
    ]
    # Regression: "2026-11-26 06:33", the table's format; every other time is ISO 8601.
    from datetime import datetime

    assert datetime.fromisoformat(rows[0]["created_at"]).utcoffset() is not None
    human = cli("plans", "list")
    assert human.exit_code == 0 and "Enterprise" in human.stdout


def test_empty_lists_say_run_seed(workspace, cli):
    assert cli("customers", "list", "--json").ok() == []
    assert "hunter seed" in cli("customers", "list").stdout
    assert "hunter seed" in cli("plans", "list").stdout
    assert "hunter seed" in cli("credits", "show").stdout
    line = cli("credits", "grant", "acme", "1", "-r", "x").one_line(3)
    assert "none yet: run `hunter seed`" in line
