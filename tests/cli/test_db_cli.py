"""`hunter db current` and `hunter db upgrade`, and a schema that is behind."""

from __future__ import annotations

from hunter_cli.db.engine import head_revision


def test_current_and_upgrade_at_head(workspace, cli):
    data = cli("db", "current", "--json").ok()
    assert (data["current"], data["head"], data["up_to_date"]) == (
        head_revision(),
        head_revision(),
        True,
    )
    upgraded = cli("db", "upgrade", "--json").ok()
    assert (upgraded["from"], upgraded["to"]) == (head_revision(), head_revision())
    assert "up to date" in cli("db", "upgrade").stdout
    assert "up to date" in cli("db", "current").stdout


def test_a_postgresql_schema_behind_says_run_db_upgrade(bare_env, empty_pg_url, cli, monkeypatch):
    monkeypatch.setenv("HUNTER_DATABASE_URL", empty_pg_url)
    line = cli("credits", "show").one_line(6)
    assert "run `hunter db upgrade`" in line
    assert cli("customers", "list", "--json").error(6)["code"] == "schema_behind"
    behind = cli("db", "current", "--json").ok()
    assert (behind["current"], behind["up_to_date"]) == (None, False)
    assert "behind: run `hunter db upgrade`" in cli("db", "current").stdout

    upgraded = cli("db", "upgrade", "--json").ok()
    assert (upgraded["from"], upgraded["to"]) == (None, head_revision())
    assert cli("credits", "show", "--json").ok() == []
    assert cli("seed").exit_code == 0
    assert len(cli("customers", "list", "--json").ok()) == 3


def test_db_commands_on_an_unreachable_database(bare_env, cli, monkeypatch):
    monkeypatch.setenv("HUNTER_DATABASE_URL", "postgresql://u:s3cretpw@127.0.0.1:1/x")
    for command in (("db", "current"), ("db", "upgrade")):
        line = cli(*command).one_line(6)
        assert "127.0.0.1:1" in line and "s3cretpw" not in line


def test_a_schema_from_a_newer_hunter_is_exit_6_everywhere(workspace, db, cli):
    """Regression: on SQLite every command crashed ("Can't locate revision identified by
    '9999'", a traceback); on PostgreSQL commands said to run `hunter db upgrade`, which then
    crashed. A newer schema is not ours to read or migrate: upgrade hunter."""
    from sqlalchemy import text

    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    db.dispose()
    expected = (
        "the database's schema (revision 9999) is newer than this hunter knows "
        f"(newest: {head_revision()}): upgrade hunter"
    )
    for command in (
        ("audit", "verify"),
        ("credits", "show"),
        ("executions", "list"),
        ("db", "current"),
        ("db", "upgrade"),
        ("seed",),
    ):
        assert expected in cli(*command).one_line(6), command
        error = cli(*command, "--json").error(6)
        assert (error["code"], error["message"].startswith(expected)) == ("schema_ahead", True)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "9999"
