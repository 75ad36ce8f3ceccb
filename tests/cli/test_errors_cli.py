"""Bad input gets one clear line (or the JSON error envelope) and a documented exit code,
never a traceback; and the settings precedence as the CLI applies it."""

from __future__ import annotations

import json
import re

import pytest

from hunter_cli.errors import (
    ConfigError,
    DatabaseUnavailableError,
    ExitCode,
    HunterError,
    InsufficientCreditsError,
    IntegrityError,
    NotFoundError,
    SchemaAheadError,
    SchemaBehindError,
    UsageError,
    ValidationError,
)

UNREACHABLE = "postgresql+psycopg://u:s3cretpw@127.0.0.1:1/x"


def test_exit_codes_are_the_documented_ones():
    assert (ExitCode.OK, ExitCode.USAGE, ExitCode.NOT_FOUND) == (0, 2, 3)
    assert (ExitCode.INSUFFICIENT_CREDITS, ExitCode.DATABASE, ExitCode.INTEGRITY) == (4, 6, 7)
    expected = {
        UsageError: (2, "usage_error"),
        ValidationError: (2, "validation_error"),
        ConfigError: (2, "config_error"),
        NotFoundError: (3, "not_found"),
        InsufficientCreditsError: (4, "insufficient_credits"),
        DatabaseUnavailableError: (6, "database_unavailable"),
        SchemaBehindError: (6, "schema_behind"),
        SchemaAheadError: (6, "schema_ahead"),
        IntegrityError: (7, "integrity_error"),
    }
    for cls, (code, name) in expected.items():
        assert issubclass(cls, HunterError)
        assert (cls.exit_code, cls.code) == (code, name)
    assert NotFoundError("m", details={"a": 1}).to_dict() == {
        "code": "not_found",
        "message": "m",
        "details": {"a": 1},
    }


@pytest.fixture
def toml_ws(bare_env):
    """A workspace folder whose hunter.toml each test writes itself."""
    return bare_env


def test_malformed_hunter_toml_names_file_line_and_column(toml_ws, cli):
    (toml_ws / "hunter.toml").write_text('[workspace]\ndefault_customer = "acme"\nnot toml\n')
    line = cli("customers", "list").one_line(2)
    assert re.search(r"hunter\.toml:3:\d+: malformed hunter\.toml", line), line
    error = cli("credits", "show", "--json").error(2)
    assert error["code"] == "config_error"
    assert ":3:" in error["message"]
    assert cli("init").one_line(2).endswith(line.split("error: ", 1)[1][-20:])


def test_brackets_in_a_message_are_shown_not_taken_for_markup(toml_ws, cli):
    """Regression: rich took "[databse]" in the message for a style tag and dropped it."""
    (toml_ws / "hunter.toml").write_text("[databse]\nurl = 'x'\n")
    line = cli("customers", "list").one_line(2)
    assert "unknown section [databse]; known sections:" in line


def test_unreachable_database_names_host_and_port_never_the_password(bare_env, cli, monkeypatch):
    """Regression (also): the message was wrapped at 80 columns onto several lines."""
    monkeypatch.setenv("HUNTER_DATABASE_URL", UNREACHABLE)
    result = cli("credits", "show")
    line = result.one_line(6)
    assert "cannot connect to PostgreSQL at 127.0.0.1:1" in line
    assert "s3cretpw" not in result.stdout + result.stderr
    error = cli("customers", "list", "--json").error(6)
    assert error["code"] == "database_unavailable"
    assert "127.0.0.1" in error["message"] and "port 1" in error["message"]
    monkeypatch.delenv("HUNTER_DATABASE_URL")
    flagged = cli("--database-url", UNREACHABLE, "audit", "verify", "--json")
    assert flagged.error(6)["code"] == "database_unavailable"
    assert "s3cretpw" not in flagged.stdout + flagged.stderr


def test_no_workspace_and_no_url_suggests_init(bare_env, cli):
    line = cli("customers", "list").one_line(2)
    assert "run `hunter init`" in line
    assert cli("credits", "show", "--json").error(2)["code"] == "config_error"
    assert cli("db", "current").one_line(2) == line


def test_a_missing_config_path(bare_env, cli):
    assert "config file not found" in cli("--config", "nope.toml", "plans", "list").one_line(2)


def test_insufficient_credits_exit_code(capsys):
    """No foundation command reserves; `hunter run` does, through this same renderer."""
    from hunter_cli.cli.output import fail

    error = InsufficientCreditsError("insufficient credits: acme needs 5", details={"n": "5"})
    assert fail(error, json_output=True).exit_code == 4
    assert json.loads(capsys.readouterr().out) == {
        "status": "error",
        "error": {
            "code": "insufficient_credits",
            "message": "insufficient credits: acme needs 5",
            "details": {"n": "5"},
        },
    }


# --- settings precedence, through the real CLI -----------------------------------------------


def test_database_url_flag_beats_the_environment(workspace, seeded, db_url, cli, monkeypatch):
    monkeypatch.setenv("HUNTER_DATABASE_URL", UNREACHABLE)
    assert cli("customers", "list").exit_code == 6
    rows = cli("--database-url", db_url, "customers", "list", "--json").ok()
    assert len(rows) == 3


def test_database_url_environment_variable_is_honoured(workspace, seeded, db_url, cli, monkeypatch):
    monkeypatch.delenv("HUNTER_DATABASE_URL")
    # Without it, the workspace's own SQLite database is used (not created yet)...
    assert ".hunter/hunter.db does not exist" in cli("customers", "list").one_line(6)
    # ...with it, the seeded test database.
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert len(cli("customers", "list", "--json").ok()) == 3


def test_hunter_toml_url_and_a_parent_folder(bare_env, seeded, db_url, cli, monkeypatch):
    (bare_env / "hunter.toml").write_text(f'[database]\nurl = "{db_url}"\n')
    deep = bare_env / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert len(cli("customers", "list", "--json").ok()) == 3
    monkeypatch.setenv("HUNTER_DATABASE_URL", UNREACHABLE)  # the environment beats the file
    assert cli("customers", "list").exit_code == 6


def test_config_flag_from_elsewhere(bare_env, seeded, db_url, cli, monkeypatch, tmp_path):
    ws = tmp_path / "ws-elsewhere"
    ws.mkdir()
    (ws / "hunter.toml").write_text(f'[database]\nurl = "{db_url}"\n')
    assert cli("customers", "list").exit_code == 2  # bare_env has no workspace
    assert len(cli("--config", str(ws / "hunter.toml"), "customers", "list", "--json").ok()) == 3
    assert len(cli("--config", str(ws), "plans", "list", "--json").ok()) == 4
    monkeypatch.setenv("HUNTER_CONFIG", str(ws / "hunter.toml"))
    assert len(cli("customers", "list", "--json").ok()) == 3


def test_a_relative_sqlite_url_works_from_a_subfolder(bare_env, cli, monkeypatch):
    (bare_env / "hunter.toml").write_text('[database]\nurl = "sqlite:///state/h.db"\n')
    assert cli("seed").exit_code == 0
    sub = bare_env / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    assert len(cli("customers", "list", "--json").ok()) == 3
    assert not (sub / "state").exists()


# --- a database that cannot be opened or written: exit 6 and one line, never a traceback ----


def test_a_read_only_sqlite_database_is_exit_6_naming_it(bare_env, cli, sqlite_template):
    """Regression: `attempt to write a readonly database` was a traceback and exit 1 (with
    --json an internal_error quoting the SQL)."""
    import shutil

    path = bare_env / "h.db"
    shutil.copyfile(sqlite_template, path)
    assert cli("--database-url", f"sqlite:///{path}", "seed").exit_code == 0
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    run = ("--database-url", read_only, "run", "discovery", "-c", "acme", "--query", "saas")
    line = cli(*run).one_line(6)
    assert f"{path} is read-only" in line and "writable" in line
    error = cli(*run, "--json").error(6)
    assert error["code"] == "database_unavailable"
    assert "INSERT" not in error["message"]


def test_a_file_that_is_not_a_database_is_exit_6(bare_env, cli):
    garbage = bare_env / "g.db"
    garbage.write_text("garbage\n" * 200)
    line = cli("--database-url", f"sqlite:///{garbage}", "credits", "show").one_line(6)
    assert f"{garbage} is not a database file" in line
    assert garbage.read_text() == "garbage\n" * 200


def test_an_unknown_postgresql_host_is_exit_6(bare_env, cli):
    url = "postgresql+psycopg://postgres@nohost.invalid:5432/x"
    line = cli("--database-url", url, "credits", "show").one_line(6)
    assert "nohost.invalid:5432" in line and "unknown host" in line
    error = cli("--database-url", url, "credits", "show", "--json").error(6)
    assert error["code"] == "database_unavailable"


def test_a_deleted_workspace_database_is_exit_6_not_an_empty_one(bare_env, cli):
    """Regression: after .hunter/hunter.db was deleted, `audit verify` said "Audit trail
    intact: 0 entries verified." (exit 0) on a new empty database; a cron check passed."""
    assert cli("init", ".").exit_code == 0
    assert cli("seed").exit_code == 0
    database = bare_env / ".hunter" / "hunter.db"
    for path in database.parent.glob("hunter.db*"):
        path.unlink()
    for command in (("audit", "verify"), ("credits", "show"), ("db", "current")):
        line = cli(*command).one_line(6)
        assert f"{database} does not exist: `hunter init` creates" in line
    assert cli("executions", "list", "--json").error(6)["code"] == "database_unavailable"
    assert not database.exists()
    elsewhere = bare_env / "no" / "dir" / "x.db"
    cli("--database-url", f"sqlite:///{elsewhere}", "credits", "show").one_line(6)
    assert not (bare_env / "no").exists()
    # The commands that set a database up still do.
    assert cli("seed").exit_code == 0
    assert "intact" in cli("audit", "verify").stdout


def test_an_empty_database_file_is_exit_6_not_a_new_database(bare_env, cli):
    """Regression: a 0-byte .hunter/hunter.db (a failed restore, a full disk, `: > file`) was
    silently given a fresh schema, and `audit verify` said "intact: 0 entries verified"."""
    assert cli("init", ".").exit_code == 0
    assert cli("seed").exit_code == 0
    database = bare_env / ".hunter" / "hunter.db"

    def empty_it() -> None:
        from hunter_cli.db.engine import dispose_all

        dispose_all()  # as each `hunter` process does when it ends
        for path in database.parent.glob("hunter.db-*"):
            path.unlink()
        database.write_bytes(b"")

    empty_it()
    for command in (("audit", "verify"), ("credits", "check"), ("db", "current")):
        line = cli(*command).one_line(6)
        assert f"{database} is an empty file (0 bytes): `hunter init` creates" in line
        assert "restore it from a backup" in line
    error = cli("executions", "list", "--json").error(6)
    assert error["code"] == "database_unavailable"
    assert database.stat().st_size == 0  # nothing was written to it
    # The commands that set a database up still may, and say what happened, on stderr.
    warning = f"{database} was an empty file (0 bytes): it now has a new, empty hunter schema"
    for command in (("seed", "--json"), ("db", "upgrade", "--json"), ("init", ".", "--json")):
        empty_it()
        result = cli(*command)
        assert result.exit_code == 0, result.stderr
        assert result.json()["status"] == "ok"
        assert warning in " ".join(result.stderr.split())
    assert "intact" in cli("audit", "verify").stdout
    # A file that was not there: created, and said so (init of a new workspace needs no note).
    database.unlink()
    result = cli("seed")
    assert result.exit_code == 0
    assert f"{database} did not exist: created it" in " ".join(result.stderr.split())


def test_a_mistyped_key_in_hunter_toml_is_a_warning_naming_the_known_ones(toml_ws, cli):
    """Regression: `defalt_customer` was ignored without a word (and no default customer)."""
    (toml_ws / "hunter.toml").write_text('[workspace]\ndefalt_customer = "acme"\n')
    assert cli("init", ".").exit_code == 0
    result = cli("db", "current", "--json")
    assert result.exit_code == 0
    assert result.json()["status"] == "ok"  # stdout stays one JSON document
    assert (
        "warning: " + str(toml_ws / "hunter.toml") + ": unknown key 'defalt_customer' in "
        "[workspace] (ignored); known: default_customer"
    ) in " ".join(result.stderr.split())
    (toml_ws / "hunter.toml").write_text('[workspace]\ndefault_customer = "acme"\n')
    assert cli("db", "current").stderr == ""


def test_a_missing_input_file_is_not_found_for_every_command(workspace, cli):
    """Regression: a file that does not exist was not_found (exit 3) for `run`, but a
    validation_error for `recipes validate` and a usage_error for `leads import`,
    `suppress import` and `--input-json` (all exit 2)."""
    assert cli("seed").exit_code == 0
    (workspace / "tiny.yaml").write_text(
        "slug: tiny\nname: Tiny\nversion: 1\ninputs: {type: object, properties: {}}\n"
        "steps:\n  - {id: a, type: state, set: {x: 1}}\n"
    )
    assert cli("recipes", "validate", "tiny.yaml").exit_code == 0
    missing = str(workspace / "nope")
    for command in (
        ("run", f"{missing}.yaml"),
        ("recipes", "validate", f"{missing}.yaml"),
        ("recipes", "validate", "tiny.yaml", f"{missing}.yaml"),
        ("leads", "import", f"{missing}.csv"),
        ("suppress", "import", f"{missing}.txt"),
        ("run", "discovery", "--input-json", f"{missing}.json"),
    ):
        assert missing in cli(*command).one_line(3), command
        assert cli(*command, "--json").error(3)["code"] == "not_found", command


def test_every_error_code_in_the_source_is_in_the_readme():
    """Regression: `outbox send --json` answered `channel_config_error` (exit 2), which the
    README's list of error codes did not have."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    start = readme.index("The error codes, each with its exit code:")
    documented = set(re.findall(r"`([a-z_]+)`", readme[start : readme.index("\n\n", start)]))
    source = "\n".join(
        path.read_text(encoding="utf-8") for path in sorted((root / "hunter_cli").rglob("*.py"))
    )
    # `code = "x"` (a class's, or `"partial" if ... else "delivery_failed"`), `"code": "x"`.
    pairs = re.findall(r'\bcode = "([a-z_]+)"(?: if [^\n]* else "([a-z_]+)")?', source)
    found = {code for pair in pairs for code in pair if code}
    found |= set(re.findall(r'"code": "([a-z_]+)"', source))
    # A base class no error is raised as: DatabaseUnavailableError and the schema errors are.
    found -= {"database_error"}
    assert {"channel_config_error", "failure", "interrupted", "delivery_failed"} <= found
    assert found - documented == set()


def test_text_the_database_refuses_is_bad_input_not_a_bug(workspace, seeded, db_url, cli):
    """Regression: a NUL that reached PostgreSQL (`leads import` did, before it checked)
    showed "internal error: this is a bug in hunter" with a traceback, and with --json the
    whole SQL statement and its parameters. Whatever command lets one through, it is bad
    input: one line, exit 2."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL refuses a NUL in text; SQLite stores it")
    line = cli("audit", "list", "--action", "leads.\x00import").one_line(2)
    assert "the input holds a NUL character (U+0000), which the database refuses" in line
    error = cli("audit", "list", "--action", "leads.\x00import", "--json").error(2)
    assert error["code"] == "validation_error"
    assert "SELECT" not in error["message"] and "NUL character" in error["message"]


def test_what_databases_refuse_in_text_is_recognised(db, db_url):
    """JSONB's \\u0000 (PostgreSQL) and a lone surrogate (every database) too."""
    from sqlalchemy import text

    from hunter_cli.cli.output import unstorable_text_error

    statements = [("SELECT :t", {"t": "a\ud800"}, "a lone surrogate")]
    if db_url.startswith("postgresql"):
        statements.append(("SELECT CAST(:j AS jsonb)", {"j": '{"a": "\\u0000"}'}, "NUL"))
    for statement, values, what in statements:
        with pytest.raises(Exception) as raised, db.session() as session:
            session.execute(text(statement), values)
        error = unstorable_text_error(raised.value)
        assert error is not None and what in error.message, raised.value
    assert unstorable_text_error(RuntimeError("boom")) is None


def test_a_row_another_command_inserted_first_is_bad_input_not_a_bug(seeded):
    """Regression: two `credits grant --idempotency-key K` (or two `customers add S`) at the
    same moment: the second passed the check, then hit the unique constraint and showed a
    traceback ("a bug in hunter"). It is the same mistake the check reports, said as such."""
    from sqlalchemy import select

    from hunter_cli.cli.output import concurrent_conflict_error
    from hunter_cli.db.models import Customer

    with seeded.session() as session:
        slug = session.scalars(select(Customer.slug)).first()
    with pytest.raises(Exception) as raised, seeded.session() as session:
        session.add(Customer(slug=slug, name="Other"))
        session.flush()
    error = concurrent_conflict_error(raised.value)
    assert error is not None, raised.value
    assert error.message == (
        "another command created the same customer with this slug at the same moment; run "
        "this command again to see what is there now"
    )
    assert concurrent_conflict_error(RuntimeError("boom")) is None
