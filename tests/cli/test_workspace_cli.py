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
    (recipes / "demo.yaml").write_text("slug: demo\nname: Demo\nsteps: []\n")
    first = cli("seed", "--json").ok()
    demo = next(r for r in first["recipes"] if r["slug"] == "demo")
    assert (demo["version"], demo["new"]) == (1, True)
    (recipes / "demo.yaml").write_text("slug: demo\nname: Demo 2\nsteps: []\n")
    second = cli("seed", "--json").ok()
    assert second["created"] == {"recipe_versions": 1}
    assert next(r for r in second["recipes"] if r["slug"] == "demo")["version"] == 2
