"""`hunter init` and `hunter seed`, from an empty folder."""

from __future__ import annotations

from hunter_cli.db.engine import head_revision


def test_init_creates_a_workspace_with_sqlite(bare_env, cli):
    data = cli("init", "--json").ok()
    assert data["config_written"] is True
    assert data["workspace"] == str(bare_env.resolve())
    assert data["schema_revision"] == head_revision()
    assert data["database"] == f"SQLite database {bare_env.resolve()}/.hunter/hunter.db"
    assert (bare_env / "hunter.toml").is_file()
    assert (bare_env / "recipes").is_dir()
    assert (bare_env / ".hunter" / "hunter.db").is_file()

    seeded = cli("seed", "--json").ok()
    assert seeded["changed"] is True
    assert len(cli("customers", "list", "--json").ok()) == 3
    assert cli("audit", "verify", "--json").ok()["ok"] is True


def test_init_again_never_overwrites_hunter_toml(bare_env, cli):
    assert cli("init").exit_code == 0
    config = bare_env / "hunter.toml"
    config.write_text('[workspace]\ndefault_customer = "global"\n# mine\n')
    again = cli("init", "--json").ok()
    assert again["config_written"] is False
    assert again["recipes_copied"] == []
    assert config.read_text() == '[workspace]\ndefault_customer = "global"\n# mine\n'
    human = cli("init")
    assert human.exit_code == 0 and "kept existing hunter.toml" in human.stdout


def test_init_into_a_named_folder(bare_env, cli):
    data = cli("init", "projects/leads", "--json").ok()
    target = bare_env / "projects" / "leads"
    assert data["workspace"] == str(target.resolve())
    assert (target / "hunter.toml").is_file()
    assert (target / ".hunter" / "hunter.db").is_file()
    assert not (bare_env / "hunter.toml").exists()


def test_init_on_a_file_is_a_usage_error(bare_env, cli):
    (bare_env / "taken").write_text("")
    assert "is not a folder" in cli("init", "taken").one_line(2)
    line = cli("init", "taken/inside").one_line(2)
    assert line.startswith("error: cannot make the folder taken/inside: ")


def test_seed_twice_reports_no_change(workspace, cli):
    first = cli("seed", "--json").ok()
    assert first["changed"] is True
    expected = {"customers": 3, "agents": 1, "plans": 4, "subscriptions": 3}
    assert first["created"].items() >= expected.items()  # plus any bundled recipes
    entries = len(cli("audit", "list", "--limit", "1000", "--json").ok())
    second = cli("seed", "--json").ok()
    assert second["changed"] is False
    assert (second["created"], second["updated"]) == ({}, {})
    assert len(cli("audit", "list", "--limit", "1000", "--json").ok()) == entries
    assert "Nothing to do" in cli("seed").stdout


def test_seed_registers_workspace_recipes(workspace, cli):
    recipes = workspace / "recipes"
    recipes.mkdir()
    (recipes / "demo.yaml").write_text(
        "slug: demo\nname: Demo\nversion: 1\nsteps: [{id: a, type: state, set: {x: 1}}]\n"
    )
    first = cli("seed", "--json").ok()
    demo = next(r for r in first["recipes"] if r["slug"] == "demo")
    assert (demo["version"], demo["new"]) == (1, True)
    (recipes / "demo.yaml").write_text(
        "slug: demo\nname: Demo 2\nversion: 1\nsteps: [{id: a, type: state, set: {x: 1}}]\n"
    )
    second = cli("seed", "--json").ok()
    assert second["created"] == {"recipe_versions": 1}
    assert next(r for r in second["recipes"] if r["slug"] == "demo")["version"] == 2


def test_seed_skips_invalid_recipe_files_with_a_warning_each(workspace, cli):
    """Regression: a non-UTF-8 file was a traceback, a tab-indented one aborted the whole
    seed with PyYAML's message, and schema-invalid ones were stored as recipe versions."""
    recipes = workspace / "recipes"
    recipes.mkdir()
    (recipes / "bin.yaml").write_bytes(b"\xff\xfe")
    (recipes / "tabbed.yaml").write_text("slug: tabbed\nsteps:\n\t- id: a\n")
    (recipes / "empty.yaml").write_text("")
    (recipes / "wrong.yaml").write_text("slug: wrong\nname: 5\nversion: x\nsteps: 3\n")
    result = cli("seed")
    assert result.exit_code == 0, result.stderr
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 4, result.stderr
    assert all(w.endswith("(recipe not loaded: run `hunter recipes validate`)") for w in warnings)
    assert "warning: recipes/bin.yaml:1:1: (root): recipe file is not valid UTF-8" in warnings[0]
    assert warnings[2].startswith("warning: recipes/tabbed.yaml:3:1: (root): invalid YAML")
    assert "recipes/wrong.yaml:2:7: name: 5 is not of type 'string' (and 1 more)" in warnings[3]
    # Everything else was loaded; nothing invalid was stored.
    data = cli("seed", "--json").ok()
    slugs = {r["slug"] for r in data["recipes"]}
    assert {"discovery", "intelligence", "outreach"} <= slugs
    assert not slugs & {"bin", "tabbed", "empty", "wrong"}
    assert [s["path"].rsplit("/", 1)[1] for s in data["skipped"]] == [
        "bin.yaml",
        "empty.yaml",
        "tabbed.yaml",
        "wrong.yaml",
    ]
    assert cli("customers", "list", "--json").ok()
