"""`hunter customers list` and `hunter plans list`."""

from __future__ import annotations

import pytest


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
    assert "hunter customers add" in cli("customers", "list").stdout
    assert "hunter seed" in cli("plans", "list").stdout
    assert "hunter seed" in cli("credits", "show").stdout
    line = cli("credits", "grant", "acme", "1", "-r", "x").one_line(3)
    assert "none yet: run `hunter seed`" in line


def test_add_a_customer_with_its_own_sender(workspace, seeded, cli):
    """Regression: only the bundled demo customers existed, so every email went out as
    "Acme Growth <growth@acme.example>" with the demo's postal address."""
    data = cli(
        "customers",
        "add",
        "mueller",
        "--name",
        "Müller & Söhne GmbH",
        "--plan",
        "starter",
        "--from-email",
        "Hallo@Mueller.example",
        "--from-name",
        "Müller Vertrieb",
        "--postal-address",
        "Müller, Hauptstr. 1, Berlin",
        "--json",
    ).ok()
    # Regression: add said "plan": "starter" (the slug) and no "available"; show said
    # "Starter" and had it. The same document now, as `update` prints it too.
    assert (data["slug"], data["plan"], data["available"], data["from_email"]) == (
        "mueller",
        "Starter",
        "100.0000",
        "hallo@mueller.example",
    )
    [balance] = cli("credits", "show", "-c", "mueller", "--json").ok()
    assert (balance["plan"], balance["available"]) == ("Starter", "100.0000")
    # Names select customers too, in any case and script, on SQLite as on PostgreSQL.
    shown = cli("customers", "show", "MÜLLER & SÖHNE GMBH", "--json").ok()
    assert shown == data
    assert shown["postal_address"] == "Müller, Hauptstr. 1, Berlin" and shown["plan"] == "Starter"
    changed = cli(
        "customers",
        "update",
        "mueller",
        "--reply-to",
        "antwort@mueller.example",
        "--from-name",
        "",
        "--json",
    ).ok()
    assert changed["changed"] == {
        "reply_to": [None, "antwort@mueller.example"],
        "from_name": ["Müller Vertrieb", None],
    }
    assert set(changed) == {*shown, "changed"} and changed["plan"] == "Starter"
    actions = [r["action"] for r in cli("audit", "list", "-c", "mueller", "--json").ok()]
    assert actions[:3] == ["customer.update", "credits.grant", "customer.create"]
    human = cli("customers", "update", "mueller", "--reply-to", "antwort@mueller.example")
    assert "already had these values: nothing changed" in human.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("Acme-EU",), 2, "customer slug 'Acme-EU' must be lower-case letters"),
        (("acme",), 2, "customer 'acme' exists already: `hunter customers update acme`"),
        (("x", "--name", "ACME"), 2, "the name 'ACME' is already customer 'acme''s"),
        (("x", "--from-email", "nope"), 2, "from-email: invalid email address 'nope'"),
        (("x", "--plan", "gold"), 3, "unknown plan 'gold'"),
    ],
)
def test_add_refuses_bad_customers(workspace, seeded, cli, args, code, message):
    assert message in cli("customers", "add", *args).one_line(code)
    assert "x" not in [r["slug"] for r in cli("customers", "list", "--json").ok()]


def test_a_name_two_customers_share_is_ambiguous(workspace, seeded, cli):
    from sqlalchemy import update

    from hunter_cli.db.models import Customer

    with seeded.session() as session:
        session.execute(update(Customer).values(name="Shared Name"))
    line = cli("credits", "show", "-c", "shared name").one_line(2)
    assert (
        "customer 'shared name' is ambiguous: it is the name of acme, global, techstartup" in line
    )


@pytest.mark.parametrize(
    "args",
    [
        ("run", "discovery", "--query", "x", "-c", ""),
        ("credits", "show", "-c", " "),
        ("credits", "history", ""),
        ("executions", "list", "-c", ""),
        ("outbox", "list", "-c", ""),
        ("leads", "list", "--customer", ""),
        ("suppress", "add", "x@y.example", "-c", ""),
    ],
)
def test_an_empty_customer_is_refused_not_the_default(workspace, seeded, cli, args):
    """Regression: `--customer "$CLIENT"` with the variable unset ran, charged and sent for
    the default customer (or listed every customer)."""
    result = cli(*args)
    assert result.exit_code == 2
    assert "is empty; give a customer's slug, name or id" in result.stderr


@pytest.mark.parametrize(
    ("option", "value", "what"),
    [
        ("--from-name", "Evil\r\nBcc: victim@x.example", "a line break (CR)"),
        ("--from-name", "Acme\nX-Evil: 1", "a line break (LF)"),
        ("--name", "Tab\tCorp", "a tab"),
        ("--postal-address", "1 Rue\x85Paris", "the control character U+0085"),
        ("--from-email", "foo@bar.example\r\nBcc: v@x.example", "a line break (CR)"),
        ("--reply-to", "a@b.example\x00", "the control character U+0000"),
        ("--email", "a@b.example\x7f", "the control character U+007F"),
        ("--from-name", "Acme\u2028Evil", "the control character U+2028"),
    ],
)
def test_control_characters_are_refused_in_every_field(workspace, seeded, cli, option, value, what):
    """Regression: --from-name $'Evil\\r\\nBcc: victim@x.example' was stored, and a --send
    run then went out From (and with the SMTP envelope sender) victim@x.example."""
    field = option.lstrip("-")
    message = f"{field} contains {what}: give it as one line of text"
    assert message in cli("customers", "add", "em2", option, value).one_line(2)
    assert "em2" not in [r["slug"] for r in cli("customers", "list", "--json").ok()]
    assert message in cli("customers", "update", "acme", option, value).one_line(2)
    assert cli("customers", "show", "acme", "--json").ok()["from_name"] == "Acme Growth"


def test_a_slug_may_not_be_another_customer_s_name(workspace, seeded, cli):
    """Regression: `customers add delta` after `customers add bravo --name delta` was
    accepted, and `credits grant delta 7` then went to the new customer, not to bravo."""
    cli("customers", "add", "bravo", "--name", "delta", "--json").ok()
    line = cli("customers", "add", "delta", "--name", "Delta Corp").one_line(2)
    assert line == (
        "error: the slug 'delta' is already customer 'bravo''s name (names select customers "
        "too, so a slug must differ from every name)"
    )
    granted = cli("credits", "grant", "delta", "7", "-r", "x", "--json").ok()
    assert granted["customer"] == "bravo"


def test_names_and_settings_are_stored_nfc_and_compared_so(workspace, seeded, cli):
    """Regression: "Zéta Ünïcode GmbH" typed with combining accents (NFD) was a second
    customer of the same name beside the NFC one."""
    import unicodedata

    nfc = "Zéta Ünïcode GmbH"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    cli("customers", "add", "zeta", "--name", nfc, "--json").ok()
    line = cli("customers", "add", "zeta2", "--name", nfd).one_line(2)
    assert f"the name {nfc!r} is already customer 'zeta''s" in line
    taken = "is already customer 'zeta''s"
    assert taken in cli("customers", "update", "acme", "--name", nfd).one_line(2)
    added = cli(
        "customers",
        "add",
        "zeta3",
        "--name",
        nfd.upper().replace("GMBH", "AG"),
        "--from-name",
        unicodedata.normalize("NFD", "Zéta Vertrieb"),
        "--json",
    ).ok()
    assert added["name"] == "ZÉTA ÜNÏCODE AG" and added["from_name"] == "Zéta Vertrieb"
    assert cli("customers", "show", nfd, "--json").ok()["slug"] == "zeta"

    # A name stored decomposed before this fix still matches, and still blocks a copy.
    from sqlalchemy import update

    from hunter_cli.db.models import Customer

    with seeded.session() as session:
        session.execute(update(Customer).where(Customer.slug == "zeta").values(name=nfd))
    assert cli("customers", "show", nfc.lower(), "--json").ok()["slug"] == "zeta"
    assert taken in cli("customers", "add", "z4", "--name", nfc).one_line(2)


def test_a_named_from_email_sets_the_from_name_and_several_addresses_are_refused(
    workspace, seeded, cli
):
    """Regression: --from-email "Foo Bar <foo@bar.example>" dropped the name, and --reply-to
    "a@b.example, c@d.example" kept the first address, both without a word."""
    added = cli(
        "customers", "add", "foo", "--from-email", "Foo Bar <Foo@Bar.example>", "--json"
    ).ok()
    assert (added["from_email"], added["from_name"]) == ("foo@bar.example", "Foo Bar")
    changed = cli(
        "customers", "update", "acme", "--from-email", '"Lee, Ann" <ann@acme.example>', "--json"
    ).ok()["changed"]
    assert changed["from_name"] == ["Acme Growth", "Lee, Ann"]
    # Said twice, it must agree; --from-name alone wins over an address without a name.
    line = cli(
        "customers", "update", "acme", "--from-email", "X <x@acme.example>", "--from-name", "Y"
    ).one_line(2)
    assert line == (
        "error: from-email names the sender 'X' but from-name says 'Y': give the name once, "
        "in --from-name"
    )
    for option in ("--reply-to", "--from-email", "--email"):
        for value in ("a@b.example, c@d.example", "a@b.example; Cy <c@d.example>"):
            line = cli("customers", "update", "acme", option, value).one_line(2)
            assert line == (f"error: {option[2:]}: {value!r} holds more than one address; give one")
    shown = cli("customers", "show", "acme", "--json").ok()
    assert (shown["from_email"], shown["reply_to"]) == ("ann@acme.example", "hello@acme.example")


def test_show_prints_a_control_character_stored_earlier_instead_of_obeying_it(
    workspace, seeded, cli
):
    """A sender stored before control characters were refused (or by hand): `customers show`
    is where one looks at it, and the terminal must not act on it."""
    from sqlalchemy import update

    from hunter_cli.db.models import Customer

    with seeded.session() as session:
        session.execute(
            update(Customer)
            .where(Customer.slug == "acme")
            .values(settings={"from_name": "\x1b[31mRed\rEvil", "from_email": "a@b.example"})
        )
    shown = cli("customers", "show", "acme").stdout
    assert "\x1b" not in shown and "\r" not in shown
    assert "from-name       \\x1b[31mRed\\x0dEvil" in shown
