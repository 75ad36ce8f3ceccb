"""`hunter credits`: show, grant, history and check, as a user runs them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from hunter_cli.db.models import Subscription


@pytest.fixture
def ready(workspace, seeded, cli):
    """A seeded workspace: acme (Pro, 1000), techstartup (Starter, 100), global (10000)."""
    return cli


def _acme_id(cli) -> str:
    customers = cli("customers", "list", "--json").ok()
    return next(c["id"] for c in customers if c["slug"] == "acme")


def test_show_every_customer(ready):
    data = ready("credits", "show", "--json").ok()
    assert [(b["customer"], b["plan"], b["available"]) for b in data] == [
        ("acme", "Pro", "1000.0000"),
        ("global", "Enterprise", "10000.0000"),
        ("techstartup", "Starter", "100.0000"),
    ]
    assert set(data[0]) >= {"period_end", "allowance", "granted", "used", "held", "rollover"}
    human = ready("credits", "show")
    assert human.exit_code == 0
    assert "acme" in human.stdout and "1,000.00" in human.stdout


def test_show_one_customer_by_slug_name_or_id(ready):
    for ref in ("acme", "ACME", "Acme", " acme ", _acme_id(ready), _acme_id(ready).upper()):
        data = ready("credits", "show", "--customer", ref, "--json").ok()
        assert [b["customer"] for b in data] == ["acme"], ref


def test_grant_by_slug_name_and_id(ready):
    data = ready("credits", "grant", "acme", "5", "--reason", "x", "--json").ok()
    assert (data["customer"], data["kind"], data["amount"]) == ("acme", "grant", "5.0000")
    assert data["balance_after"] == "1005.0000"
    assert data["reason"] == "x"

    human = ready("credits", "grant", "ACME", "2.50", "--reason", "goodwill")
    assert human.exit_code == 0, human.stderr
    assert "Granted 2.50 credits to acme; available now 1,007.50." in human.stdout

    data = ready("credits", "grant", _acme_id(ready), "0.0001", "-r", "x", "--json").ok()
    assert data["balance_after"] == "1007.5001"
    assert ready("credits", "check", "--json").ok() == {"ok": True}


def test_grant_with_an_idempotency_key_twice_grants_once(ready):
    args = ("credits", "grant", "acme", "5", "--reason", "x", "--idempotency-key", "k1", "--json")
    first = ready(*args).ok()
    second = ready(*args).ok()
    assert first["id"] == second["id"]
    assert second["idempotency_key"] == "k1"
    assert (first["already_applied"], second["already_applied"]) == (False, True)
    assert second["available"] == "1005.0000"
    [acme] = ready("credits", "show", "--customer", "acme", "--json").ok()
    assert acme["granted"] == "1005.0000"
    human = ready("credits", "grant", "acme", "5", "--reason", "x", "--idempotency-key", "k1")
    assert "Already granted under this idempotency key on " in human.stdout
    assert "nothing added. Available now 1,005.00." in human.stdout


def test_a_reused_idempotency_key_for_another_entry_is_refused(ready):
    ready("credits", "grant", "acme", "5", "-r", "x", "--idempotency-key", "k1", "--json").ok()
    # Another customer's entry is not described: its amount is none of this one's business.
    other = ready(
        "credits", "grant", "techstartup", "5", "-r", "x", "--idempotency-key", "k1", "--json"
    ).error(2)
    # Regression: the example was acme-2026-11-topup whoever the grant was for.
    from hunter_cli.db.types import utcnow

    assert other["message"] == (
        "idempotency key 'k1' is already used by another customer's ledger entry (keys are "
        "unique across the workspace: put the customer in the key, e.g. "
        f"techstartup-{utcnow():%Y-%m}-topup)"
    )
    assert other["details"] == {"idempotency_key": "k1"}
    for args, what in (
        (("acme", "7", "--reason", "x"), "a grant of 5.0000 credits"),
        (("acme", "5", "--reason", "other"), "a grant of 5.0000 credits for 'x'"),
    ):
        result = ready("credits", "grant", *args, "--idempotency-key", "k1", "--json")
        assert result.exit_code == 2, result.stdout
        message = result.json()["error"]["message"]
        assert message == (
            f"idempotency key 'k1' already names another ledger entry ({what}); use a new key "
            "for a new grant"
        )
    # A run's own keys are not grants either.
    assert ready("run", "discovery", "--query", "SaaS", "--limit", "1").exit_code == 0
    hold = next(
        r for r in ready("credits", "history", "acme", "--json").ok() if r["kind"] == "reserve"
    )
    result = ready(
        "credits", "grant", "acme", "7", "-r", "x", "--idempotency-key", hold["idempotency_key"]
    )
    assert result.exit_code == 2 and "(a reserve of 0.0500 credits)" in result.stderr
    balances = {b["customer"]: b["available"] for b in ready("credits", "show", "--json").ok()}
    assert (balances["acme"], balances["techstartup"]) == ("1004.9500", "100.0000")


def test_history_is_newest_first(ready):
    ready("credits", "grant", "acme", "1", "--reason", "first")
    ready("credits", "grant", "acme", "2", "--reason", "second")
    rows = ready("credits", "history", "acme", "--json").ok()
    assert [(r["kind"], r["amount"]) for r in rows] == [
        ("grant", "2.0000"),
        ("grant", "1.0000"),
        ("grant", "1000.0000"),
    ]
    assert [r["balance_after"] for r in rows] == ["1003.0000", "1001.0000", "1000.0000"]
    assert len(ready("credits", "history", "Acme", "--limit", "1", "--json").ok()) == 1
    # No customer named: the workspace's default_customer (acme).
    assert ready("credits", "history", "--json").ok() == rows
    human = ready("credits", "history", "acme")
    assert human.exit_code == 0 and "Ledger: acme" in human.stdout
    assert "1,003.00" in human.stdout
    # One column, one number of places: 4 as soon as one amount needs them.
    ready("credits", "grant", "acme", "0.0005", "--reason", "tiny")
    human = ready("credits", "history", "acme").stdout
    assert "1,003.0005" in human and "1,003.0000" in human and "2.0000" in human


def test_a_column_of_credits_has_one_number_of_places():
    from hunter_cli.cli.output import fmt_credits_column

    assert fmt_credits_column(["1", "2.5", None]) == ["1.00", "2.50", ""]
    assert fmt_credits_column(["1", "0.0005"]) == ["1.0000", "0.0005"]


def test_check_agrees_then_names_a_mismatch(ready, seeded):
    assert ready("credits", "check", "--json").ok() == {"ok": True}
    assert "agree" in ready("credits", "check").stdout
    with seeded.session() as session:
        sub = session.scalars(select(Subscription)).first()
        sub.credits_held = Decimal("1")
    error = ready("credits", "check", "--json").error(7)
    assert error["code"] == "integrity_error"
    assert error["details"]["mismatches"][0]["field"] == "held"
    line = ready("credits", "check").one_line(7)
    assert "held is 1.0000 on the subscription but 0.0000 in the ledger" in line


def test_grant_of_a_bad_amount_is_a_usage_error(ready):
    for amount in ("0", "abc", "-5", "1e15", "NaN"):
        # `--` lets a negative number through as the amount instead of an unknown option.
        args = ("credits", "grant", "--reason", "x", "acme", "--", amount)
        error = ready(*args[:4], "--json", *args[4:]).error(2)
        assert error["code"] == "validation_error", amount
        assert "amount must be" in ready(*args).one_line(2), amount
    [acme] = ready("credits", "show", "-c", "acme", "--json").ok()
    assert acme["granted"] == "1000.0000"


def test_grant_without_a_reason_is_a_usage_error(ready):
    result = ready("credits", "grant", "acme", "5")
    assert result.exit_code == 2
    assert "--reason" in result.stderr


def test_unknown_customer_lists_the_known_ones(ready):
    line = ready("credits", "grant", "nobody", "5", "--reason", "x").one_line(3)
    assert "unknown customer 'nobody'" in line
    assert "known customers: acme, global, techstartup" in line
    error = ready("credits", "history", "nobody", "--json").error(3)
    assert error["code"] == "not_found"
    assert "acme, global, techstartup" in error["message"]
    assert ready("credits", "show", "--customer", "nobody").exit_code == 3


def test_an_idempotency_key_is_1_to_200_characters(ready):
    for key in ("", "   ", "k" * 201):
        result = ready(
            "credits", "grant", "acme", "5", "-r", "x", "--idempotency-key", key, "--json"
        )
        assert result.exit_code == 2, key
        assert result.json()["error"]["message"] == (
            "an idempotency key is 1 to 200 characters (not blank)"
        )
    [acme] = ready("credits", "show", "--customer", "acme", "--json").ok()
    assert acme["granted"] == "1000.0000"


def test_an_actor_longer_than_the_ledger_keeps_is_a_config_error(ready):
    result = ready("--actor", "x" * 201, "credits", "grant", "acme", "1", "-r", "x", "--json")
    assert result.exit_code == 2
    assert "longer than 200 characters" in result.json()["error"]["message"]


def test_history_cut_at_its_limit_says_so(ready):
    """Regression: a history stopped at --limit without a word."""
    ready("credits", "grant", "acme", "5", "--reason", "more")
    cut = ready("credits", "history", "acme", "-n", "1", "--json")
    assert len(cut.ok()) == 1
    assert cut.stderr.strip() == "note: Showing the newest 1; use --limit to see more."
    assert (
        "Showing the newest 1; use --limit" in ready("credits", "history", "acme", "-n", "1").stdout
    )
    whole = ready("credits", "history", "acme", "-n", "2", "--json")
    assert len(whole.ok()) == 2 and whole.stderr == ""


def test_grant_of_more_than_4_decimal_places_is_refused(ready):
    """Regression: 5.12349 was stored as 5.1235 without a word, and 0.00005 was refused as
    "must be greater than zero"."""
    for amount in ("5.12349", "0.00005"):
        error = ready("credits", "grant", "acme", amount, "-r", "x", "--json").error(2)
        assert error["code"] == "validation_error"
        assert error["message"] == (
            f"amount {amount} has too many decimal places: credits have at most 4 decimal places"
        )
    [acme] = ready("credits", "show", "-c", "acme", "--json").ok()
    assert acme["granted"] == "1000.0000"
    granted = ready("credits", "grant", "acme", "5.12340", "-r", "x", "--json").ok()
    assert granted["amount"] == "5.1234"  # a trailing zero is not a fifth place
