"""`hunter suppress add|remove|list|import|sms-reply`, as a user meets them."""

from __future__ import annotations

import pytest


@pytest.fixture
def ws(workspace, cli):
    assert cli("seed").exit_code == 0
    return workspace


def test_add_infers_the_kind_and_list_shows_it(ws, cli):
    added = cli("suppress", "add", "Ann@Example.com", "--reason", "asked us", "--json").ok()
    assert (added["kind"], added["value"], added["created"]) == ("email", "ann@example.com", True)
    assert added["customer"] == "acme" and added["source"] == "manual"
    assert cli("suppress", "add", "rival.example", "--json").ok()["kind"] == "domain"
    assert cli("suppress", "add", "+49 30 1234567", "--json").ok()["value"] == "+49301234567"
    forced = cli("suppress", "add", "0049301111111", "--kind", "phone", "--json").ok()
    assert forced["value"] == "+49301111111"

    again = cli("suppress", "add", "ann@example.com")
    assert again.exit_code == 0 and "was already suppressed" in again.stdout

    rows = cli("suppress", "list", "--json").ok()
    assert sorted((r["kind"], r["value"]) for r in rows) == [
        ("domain", "rival.example"),
        ("email", "ann@example.com"),
        ("phone", "+49301111111"),
        ("phone", "+49301234567"),
    ]
    assert [r["value"] for r in cli("suppress", "list", "--kind", "email", "--json").ok()] == [
        "ann@example.com"
    ]
    assert cli("suppress", "list", "--customer", "global", "--json").ok() == []
    cut = cli("suppress", "list", "-n", "3", "--json")
    assert len(cut.ok()) == 3
    assert cut.stderr.strip() == "note: Showing the newest 3; use --limit to see more."
    assert "Showing the newest 3; use --limit" in cli("suppress", "list", "-n", "3").stdout
    assert "Showing" not in cli("suppress", "list", "-n", "4").stdout
    human = cli("suppress", "list")
    words = " ".join(human.stdout.split())
    assert "Suppressed: acme" in words and "asked us" in words
    assert "Nothing is suppressed for global." in cli("suppress", "list", "-c", "global").stdout


def test_remove_and_its_errors(ws, cli):
    assert cli("suppress", "add", "example.com").exit_code == 0
    removed = cli("suppress", "remove", "EXAMPLE.com", "--json").ok()
    assert removed["removed"] is True and removed["value"] == "example.com"
    missing = cli("suppress", "remove", "example.com")
    assert "is not on acme's suppression list" in missing.one_line(3)
    assert cli("suppress", "add", "bob@", "--json").error(2)["message"] == (
        "invalid email address 'bob@' (nothing before or after the @)"
    )
    assert "invalid domain" in cli("suppress", "add", "not a domain").one_line(2)
    assert cli("suppress", "add", "x@example.com", "--customer", "nobody", "--json").error(3)

    actions = [e["action"] for e in cli("audit", "list", "--json").ok()]
    assert actions.count("suppression.add") == 1 and actions.count("suppression.remove") == 1


def test_import_reports_rejected_lines(ws, cli, tmp_path):
    listing = tmp_path / "optouts.txt"
    listing.write_text("# old list\nann@example.com\nrival.example\nbob@\n+4930123456\n")
    data = cli("suppress", "import", str(listing), "--reason", "old tool", "--json").ok()
    assert (data["added"], data["already"]) == (3, 0)
    assert data["rejected"] == [
        {
            "line": 4,
            "reason": "'bob@': invalid email address 'bob@' (nothing before or after the @)",
        }
    ]
    human = cli("suppress", "import", str(listing))
    assert human.exit_code == 0
    words = " ".join(human.stdout.split())
    assert "Suppressed 0 new entries for acme; 3 already there; rejected 1 line(s)." in words
    assert "Rejected lines" in words

    bad = tmp_path / "bad.csv"
    bad.write_text("email\nnope\nalso nope\n")
    error = cli("suppress", "import", str(bad), "--json").error(2)
    assert error["message"].startswith(f"{bad}: nothing could be imported (2 rejected; line 2:")
    assert "no such file" in cli("suppress", "import", str(tmp_path / "x.txt")).one_line(3)


def test_sms_replies(ws, cli):
    stop = cli("suppress", "sms-reply", "+4930123456", "Stop", "--json").ok()
    assert stop == {
        "customer": "acme",
        "action": "suppressed",
        "number": "+4930123456",
        "keyword": "STOP",
    }
    assert "already suppressed" in cli("suppress", "sms-reply", "+4930123456", "STOP").stdout
    other = cli("suppress", "sms-reply", "+4930999999", "who is this?")
    assert "nothing changed" in other.stdout
    listed = cli("suppress", "list", "--json").ok()
    assert [(r["value"], r["source"], r["reason"]) for r in listed] == [
        ("+4930123456", "sms_reply", "replied STOP")
    ]
    assert "suppression lifted" in cli("suppress", "sms-reply", "+4930123456", "START").stdout
    assert cli("suppress", "list", "--json").ok() == []
    assert "invalid phone number" in cli("suppress", "sms-reply", "555", "STOP").one_line(2)
    revoked = cli("suppress", "sms-reply", "+4930123456", "ＲＥＶＯＫＥ", "--json").ok()
    assert (revoked["action"], revoked["keyword"]) == ("suppressed", "REVOKE")


def test_a_number_written_without_its_country_code_says_how_to_write_it(ws, cli):
    """Regression: `suppress add "(555) 010-0126"` was taken for a domain ("invalid domain")."""
    assert cli("suppress", "add", "(555) 010-0126", "--json").error(2)["message"] == (
        "invalid phone number '(555) 010-0126' (expected E.164: + and the country code, e.g. "
        "+4930123456)"
    )
    added = cli("suppress", "add", "+1 (555) 010-0126", "--json").ok()
    assert (added["kind"], added["value"]) == ("phone", "+15550100126")


def test_help(workspace, cli):
    words = " ".join(cli("suppress", "--help").stdout.split())
    for command in ("add", "remove", "list", "import", "sms-reply"):
        assert command in words
    assert "subdomains" in words


def test_import_of_a_file_that_is_not_utf8_says_so(ws, cli):
    (ws / "optouts.csv").write_bytes(b"email\n\xff\xfe@x.example\n")
    line = cli("suppress", "import", "optouts.csv").one_line(2)
    assert line == "error: optouts.csv: not UTF-8 text; save it as UTF-8"


def test_a_value_holding_two_addresses(ws, cli, tmp_path):
    """Regression: `suppress add "s1@m.example, s2@m.example"` suppressed s1 only, and an
    import line holding two addresses did the same, reporting nothing rejected."""
    error = cli("suppress", "add", "s1@m.example, s2@m.example", "--json").error(2)
    assert error["message"] == (
        "'s1@m.example, s2@m.example' holds more than one address: suppress each on its own "
        "(`hunter suppress import FILE` takes a file of them)"
    )
    assert cli("suppress", "list", "--json").ok() == []

    listing = tmp_path / "optouts.csv"
    listing.write_text('value\n"vu@imp.example, tu@imp.example"\n')
    data = cli("suppress", "import", str(listing), "--json").ok()
    assert (data["added"], data["rejected"]) == (2, [])
    assert sorted(r["value"] for r in cli("suppress", "list", "--json").ok()) == [
        "tu@imp.example",
        "vu@imp.example",
    ]
