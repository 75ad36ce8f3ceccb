"""The three bundled recipes end to end through the real CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(cli, *args):
    result = cli("run", *args, "--json")
    assert result.stdout, result.stderr
    return result, result.json()


def test_discovery_outreach_intelligence(workspace, cli):
    assert cli("seed").exit_code == 0
    before = Decimal(cli("credits", "show", "-c", "acme", "--json").json()["data"][0]["available"])

    result, doc = _run(cli, "discovery", "--query", "SaaS founders", "--limit", "5")
    assert result.exit_code == 0, result.stderr
    data = doc["data"]
    assert data["status"] == "success"
    assert [s["status"] for s in data["steps"]] == ["ok"] * 5
    assert data["steps"][0]["meta"]["offline"] is True
    assert any("offline" in w for w in data["warnings"])
    leads = data["outputs"]["leads"]
    assert len(leads) == 5 and data["outputs"]["new_leads"] == 5
    for lead in leads:
        assert re.search(r"founder|ceo|owner", lead["title"], re.I), lead
        assert lead["email"].endswith(".example")
    assert data["credits"]["used"] == "0.0500"

    # The same search again finds the same people: no duplicates in the store.
    _, again = _run(cli, "discovery", "--query", "SaaS founders", "--limit", "5")
    assert again["data"]["outputs"]["new_leads"] == 0
    stored = cli("leads", "list", "--json").json()["data"]
    assert len(stored) == 5

    after = Decimal(cli("credits", "show", "-c", "acme", "--json").json()["data"][0]["available"])
    assert before - after == Decimal("0.10")

    domain = leads[0]["domain"]
    result, doc = _run(cli, "intelligence", "--domain", domain)
    assert result.exit_code == 0, result.stderr
    scored = doc["data"]["outputs"]["leads"]
    assert scored and all(0 <= lead["score"] <= 100 for lead in scored)
    assert all(lead["score_reasons"] is not None for lead in scored)
    assert (
        domain.split(".")[0].replace("-", " ").split()[0].lower()
        in doc["data"]["outputs"]["analysis"].lower()
    )

    tiers = {lead["tier"] for lead in cli("leads", "list", "--json").json()["data"]}
    assert tiers & {"A", "B", "C"}

    tier = "A" if "A" in tiers else sorted(t for t in tiers if t)[0]
    result, doc = _run(cli, "outreach", "--tier", tier, "--limit", "3")
    assert result.exit_code == 0, result.stderr
    queued = doc["data"]["outputs"]["queued"]
    assert queued >= 1
    outbox = cli("outbox", "list", "--json").json()["data"]
    assert len(outbox) == queued
    message = cli("outbox", "show", outbox[0]["id"], "--json").json()["data"]
    assert message["subject"] and "Hi " in message["body"]

    assert cli("audit", "verify").exit_code == 0
    assert cli("credits", "check").exit_code == 0
    executions = cli("executions", "list", "--json").json()["data"]
    assert [e["status"] for e in executions] == ["success"] * 4


def test_plan_shows_cost_and_charges_nothing(workspace, cli):
    cli("seed")
    result = cli("run", "discovery", "--query", "fintech", "--plan", "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json()["data"]
    assert data["status"] == "planned"
    assert data["credits"]["reserved"] == "0.0500"
    assert [p["id"] for p in data["plan"]] == ["expand", "search", "dedupe", "top", "store"]
    assert data["plan"][0]["provider"] == "ai:offline"
    assert cli("executions", "list", "--json").json()["data"] == []


def test_bad_input_is_exit_2_and_charges_nothing(workspace, cli):
    cli("seed")
    result = cli("run", "discovery", "--limit", "lots")
    assert result.exit_code == 2
    assert "missing input 'query'" in result.stderr
    assert "input 'limit': 'lots' is not of type 'integer'" in result.stderr
    assert "Traceback" not in result.stderr
    result = cli("run", "discovery", "--query", "!!!!", "--json")  # readable, not a regex
    assert result.error(2)["details"]["problems"] == [
        "input 'query' must contain letters or digits, e.g. \"SaaS founders\""
    ]
    result = cli("run", "discovery", "--query", "x", "--colour", "red")
    assert result.exit_code == 2
    assert "unknown input 'colour'" in result.stderr
    assert cli("executions", "list", "--json").json()["data"] == []


def test_unknown_recipe_and_insufficient_credits(workspace, cli, tmp_path):
    cli("seed")
    result = cli("run", "nosuch", "--query", "x")
    assert result.exit_code == 3
    assert (
        "unknown recipe 'nosuch'; known recipes: discovery, intelligence, outreach" in result.stderr
    )
    expensive = tmp_path / "expensive.yaml"
    expensive.write_text(
        "slug: expensive\nname: E\nversion: 1\ndescription: d\n"
        "inputs: {type: object, properties: {}}\n"
        "steps:\n  - {id: a, type: state, set: {x: 1}, credits: 5000}\n"
    )
    result = cli("run", str(expensive), "--customer", "techstartup", "--json")
    assert result.exit_code == 4
    assert result.json()["error"]["code"] == "insufficient_credits"
    assert cli("executions", "list", "--json").json()["data"] == []


def test_bundled_recipes_and_readme_example_validate(workspace, cli, tmp_path):
    result = cli("recipes", "validate")
    assert result.exit_code == 0, result.stderr
    readme = (ROOT / "README.md").read_text()
    start = readme.index("```yaml\nslug: city-fintech")
    example = readme[start + len("```yaml\n") : readme.index("```", start + 7)]
    path = tmp_path / "city-fintech.yaml"
    path.write_text(example)
    result = cli("recipes", "validate", str(path))
    assert result.exit_code == 0, result.stderr


def test_a_recipe_in_recipes_must_be_named_by_its_slug(workspace, cli, tmp_path):
    text = (
        "slug: other-name\nname: O\nversion: 1\ninputs: {type: object, properties: {}}\n"
        "steps:\n  - {id: a, type: state, set: {x: 1}}\n"
    )
    (workspace / "recipes").mkdir()
    (workspace / "recipes" / "myrecipe.yaml").write_text(text)
    expected = (
        "recipes/myrecipe.yaml:1:7: slug: slug 'other-name' differs from the file name "
        "'myrecipe': a recipe in a recipes folder is listed and run by its file name; write "
        "slug: myrecipe, or rename the file to other-name.yaml"
    )
    result = cli("recipes", "validate", "recipes/myrecipe.yaml")
    assert result.exit_code == 2
    assert expected in result.stderr
    result = cli("run", "myrecipe", "--plan")
    assert result.exit_code == 2
    assert expected in result.stderr
    (workspace / "recipes" / "Q3 Push.yaml").write_text(text)
    shown = " ".join(cli("recipes", "validate", "recipes/Q3 Push.yaml").stderr.split())
    assert "by its file name; rename the file to other-name.yaml" in shown
    (workspace / "recipes" / "Q3 Push.yaml").unlink()
    # Anywhere else the slug is free, in another folder called recipes too.
    (tmp_path / "elsewhere.yaml").write_text(text)
    assert cli("recipes", "validate", str(tmp_path / "elsewhere.yaml")).exit_code == 0
    (tmp_path / "adhoc" / "recipes").mkdir(parents=True)
    (tmp_path / "adhoc" / "recipes" / "mine.yaml").write_text(text)
    assert (
        cli("recipes", "validate", str(tmp_path / "adhoc" / "recipes" / "mine.yaml")).exit_code == 0
    )


def test_validate_a_folder_checks_every_recipe_in_it(workspace, cli):
    folder = workspace / "recipes"
    folder.mkdir()
    (folder / "good.yaml").write_text(
        "slug: good\nname: G\nversion: 1\nsteps:\n  - {id: a, type: state, set: {x: 1}}\n"
    )
    (folder / "bad.yml").write_text(
        "slug: bad\nname: B\nversion: 1\nsteps:\n  - {id: a, type: state, timeout: soon}\n"
    )
    (folder / "notes.txt").write_text("not a recipe")
    result = cli("recipes", "validate", "recipes")
    assert result.exit_code == 2
    assert "recipes/good.yaml: ok" in result.stdout
    assert "recipes/bad.yml:5:5: steps[0]: at least one of" in result.stderr
    assert "notes.txt" not in result.stdout + result.stderr
    (workspace / "empty").mkdir()
    result = cli("recipes", "validate", "empty")
    assert result.exit_code == 2
    assert "empty: no recipe files (*.yaml, *.yml) in this folder" in result.stderr


def test_broken_recipe_reports_file_line_column(workspace, cli, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(
        "slug: broken\nname: B\nversion: 1\ndescription: d\n"
        "inputs: {type: object, properties: {}}\n"
        "steps:\n"
        "  - id: a\n    type: state\n    set: {x: 1}\n    timeout: soon\n"
        "  - id: b\n    type: emial\n"
    )
    result = cli("recipes", "validate", str(path))
    assert result.exit_code == 2
    assert ":10:14: steps[0].timeout: 'soon' is not of type 'number'" in result.stderr
    assert "steps[1].type: unknown step type 'emial'" in result.stderr
    # However long, each problem stays on one line (the runner's pipe is 80 columns wide).
    assert (
        "broken.yaml:12:11: steps[1].type: unknown step type 'emial'; known types: action, "
        "ai, audit, correspondence, state, subscription\n"
    ) in result.stderr
    result = cli("run", str(path))
    assert result.exit_code == 2
    assert "is invalid" in result.stderr


def test_a_failed_run_says_how_to_resume_it_and_resume_finishes_it(workspace, cli, tmp_path):
    """People see the resume command under a failed run; following it finishes the run."""
    assert cli("seed").exit_code == 0
    marker = tmp_path / "ready.json"
    recipe = tmp_path / "needs-file.yaml"
    recipe.write_text(
        "slug: needs-file\nname: Needs a file\nversion: 1\ndescription: test\n"
        "inputs: {type: object, properties: {}}\n"
        "steps:\n"
        "  - {id: first, type: state, set: {x: 1}}\n"
        # A template, so that validation cannot tell the URL will be refused: the step fails.
        f"  - {{id: read, type: action, action: api_call, url: \"{{{{ 'file://{marker}' }}}}\"}}\n"
    )
    failed = cli("run", str(recipe))
    assert failed.exit_code == 1
    hint = re.search(r"hunter executions resume ([0-9a-f]{8})", failed.stderr)
    assert hint, failed.stderr
    said = " ".join(failed.stderr.split())  # the console folds long lines
    assert "Resuming runs the recipe as it was first run: after fixing the recipe" in said
    assert f"resume {hint.group(1)}. Resuming" in said
    # A run that was delivering (--send) is resumed delivering, or it would only queue.
    sending = " ".join(cli("run", str(recipe), "--send").stderr.split())
    assert re.search(r"hunter executions resume [0-9a-f]{8} --send\. Resuming", sending), sending
    shown = cli("executions", "show", hint.group(1))
    assert f"hunter executions resume {hint.group(1)}" in shown.stdout
    resumed = cli("executions", "resume", hint.group(1), "--json")
    # Still failing (nothing changed), so still resumable: the same step fails again.
    assert resumed.exit_code == 1
    steps = resumed.json()["data"]["steps"]
    assert [(s["id"], s["status"]) for s in steps] == [("first", "ok"), ("read", "failed")]
    assert resumed.json()["data"]["credits"]["used"] == "0.0100"
