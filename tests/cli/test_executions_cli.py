"""`hunter executions`: listing, filtering and naming past runs."""

from __future__ import annotations

import pytest


@pytest.fixture
def ran(workspace, cli):
    """A seeded workspace with one successful discovery run; returns its id."""
    assert cli("seed").exit_code == 0
    data = cli("run", "discovery", "--query", "SaaS founders", "--json").ok()
    return data["execution_id"]


def test_an_unknown_status_is_a_usage_error(ran, cli):
    """Regression: `--status bogus` said "No executions yet" with exit 0."""
    line = cli("executions", "list", "--status", "bogus").one_line(2)
    assert "unknown execution status 'bogus'; choose from pending, running, success" in line
    assert cli("executions", "list", "--status", "bogus", "--json").error(2)["code"]


def test_filters_that_match_nothing_say_so(ran, cli):
    result = cli("executions", "list", "--recipe", "nosuch")
    assert result.exit_code == 0
    assert "No executions match the filters (--recipe nosuch)." in result.stdout
    assert "No executions yet" not in result.stdout
    assert cli("executions", "list", "--status", "failed", "--json").ok() == []
    assert len(cli("executions", "list", "--status", "success", "--json").ok()) == 1


def test_a_prefix_too_short_says_how_long_one_must_be(ran, cli):
    """Regression: `resume 84007` said only "not an execution id" though README promised
    prefixes."""
    line = cli("executions", "resume", ran[:5]).one_line(2)
    assert "a unique prefix of at least 6 hex digits" in line
    assert cli("executions", "show", ran[:6], "--json").ok()["id"] == ran


def test_audit_list_takes_an_execution_prefix(ran, cli):
    """Regression: `audit list --execution` needed the full id; `hunter run` shows 8 digits."""
    full = cli("audit", "list", "--execution", ran, "--json").ok()
    assert full and all(entry["execution_id"] == ran for entry in full)
    assert cli("audit", "list", "-e", ran[:8], "--json").ok() == full
    assert "at least 6 hex digits" in cli("audit", "list", "-e", ran[:4]).one_line(2)
    assert cli("audit", "list", "-e", "ffffffff").one_line(3).startswith("error: no execution")


def test_list_is_a_summary_and_show_has_the_rest(workspace, cli):
    cli("seed")
    ran = cli("run", "discovery", "--query", "SaaS founders", "--limit", "2", "--json")
    execution_id = ran.json()["data"]["execution_id"]
    (row,) = cli("executions", "list", "--json").ok()
    assert row["id"] == execution_id and row["status"] == "success"
    assert not {"inputs", "outputs", "steps"} & set(row)  # megabytes for a batch run
    shown = cli("executions", "show", execution_id[:8], "--json").ok()
    assert {k: v for k, v in shown.items() if k in row} == row
    assert shown["inputs"]["query"] == "SaaS founders" and len(shown["steps"]) == 5


def test_show_has_the_outputs_and_one_step_in_full(ran, cli):
    """Regression: the human `show` had no outputs (README promised them); a step's output
    was only in the whole --json document."""
    shown = cli("executions", "show", ran[:8])
    assert shown.exit_code == 0
    assert "new_leads:" in shown.stdout and "leads (" in shown.stdout
    assert f"hunter executions show {ran[:8]} --step store" in shown.stdout
    step = cli("executions", "show", ran[:8], "--step", "dedupe", "--json").ok()
    assert step["id"] == "dedupe" and step["status"] == "ok"
    assert step["output"]["count"] == len(step["output"]["items"])
    human = cli("executions", "show", ran[:8], "--step", "dedupe")
    assert '"duplicates"' in human.stdout
    line = cli("executions", "show", ran[:8], "--step", "nope").one_line(3)
    assert "has no record of a step 'nope' (steps run: expand, search, dedupe, top, store)" in line


def test_a_steps_warnings_are_on_its_record(workspace, cli):
    """`executions show ID --step S` shows what went wrong quietly in that step (a misspelt
    field), not only the run's list of warnings."""
    assert cli("seed").exit_code == 0
    (workspace / "sorty.yaml").write_text(
        "slug: sorty\nname: Sorty\nversion: 1\ninputs: {type: object, properties: {}}\n"
        "steps:\n"
        "  - {id: rows, type: state, set: {rows: [{score: 2}, {score: 1}]}}\n"
        "  - id: order\n    type: action\n    action: data_processing\n"
        "    operation: sort\n    items: '{{ state.rows }}'\n    by: scroe\n"
    )
    ran = cli("run", "sorty.yaml", "--json").ok()
    expected = "step order: sort field 'scroe' is in none of the 2 item(s)"
    assert any(w.startswith(expected) for w in ran["warnings"])
    step = cli("executions", "show", ran["execution_id"][:8], "--step", "order", "--json").ok()
    assert [w[: len(expected)] for w in step["meta"]["warnings"]] == [expected]
    rows = cli("executions", "show", ran["execution_id"][:8], "--step", "rows", "--json").ok()
    assert "warnings" not in rows["meta"]


TINY = (
    "slug: tiny\nname: Tiny\nversion: 1\ninputs: {type: object, properties: {}}\n"
    "steps:\n  - {id: a, type: state, set: {x: 1}}\n"
)


def test_a_list_cut_at_its_limit_says_so_and_offset_pages(workspace, cli):
    """Regression: `executions list --json` returned 20 of 33 runs with no hint, and the
    table said nothing either."""
    assert cli("seed").exit_code == 0
    (workspace / "tiny.yaml").write_text(TINY)
    ran = [cli("run", "tiny.yaml", "--json").ok()["execution_id"] for _ in range(3)]
    newest_first = ran[::-1]

    cut = cli("executions", "list", "-n", "2", "--json")
    assert [r["id"] for r in cut.ok()] == newest_first[:2]  # data stays a plain list
    note = "Showing the newest 2; use --limit to see more (or --offset 2 for the next 2)."
    assert cut.stderr.strip() == f"note: {note}"
    assert note in cli("executions", "list", "-n", "2").stdout

    rest = cli("executions", "list", "-n", "2", "--offset", "2", "--json")
    assert [r["id"] for r in rest.ok()] == newest_first[2:]
    assert rest.stderr == ""  # nothing more: no note
    assert "Showing" not in cli("executions", "list", "-n", "3").stdout
    middle = cli("executions", "list", "-n", "1", "--offset", "1")
    assert "Showing 1 after the newest 1; use --offset 2 for the next 1." in middle.stdout
    assert "No executions after the newest 5." in cli("executions", "list", "--offset", "5").stdout
