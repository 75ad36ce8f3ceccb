"""`hunter leads`: import, list and export, as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest
import yaml
from sqlalchemy import select

from hunter_cli.db.models import AuditLog

GOOD_AND_BAD = (
    "name,title,EMAIL,company,domain,score,tier,Industry\n"
    "Ivy Ng,CEO,ivy@l.example,L Co,l.example,80,A,SaaS\n"
    "Jon Poe,CTO,,M Co,m.example,55,b,Fintech\n"
    "Kim Lo,,kim@,N Co,n.example,,,\n"
    "Lou Ma,,lou@o.example,,,150,,\n"
    "Max Po,,,P Co,,,,\n"
    "Ned Oz,,ned@q.example,,,,,\n"
)
REJECTED = [
    {"row": 4, "reason": "invalid email address 'kim@' (nothing before or after the @)"},
    {"row": 5, "reason": "score '150' is not a whole number from 0 to 100"},
    {"row": 6, "reason": "needs an email, or both a domain and a name"},
]


@pytest.fixture
def ready(workspace, seeded, cli):
    """A seeded workspace whose default customer is acme."""
    return cli


@pytest.fixture
def leads_csv(workspace):
    path = workspace / "leads.csv"
    path.write_text(GOOD_AND_BAD)
    return path


def test_import_reports_rows_and_reasons(ready, leads_csv):
    data = ready("leads", "import", str(leads_csv), "--json").ok()
    assert data == {
        "customer": "acme",
        "file": str(leads_csv),
        "imported": 3,
        "updated": 0,
        "merged": [],
        "rejected": REJECTED,
        "columns": {
            "mapped": {
                "name": "name",
                "title": "title",
                "EMAIL": "email",
                "company": "company",
                "domain": "domain",
                "score": "score",
                "tier": "tier",
            },
            "data": ["Industry"],
            "skipped": [],
            "unused_aliases": {},
        },
        "filled": 0,
        "overwrite": False,
        "kept": [],
        "replaced": [],
        "format": "csv",
        "blank_rows": 0,
    }
    human = ready("leads", "import", str(leads_csv))
    assert human.exit_code == 0, human.stderr
    assert "Imported 0 new lead(s) for acme, updated 3, rejected 3 row(s)." in human.stdout
    assert "invalid email address 'kim@' (nothing before or after the @)" in human.stdout


def test_import_says_which_column_filled_which_field(ready, workspace):
    path = workspace / "crm.csv"
    path.write_text(
        "First Name,Last Name,E-mail,Company Name,Website,Job Title,Phone Number,Notes,"
        "Work Email,id\n"
        "Ann,Lee,ann@a.example,A Co,a.example,CEO,+15550100,met at expo,al@a.example,\n"
    )
    human = ready("leads", "import", str(path))
    assert human.exit_code == 0, human.stderr
    assert (
        "Columns: First Name -> name, Last Name -> name, E-mail -> email, Company Name -> "
        "company, Website -> domain, Job Title -> title, Phone Number -> phone."
    ) in human.stdout
    assert "Kept only in data: Notes, Work Email (another column fills email)." in human.stdout
    assert "Skipped: id." in human.stdout
    rows = ready("leads", "list", "--json").ok()
    assert (rows[0]["name"], rows[0]["company"], rows[0]["title"]) == ("Ann Lee", "A Co", "CEO")


def test_reimport_says_what_became_of_known_leads_and_overwrite_replaces(ready, workspace):
    path = workspace / "people.csv"
    path.write_text("email,name,company,title\nann@a.example,Ann Lee,A Co,\n")
    ready("leads", "import", str(path), "--json").ok()
    path.write_text("email,name,company,title\nann@a.example,Anne Lee,A Co,CEO\n")
    human = ready("leads", "import", str(path))
    assert human.exit_code == 0, human.stderr
    assert "Imported 0 new lead(s) for acme, updated 1, rejected 0 row(s)." in human.stdout
    assert (
        "1 existing lead(s): 1 empty field(s) filled, 1 value(s) kept because they differ "
        "from the file's (use --overwrite to replace them)." in human.stdout
    )
    assert ["│", "2", "│", "name", "│", "Ann", "Lee", "│", "Anne", "Lee", "│"] in [
        line.split() for line in human.stdout.splitlines()
    ]
    assert ready("leads", "list", "--json").ok()[0]["name"] == "Ann Lee"

    data = ready("leads", "import", str(path), "--overwrite", "--json").ok()
    assert data["replaced"] == [
        {"row": 2, "field": "name", "stored": "Ann Lee", "file": "Anne Lee"}
    ]
    assert (data["overwrite"], data["kept"]) == (True, [])
    assert ready("leads", "list", "--json").ok()[0]["name"] == "Anne Lee"
    help_text = ready("leads", "import", "--help").stdout
    assert "--overwrite" in help_text and "keeps what it has" in help_text


def test_reimport_keeps_data_values_and_lists_them(ready, workspace):
    """Regression: `updated 1, filled 0, kept [], replaced []` while the lead's data went
    from {ID: 1009, Notes: n1} to {ID: 7777, Notes: changed}."""
    path = workspace / "crm.csv"
    path.write_text("ID,Email,Notes\n1009,bob3@acme.example,n1\n")
    ready("leads", "import", str(path), "--json").ok()
    path.write_text("ID,Email,Notes\n7777,bob3@acme.example,changed\n")
    human = ready("leads", "import", str(path))
    assert "2 value(s) kept because they differ from the file's" in human.stdout
    assert ["│", "2", "│", "data.Notes", "│", "n1", "│", "changed", "│"] in [
        line.split() for line in human.stdout.splitlines()
    ]
    [lead] = ready("leads", "list", "--json").ok()
    assert (lead["data"]["ID"], lead["data"]["Notes"]) == (1009, "n1")
    help_text = " ".join(ready("leads", "import", "--help").stdout.split())
    assert "or a value in its data (listed as data.COLUMN)" in help_text


def test_values_of_a_repeated_row_that_differ_are_reported_too(ready, workspace):
    path = workspace / "twice.csv"
    path.write_text("email,name\nann@a.example,Ann\nann@a.example,Anne\n")
    human = ready("leads", "import", str(path))
    assert human.exit_code == 0, human.stderr
    assert "Repeated rows: 0 empty field(s) filled, 1 value(s) kept" in human.stdout
    assert "0 existing lead(s)" not in human.stdout


def test_import_reports_repeated_rows(ready, workspace):
    path = workspace / "dups.csv"
    path.write_text(
        "name,email\nAnn,ann@a.example\nBob,bob@b.example\nCy,cy@c.example\n"
        "Ann,ann@a.example\nAnn,ANN@A.example\n"
    )
    data = ready("leads", "import", str(path), "--json").ok()
    assert (data["imported"], data["updated"], data["rejected"]) == (3, 0, [])
    assert data["merged"] == [{"row": 5, "merged_into": 2}, {"row": 6, "merged_into": 2}]
    human = ready("leads", "import", str(path))
    assert human.exit_code == 0, human.stderr
    assert (
        "Imported 0 new lead(s) for acme, updated 3, merged 2 repeated row(s), rejected 0 row(s)."
        in human.stdout
    )
    assert "merged into row" in human.stdout
    lines = [line.split() for line in human.stdout.splitlines()]
    assert ["│", "5", "│", "2", "│"] in lines and ["│", "6", "│", "2", "│"] in lines


def test_import_for_another_customer(ready, leads_csv):
    ready("leads", "import", str(leads_csv), "--customer", "TechStartup", "--json").ok()
    assert ready("leads", "list", "--json").ok() == []
    assert len(ready("leads", "list", "-c", "techstartup", "--json").ok()) == 3


def test_list(ready, leads_csv):
    ready("leads", "import", str(leads_csv), "--json").ok()
    rows = ready("leads", "list", "--json").ok()
    assert [r["name"] for r in rows] == ["Ivy Ng", "Jon Poe", "Ned Oz"]  # best score first
    assert rows[0]["data"]["Industry"] == "SaaS" and rows[0]["tier"] == "A"
    assert [r["name"] for r in ready("leads", "list", "--min-score", "60", "--json").ok()] == [
        "Ivy Ng"
    ]
    assert [r["name"] for r in ready("leads", "list", "--tier", "B", "--json").ok()] == ["Jon Poe"]
    cut = ready("leads", "list", "--limit", "2", "--json")
    assert len(cut.ok()) == 2
    # The note that more are left goes to stderr: stdout stays the JSON list.
    assert cut.stderr.strip() == (
        "note: Showing the best 2; use --limit to see more (or --offset 2 for the next 2)."
    )
    # Regression: "first" whatever the order; the note names the order the list is in.
    for order, shown in (("recent", "newest"), ("name", "first"), ("score", "best")):
        cut = ready("leads", "list", "--limit", "2", "--order", order)
        assert f"Showing the {shown} 2; use --limit to see more (or --offset 2" in cut.stdout
    assert ready("leads", "list", "--limit", "3", "--json").stderr == ""
    human = ready("leads", "list")
    assert human.exit_code == 0, human.stderr
    for text in ("Leads: acme", "Ivy Ng", "ivy@l.example", "last seen", "80"):
        assert text in human.stdout


def test_list_order_name_puts_unnamed_leads_last(ready, workspace):
    path = workspace / "people.csv"
    path.write_text("email,name\nzed@z.example,\nbob@b.example,Bob\namy@a.example,Amy\n")
    ready("leads", "import", str(path), "--json").ok()
    rows = ready("leads", "list", "--order", "name", "--json").ok()
    assert [r["name"] for r in rows] == ["Amy", "Bob", None]


def test_list_when_empty(ready):
    human = ready("leads", "list")
    assert human.exit_code == 0
    assert "No leads for acme yet" in human.stdout


def test_list_when_nothing_matches_the_filters(ready, leads_csv):
    ready("leads", "import", str(leads_csv), "--json").ok()
    for args, said in [
        (("--tier", "Z"), "--tier Z"),
        (("--min-score", "100"), "--min-score 100"),
        (("-t", "c", "-t", "D", "--min-score", "90"), "--tier c --tier D --min-score 90"),
    ]:
        human = ready("leads", "list", *args)
        assert human.exit_code == 0, human.stderr
        assert human.stdout.strip() == f"No leads for acme match {said}."
        assert ready("leads", "list", *args, "--json").ok() == []
    bad = ready("leads", "list", "--tier", "ZZ", "--json")
    assert bad.exit_code == 2
    assert bad.json()["error"]["message"] == "--tier 'ZZ': a tier is one letter, such as A, B or C"


def test_export_to_stdout_and_to_a_file(ready, leads_csv, workspace):
    ready("leads", "import", str(leads_csv), "--json").ok()
    out = ready("leads", "export")
    assert out.exit_code == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["email"] for r in rows] == ["ivy@l.example", "", "ned@q.example"]
    assert rows[1]["domain"] == "m.example" and rows[0]["Industry"] == "SaaS"

    target = workspace / "leads.json"
    summary = ready("leads", "export", "--format", "json", "--output", str(target))
    assert summary.exit_code == 0, summary.stderr
    assert summary.stdout.strip() == f"Exported 3 lead(s) of acme to {target} (json)."
    exported = json.loads(target.read_text())
    assert [lead["name"] for lead in exported] == ["Ivy Ng", "Jon Poe", "Ned Oz"]

    data = ready("leads", "export", "-o", str(workspace / "x.csv"), "--json").ok()
    assert data == {"customer": "acme", "format": "csv", "count": 3,
                    "path": str(workspace / "x.csv")}  # fmt: skip
    assert not list(workspace.glob("*.partial"))

    # the export round-trips through import, as CSV and as JSON
    again = ready("leads", "import", str(workspace / "x.csv"), "--json").ok()
    assert (again["imported"], again["updated"], again["rejected"]) == (0, 3, [])
    again = ready("leads", "import", str(target), "--json").ok()
    assert (again["imported"], again["updated"], again["rejected"]) == (0, 3, [])
    assert (again["format"], again["kept"]) == ("json", [])
    human = ready("leads", "import", str(target))
    assert human.exit_code == 0, human.stderr
    assert "Imported 0 new lead(s) for acme, updated 3, rejected 0 row(s)." in human.stdout


def test_export_and_import_are_audited(ready, leads_csv, seeded):
    ready("leads", "import", str(leads_csv), "--json").ok()
    ready("leads", "export", "--format", "json")
    with seeded.session() as session:
        entries = session.scalars(
            select(AuditLog).where(AuditLog.action.like("leads.%")).order_by(AuditLog.seq)
        ).all()
    assert [e.action for e in entries] == ["leads.import", "leads.export"]
    assert entries[0].details["rejected"] == 3
    assert entries[1].details == {"format": "json", "count": 3, "destination": "stdout"}


def test_export_json_flag_needs_output(ready):
    line = ready("leads", "export", "--json").error(2)
    assert "add --output FILE" in line["message"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("who,what\nAnn,CEO\n", "no usable header"),
        ("email\nnope\nstill-nope\n", "no row could be imported (2 rejected; row 2: invalid "
         "email address 'nope')"),
    ],
)  # fmt: skip
def test_import_failures_exit_2(ready, workspace, content, message):
    path = workspace / "in.csv"
    if content is not None:
        path.write_text(content)
    assert message in ready("leads", "import", str(path)).one_line(2)
    error = ready("leads", "import", str(path), "--json").error(2)
    assert message in error["message"]
    assert ready("leads", "list", "--json").ok() == []


def test_import_of_a_missing_file_is_not_found(ready, workspace):
    """Regression: usage_error (exit 2), where `run FILE` says not_found (exit 3)."""
    path = workspace / "in.csv"
    assert f"{path}: no such file" in ready("leads", "import", str(path)).one_line(3)
    assert ready("leads", "import", str(path), "--json").error(3)["code"] == "not_found"
    # Regression: --help still said "2 when the file is missing".
    help_text = " ".join(ready("leads", "import", "--help").stdout.split())
    assert "3 when the file is missing, 2 when it is unreadable" in help_text


def test_when_every_row_is_rejected_each_reason_is_listed(ready, workspace):
    path = workspace / "in.csv"
    path.write_text("email,score\nnope,\nann@a.example,150\n")
    result = ready("leads", "import", str(path))
    assert "no row could be imported (2 rejected; row 2:" in result.one_line(2)
    rows = [line.split("│")[1:3] for line in result.stdout.splitlines() if "│" in line]
    assert [[cell.strip() for cell in row] for row in rows] == [
        ["2", "invalid email address 'nope'"],
        ["3", "score '150' is not a whole number from 0 to 100"],
    ]
    error = ready("leads", "import", str(path), "--json").error(2)
    assert len(error["details"]["rejected"]) == 2


def test_a_nul_in_a_lead_is_a_rejected_row_not_a_crash(ready, workspace):
    """Regression: on PostgreSQL, `leads import` of a lead with a NUL in its email or name
    crashed ("internal error: this is a bug"; with --json the message held the whole SQL
    statement and its parameters), and SQLite stored the NUL."""
    path = workspace / "nul.json"
    path.write_text(
        '[{"name": "NulMail", "email": "n\\u0000m@x.com"}, {"name": "Nul\\u0000Name", '
        '"domain": "x.com"}, {"name": "Ok", "email": "ok@x.com", "Notes": "a\\u0000b"}]'
    )
    data = ready("leads", "import", str(path), "--json").ok()
    assert data["rejected"] == [
        {"row": 1, "reason": "invalid email address: it has a control character (U+0000)"},
        {"row": 2, "reason": "name has a control character (U+0000)"},
    ]
    [lead] = ready("leads", "list", "--json").ok()
    assert (lead["email"], lead["data"]["Notes"]) == ("ok@x.com", "ab")
    path.write_text('[{"name": "Nul\\u0000Name", "domain": "x.com"}]')
    line = ready("leads", "import", str(path)).one_line(2)
    assert line.endswith("row 1: name has a control character (U+0000))")


def test_import_of_a_windows_file_suggests_and_takes_an_encoding(ready, workspace):
    path = workspace / "excel.csv"
    path.write_bytes("name,email\nRenée,renee@x.example\n".encode("cp1252"))
    line = ready("leads", "import", str(path)).one_line(2)
    assert "line 2: byte 0xe9 is not UTF-8 text" in line and "--encoding cp1252" in line
    data = ready("leads", "import", str(path), "--encoding", "cp1252", "--json").ok()
    assert (data["imported"], data["rejected"]) == (1, [])
    assert ready("leads", "list", "--json").ok()[0]["name"] == "Renée"
    help_text = " ".join(ready("leads", "import", "--help").stdout.split())
    assert "Import leads from a CSV file (UTF-8; see --encoding) or a JSON export." in help_text
    assert "--encoding" in help_text and "cp1252" in help_text


def test_unknown_customer(ready, leads_csv):
    assert "unknown customer 'nobody'" in ready(
        "leads", "import", str(leads_csv), "-c", "nobody"
    ).one_line(3)


def test_discovery_run_then_list(ready, workspace):
    recipe = {
        "slug": "discover",
        "name": "Discover",
        "version": 1,
        "inputs": {"type": "object", "properties": {"query": {"type": "string"}}},
        "steps": [
            {"id": "expand", "type": "ai", "task": "expand_query", "format": "json",
             "prompt": "{{ inputs.query }}", "input": "{{ inputs.query }}"},
            {"id": "search", "type": "action", "action": "lead_search",
             "query": "{{ steps.expand.output }}", "limit": 12},
            {"id": "store", "type": "action", "action": "db_query", "query": "upsert_leads",
             "write": True, "params": {"leads": "{{ steps.search.output.leads }}"}},
        ],
        "outputs": {"stored": "{{ steps.store.output.created }}"},
    }  # fmt: skip
    path = workspace / "discover.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    run = ready("run", str(path), "--customer", "acme", "--json", "--query", "SaaS founders")
    assert run.exit_code == 0, run.stdout + run.stderr
    stored = run.json()["data"]["outputs"]["stored"]
    # The sample data holds near-duplicates on purpose: the store keeps one lead per person.
    assert 10 <= stored <= 12
    rows = ready("leads", "list", "--json").ok()
    assert len(rows) == stored
    assert all(r["data"]["industry"] == "SaaS" for r in rows)
    assert all(r["source"]["provider"] == "local" for r in rows)


def test_a_recipes_leads_with_control_characters_are_warned_about_safely(ready, workspace):
    """A recipe's lead with a NUL in its name is skipped with the reason (it crashed the run
    on PostgreSQL); a warning quoting a lead's text shows its escape, not obeys it."""
    leads = [
        {"email": "esc@x.example", "score": "9\x1b9"},
        {"name": "Nul\x00Name", "domain": "x.example"},
        {"email": "ok@x.example", "company": "Ac\x00me"},
    ]
    recipe = {
        "slug": "store-nul", "name": "Store", "version": 1,
        "steps": [{"id": "store", "type": "action", "action": "db_query",
                   "query": "upsert_leads", "write": True, "params": {"leads": leads}}],
    }  # fmt: skip
    path = workspace / "store.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    run = ready("run", str(path), "--customer", "acme")
    assert run.exit_code == 0, run.stdout + run.stderr
    assert "\x1b" not in run.stderr + run.stdout
    assert "step store: 2 lead(s) not stored (lead #1: score '9\\x1b9' is not" in run.stderr
    assert len(ready("executions", "list", "--json").ok()) == 1  # recorded, on PostgreSQL too
    [lead] = ready("leads", "list", "--json").ok()
    assert (lead["email"], lead["company"]) == ("ok@x.example", "Acme")
    # A NUL a step's query carries (a tier filter) fails that step as bad data, never as
    # "internal error in step (a bug, please report)" with the SQL statement.
    recipe["steps"] = [{"id": "find", "type": "action", "action": "db_query",
                        "query": "find_leads", "params": {"tier": "\x00"}}]  # fmt: skip
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    run = ready("run", str(path), "--customer", "acme", "--json")
    assert "internal error" not in run.stdout and "SELECT" not in run.stdout
    if os.environ["HUNTER_DATABASE_URL"].startswith("postgresql"):  # SQLite: no such lead
        assert run.json()["error"]["message"] == (
            "step 'find' failed: the step's data holds a NUL character (U+0000), which the "
            "database refuses"
        )


def test_export_never_writes_over_the_workspace_or_an_existing_file(ready, workspace):
    """Regression: `leads export --output .hunter/hunter.db` replaced the database (ledger,
    audit trail, outbox) and `-o hunter.toml` the configuration, without a word."""
    import os

    config = workspace / "hunter.toml"
    before = config.read_text()
    line = ready("leads", "export", "-o", str(config), "--force").one_line(2)
    assert "is this workspace's own file: choose another --output" in line
    assert config.read_text() == before
    url = os.environ["HUNTER_DATABASE_URL"]
    if url.startswith("sqlite:///"):
        database = url.removeprefix("sqlite:///")
        line = ready("leads", "export", "-f", "json", "-o", database, "--force").one_line(2)
        assert "is this workspace's own file" in line
    target = workspace / "mine.csv"
    target.write_text("precious\n")
    assert "exists already: add --force" in ready("leads", "export", "-o", str(target)).one_line(2)
    assert target.read_text() == "precious\n"
    assert ready("leads", "export", "-o", str(target), "--force").exit_code == 0
    assert target.read_text().startswith("id,")


def test_leads_list_pages_with_offset(ready, workspace):
    """Regression: `leads list --offset 50` was "No such option" (executions and audit had
    it), so 10,000 leads could only be read as one huge table."""
    path = workspace / "five.csv"
    path.write_text("name,email\n" + "".join(f"Lead {n},lead{n}@p.example\n" for n in "ABCDE"))
    assert ready("leads", "import", str(path)).exit_code == 0
    names = lambda result: [r["name"] for r in result.ok()]  # noqa: E731
    first = ready("leads", "list", "--order", "name", "-n", "2", "--json")
    assert names(first) == ["Lead A", "Lead B"]
    assert "--offset 2 for the next 2" in first.stderr
    second = ready("leads", "list", "--order", "name", "-n", "2", "--offset", "2", "--json")
    assert names(second) == ["Lead C", "Lead D"]
    assert "use --offset 4 for the next 2" in second.stderr
    last = ready("leads", "list", "--order", "name", "-n", "2", "--offset", "4", "--json")
    assert names(last) == ["Lead E"] and last.stderr == ""
    assert "No leads for acme after the first 9." in ready("leads", "list", "--offset", "9").stdout
