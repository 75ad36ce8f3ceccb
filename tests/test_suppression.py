"""The suppression list: normalising values, domains covering their subdomains, import with
rejected lines, SMS STOP replies, and every change audited; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hunter_cli import suppression as sup
from hunter_cli.audit import verify_chain
from hunter_cli.customers import resolve_customer
from hunter_cli.db.models import AuditLog, Suppression
from hunter_cli.errors import NotFoundError, UsageError


@pytest.mark.parametrize(
    ("raw", "kind", "value"),
    [
        ("Ann@Example.COM", "email", "ann@example.com"),
        (" Ann Lee <ann@example.com> ", "email", "ann@example.com"),
        ("Example.com.", "domain", "example.com"),
        ("@mail.example.com", "domain", "mail.example.com"),
        ("https://www.Example.com/about", "domain", "www.example.com"),
        ("bücher.example", "domain", "xn--bcher-kva.example"),
        ("+49 30 1234-5678", "phone", "+493012345678"),
        ("0044 20 7946 0958", "phone", "+442079460958"),
        ("+1 (555) 010-0126", "phone", "+15550100126"),
    ],
)
def test_values_are_normalised_and_their_kind_inferred(raw, kind, value):
    assert sup.infer_kind(raw) == kind
    assert sup.normalise(raw) == sup.SuppressionEntry(kind, value)


@pytest.mark.parametrize(
    ("raw", "kind", "problem"),
    [
        ("bob@", None, "invalid email address"),
        ("esc\x1bguy@example.com", None, "invalid email address.*control character"),
        ("<ann@example.com>\x1b", "email", "invalid email address.*control character"),
        ("not a domain", None, "invalid domain"),
        ("localhost", None, "invalid domain"),
        ("12345", "phone", "invalid phone number"),
        # Only a number's characters: a number without its country code, not a domain.
        ("(555) 010-0126", None, r"invalid phone number .*\+ and the country code"),
        ("555.010.0126", None, r"invalid phone number .*\+ and the country code"),
        ("", None, "empty value"),
        ("x@example.com", "fax", "unknown kind 'fax'"),
        ("s1@m.example, s2@m.example", None, "holds more than one address: suppress each"),
    ],
)
def test_bad_values_are_refused_with_the_reason(raw, kind, problem):
    with pytest.raises(UsageError, match=problem):
        sup.normalise(raw, kind)


def _audit(db, prefix: str = "suppression.") -> list[tuple[str, dict]]:
    with db.session() as session:
        rows = session.scalars(
            select(AuditLog).where(AuditLog.action.like(prefix + "%")).order_by(AuditLog.seq)
        )
        return [(row.action, row.details) for row in rows]


def test_a_reason_with_a_nul_is_stored_without_it(seeded, tmp_path):
    """Regression: a `reason` column with a NUL in `suppress import` (valid UTF-8) crashed
    on PostgreSQL."""
    path = tmp_path / "sup.csv"
    path.write_text("email,reason\nann@example.com,asked\x00 us\nn\x00m@example.com,x\n")
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = sup.import_suppressions(session, acme, path, actor="tester")
        assert report.added == 1 and report.rejected[0][0] == 3
        [entry] = sup.list_suppressions(session, acme)
        assert (entry.value, entry.reason) == ("ann@example.com", "asked us")


def test_add_list_remove_are_audited_and_idempotent(seeded):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        entry, created = sup.add_suppression(
            session, acme, "Ann@Example.com", reason="asked us", actor="tester"
        )
        again, created_again = sup.add_suppression(session, acme, "ann@example.com", actor="t")
        assert (created, created_again) == (True, False) and again.id == entry.id
        sup.add_suppression(session, acme, "rival.example", actor="tester")
        sup.add_suppression(session, acme, "+4930123456", actor="tester")
        listed = [(e.kind, e.value) for e in sup.list_suppressions(session, acme)]
        assert sorted(listed) == [
            ("domain", "rival.example"),
            ("email", "ann@example.com"),
            ("phone", "+4930123456"),
        ]
        assert [e.value for e in sup.list_suppressions(session, acme, kind="phone")] == [
            "+4930123456"
        ]
        # Another customer's list is its own.
        assert sup.list_suppressions(session, resolve_customer(session, "global")) == []

    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        removed = sup.remove_suppression(session, acme, "ANN@example.com", actor="tester")
        assert removed.value == "ann@example.com"
        with pytest.raises(NotFoundError, match="is not on acme's suppression list"):
            sup.remove_suppression(session, acme, "ann@example.com", actor="tester")

    assert _audit(seeded) == [
        (
            "suppression.add",
            {"kind": "email", "value": "ann@example.com", "reason": "asked us", "source": "manual"},
        ),
        (
            "suppression.add",
            {"kind": "domain", "value": "rival.example", "reason": None, "source": "manual"},
        ),
        (
            "suppression.add",
            {"kind": "phone", "value": "+4930123456", "reason": None, "source": "manual"},
        ),
        (
            "suppression.remove",
            {"kind": "email", "value": "ann@example.com", "reason": "asked us", "source": "manual"},
        ),
    ]
    with seeded.session() as session:
        assert verify_chain(session).ok


def test_a_domain_covers_its_subdomains_and_nothing_else(seeded):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        sup.add_suppression(session, acme, "example.com", reason="competitor", actor="t")
        sup.add_suppression(session, acme, "bob@other.example", actor="t")
        sup.add_suppression(session, acme, "+4930123456", actor="t")

        def hit(channel: str, recipient: str) -> str | None:
            found = sup.find_suppression(session, acme.id, channel, recipient)
            return None if found is None else sup.suppression_reason(found)

        blocked = "suppressed: domain example.com is on the suppression list (competitor)"
        assert hit("email", "ann@example.com") == blocked
        assert hit("email", "Ann <ANN@Mail.Sub.Example.com>") == blocked
        assert hit("email", "ann@notexample.com") is None
        assert hit("email", "ann@example.com.evil.example") is None
        assert hit("email", "bob@other.example") == (
            "suppressed: bob@other.example is on the suppression list"
        )
        assert hit("email", "carl@other.example") is None
        assert hit("sms", "+49 30 123456") is not None
        assert hit("sms", "+49 30 12345\uff16") is not None  # a full-width 6 is a 6
        assert hit("sms", "+4930999999") is None

        # The many-address test (find_leads' skip_suppressed) says the same.
        suppressed = sup.email_suppressed(session, acme.id)
        for address in (
            "ann@example.com",
            "Ann <ANN@Mail.Sub.Example.com>",
            "ann@notexample.com",
            "ann@example.com.evil.example",
            "bob@other.example",
            "carl@other.example",
        ):
            assert suppressed(address) == (hit("email", address) is not None), address
        assert suppressed(None) is False and suppressed("not an address") is False
        # And the per-step matcher (correspondence) finds the very entry find_suppression does.
        for channel, recipients in (
            ("email", ["ann@example.com", "x@Mail.Example.com", "bob@other.example", "c@d.e"]),
            ("sms", ["+49 30 123456", "+4930999999", "not a number"]),
            ("webhook", ["https://example.com/hook"]),
        ):
            match = sup.suppression_matcher(session, acme.id, channel)
            for recipient in recipients:
                expected = sup.find_suppression(session, acme.id, channel, recipient)
                assert match(recipient) is expected, (channel, recipient)
        # Webhooks and push topics are systems, not people.
        assert hit("webhook", "https://example.com/hook") is None
        assert hit("push", "example.com") is None
        other = resolve_customer(session, "global")
        assert sup.find_suppression(session, other.id, "email", "ann@example.com") is None


def test_an_address_covers_its_plus_addressed_forms_not_the_other_way_round(seeded):
    """Regression: `suppress add bob@x.example`, then mail to bob+promo@x.example was sent:
    it is the same mailbox."""
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        sup.add_suppression(session, acme, "bob@x.example", reason="asked", actor="t")
        sup.add_suppression(session, acme, "amy+news@x.example", actor="t")

        def hit(recipient: str) -> str | None:
            found = sup.find_suppression(session, acme.id, "email", recipient)
            return None if found is None else found.value

        covered = {
            "bob@x.example": "bob@x.example",
            "bob+promo@x.example": "bob@x.example",
            "Bob+Promo+2@X.example": "bob@x.example",
            "amy+news@x.example": "amy+news@x.example",
            "amy+news+daily@x.example": "amy+news@x.example",
            "amy@x.example": None,  # amy+news was suppressed, not amy
            "amy+other@x.example": None,
            "bobby@x.example": None,
            "bob+promo@y.example": None,
            "+bob@x.example": None,
        }
        assert {address: hit(address) for address in covered} == covered
        match = sup.suppression_matcher(session, acme.id, "email")
        for address, value in covered.items():
            assert (match(address) and match(address).value) == value, address


def test_import_reports_rejected_lines(seeded, tmp_path):
    plain = tmp_path / "list.txt"
    plain.write_text(
        "# opt-outs from the old tool\n"
        "ann@example.com\n"
        "\n"
        "rival.example\n"
        "+49 30 1234567\n"
        "bob@\n"
        "ANN@example.com\n"
        "not a domain\n"
    )
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = sup.import_suppressions(session, acme, plain, reason="old tool", actor="t")
    assert (report.added, report.already) == (3, 1)
    assert report.rejected == [
        (6, "'bob@': invalid email address 'bob@' (nothing before or after the @)"),
        (8, "'not a domain': invalid domain 'not a domain' (e.g. example.com)"),
    ]

    table = tmp_path / "list.csv"
    table.write_text(
        "Email,Reason,Other\ncarl@example.org,bounced,x\n,missing,\ndan@example.org,,\n"
    )
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = sup.import_suppressions(session, acme, table, actor="t")
        rows = {e.value: e for e in sup.list_suppressions(session, acme)}
    assert (report.added, report.already, report.rejected) == (2, 0, [(3, "no value")])
    assert rows["carl@example.org"].reason == "bounced"
    assert rows["carl@example.org"].source == "import"
    assert rows["ann@example.com"].reason == "old tool"

    kinds = tmp_path / "kinds.csv"
    kinds.write_text("value,kind\nexample.net,domain\n+4930111111,phone\nfoo,fax\n")
    with seeded.session() as session:
        report = sup.import_suppressions(
            session, resolve_customer(session, "acme"), kinds, actor="t"
        )
    assert (report.added, [line for line, _ in report.rejected]) == (2, [4])

    imports = [d for a, d in _audit(seeded) if a == "suppression.import"]
    assert imports[0] == {"file": "list.txt", "added": 3, "already": 1, "rejected": 2}
    with (
        seeded.session() as session,
        pytest.raises(NotFoundError, match="no such file"),
    ):
        sup.import_suppressions(
            session, resolve_customer(session, "acme"), tmp_path / "nope.txt", actor="t"
        )


def test_import_suppresses_every_address_a_line_or_cell_holds(seeded, tmp_path):
    """Regression: `"vu@imp.example, tu@imp.example"` in a CSV (or `s9@m.example,
    s10@m.example` in a text file) suppressed the first only, reported nothing rejected,
    and the second was later e-mailed. For an opt-out list, both are suppressed."""
    table = tmp_path / "optouts.csv"
    table.write_text('email,reason\n"vu@imp.example, tu@imp.example",asked\n')
    plain = tmp_path / "optouts.txt"
    plain.write_text("s9@m.example,s10@m.example\nLee, Ann <ann@x.example>\n")
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        from_table = sup.import_suppressions(session, acme, table, actor="t")
        from_text = sup.import_suppressions(session, acme, plain, actor="t")
        entries = {e.value: e.reason for e in sup.list_suppressions(session, acme)}
        for address in ("tu@imp.example", "s10@m.example", "ann@x.example"):
            assert sup.find_suppression(session, acme.id, "email", address) is not None
    assert (from_table.added, from_table.rejected) == (2, [])
    assert entries["tu@imp.example"] == entries["vu@imp.example"] == "asked"
    # Without a header every cell is a value: a stray one is said, never dropped.
    assert (from_text.added, from_text.already) == (3, 0)
    assert from_text.rejected == [(2, "'Lee': invalid domain 'Lee' (e.g. example.com)")]


@pytest.mark.parametrize(
    "body",
    [
        *("STOP", "stop", " Stop! ", "Unsubscribe", "STOP ALL", "quit."),
        # Twilio's defaults since 2025, and a phone keyboard's full-width letters.
        *("OPTOUT", "Opt out", "revoke", "ＳＴＯＰ", "ｓｔｏｐ！"),
    ],
)
def test_a_stop_reply_suppresses_the_number(seeded, body):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        result = sup.record_inbound_sms(session, acme, "+49 30 1234567", body, actor="twilio")
        assert (result.action, result.number) == ("suppressed", "+49301234567")
        again = sup.record_inbound_sms(session, acme, "+49301234567", "STOP", actor="twilio")
        assert again.action == "already"
        entry = sup.find_suppression(session, acme.id, "sms", "+49301234567")
        assert entry is not None and entry.source == "sms_reply"
        assert entry.reason.startswith("replied ")
    assert [a for a, _ in _audit(seeded)] == ["suppression.add"]


def test_other_replies_change_nothing_and_start_lifts_only_an_sms_stop(seeded):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        ignored = sup.record_inbound_sms(session, acme, "+4930111111", "Stop by tomorrow?")
        assert ignored.action == "ignored"
        assert sup.record_inbound_sms(session, acme, "+4930111111", "START").action == "ignored"

        sup.record_inbound_sms(session, acme, "+4930111111", "STOP")
        lifted = sup.record_inbound_sms(session, acme, "+4930111111", "start")
        assert lifted.action == "resubscribed"
        assert sup.find_suppression(session, acme.id, "sms", "+4930111111") is None

        sup.add_suppression(session, acme, "+4930222222", reason="legal", actor="t")
        kept = sup.record_inbound_sms(session, acme, "+4930222222", "UNSTOP")
        assert kept.action == "ignored"
        assert sup.find_suppression(session, acme.id, "sms", "+4930222222") is not None
        with pytest.raises(UsageError, match="invalid phone number"):
            sup.record_inbound_sms(session, acme, "12345", "STOP")
        count = len(list(session.scalars(select(Suppression))))
    assert count == 1
    # The reply's text is never stored.
    assert all("tomorrow" not in str(d) for _, d in _audit(seeded))
