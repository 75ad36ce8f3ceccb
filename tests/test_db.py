"""Engines, migrations and the schema check every command goes through."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import inspect, text

from hunter_cli.db.engine import (
    Database,
    create_db_engine,
    current_revision,
    describe_url,
    head_revision,
    open_database,
)
from hunter_cli.db.migrate import upgrade
from hunter_cli.errors import (
    DatabaseUnavailableError,
    SchemaAheadError,
    SchemaBehindError,
    UsageError,
)

UNREACHABLE = "postgresql+psycopg://u:s3cretpw@127.0.0.1:1/x"


def test_the_test_database_is_at_head(db):
    assert current_revision(db) == head_revision()
    tables = set(inspect(db.engine).get_table_names())
    assert {
        "customers",
        "agents",
        "subscription_plans",
        "subscriptions",
        "recipes",
        "executions",
        "credit_transactions",
        "audit_logs",
    } <= tables


def test_upgrade_at_head_is_a_no_op(db):
    assert upgrade(db) == (head_revision(), head_revision())


def test_a_new_sqlite_file_is_upgraded_on_first_use(tmp_path):
    url = f"sqlite:///{tmp_path}/nested/dir/new.db"
    db = open_database(url, create=True)
    try:
        assert current_revision(db) == head_revision()
        assert (tmp_path / "nested" / "dir" / "new.db").is_file()
    finally:
        db.dispose()


def test_an_existing_sqlite_workspace_with_runs_upgrades(tmp_path):
    """Regression: migration 0007 rebuilt `executions` in batch mode, and SQLite refused to
    drop the old table under the outbox's and ledger's foreign keys to it: every command of
    a workspace that had runs crashed with a traceback."""
    db = Database(f"sqlite:///{tmp_path}/old.db")
    try:
        upgrade(db, "0006")
        customer, execution = uuid.uuid4().hex, uuid.uuid4().hex
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO customers (id, slug, name, settings, created_at) "
                    "VALUES (:id, 'acme', 'Acme', '{}', '2026-11-01 00:00:00')"
                ),
                {"id": customer},
            )
            conn.execute(
                text(
                    "INSERT INTO executions (id, customer_id, recipe_slug, status, inputs, "
                    "steps, warnings, credits_reserved, credits_used, created_at) VALUES "
                    "(:id, :c, 'discovery', 'success', '{}', '[]', '[]', 0, 0, "
                    "'2026-11-01 00:00:00')"
                ),
                {"id": execution, "c": customer},
            )
            conn.execute(
                text(
                    "INSERT INTO outbox_messages (id, customer_id, execution_id, step_id, "
                    "channel, recipient, message_key, status, payload, created_at) VALUES "
                    "(:id, :c, :e, 'send', 'email', 'a@b.example', 'k', 'sent', '{}', "
                    "'2026-11-01 00:00:00')"
                ),
                {"id": uuid.uuid4().hex, "c": customer, "e": execution},
            )
        assert upgrade(db) == ("0006", head_revision())
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT send FROM executions")).scalar_one() is None
            assert conn.execute(text("SELECT count(*) FROM outbox_messages")).scalar_one() == 1
    finally:
        db.dispose()


def test_a_missing_sqlite_file_is_refused_unless_asked_to_create_it(tmp_path):
    """Regression: a deleted database came back empty, and `audit verify` passed on it."""
    url = f"sqlite:///{tmp_path}/nested/dir/new.db"
    with pytest.raises(DatabaseUnavailableError, match="new.db does not exist: `hunter init`"):
        open_database(url)
    assert not (tmp_path / "nested").exists()


def test_an_empty_sqlite_file_is_refused_unless_asked_to_create_it(tmp_path):
    """Regression: a 0-byte file (a failed restore) passed for a new database."""
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    url = f"sqlite:///{path}"
    with pytest.raises(DatabaseUnavailableError, match="empty.db is an empty file .0 bytes."):
        open_database(url)
    assert path.stat().st_size == 0
    db = open_database(url, create=True)
    try:
        assert db.new_file == "empty"
        assert current_revision(db) == head_revision()
    finally:
        db.dispose()
    again = open_database(url)
    assert again.new_file is None
    again.dispose()


def test_an_empty_postgresql_database_must_be_upgraded_by_the_user(empty_pg_url):
    with pytest.raises(SchemaBehindError, match="no hunter schema yet: run `hunter db upgrade`"):
        open_database(empty_pg_url)
    db = Database(empty_pg_url)
    try:
        assert current_revision(db) is None
        assert upgrade(db) == (None, head_revision())
        open_database(empty_pg_url).dispose()
    finally:
        db.dispose()


def test_a_postgresql_schema_behind_names_both_revisions(empty_pg_url):
    db = Database(empty_pg_url)
    try:
        upgrade(db, "0001")
        with pytest.raises(SchemaBehindError) as raised:
            open_database(empty_pg_url)
        assert "at revision 0001" in raised.value.message
        assert head_revision() in raised.value.message
        assert raised.value.exit_code == 6
    finally:
        db.dispose()


def test_a_schema_newer_than_this_hunter_is_refused_not_migrated(db):
    """Regression: Alembic's "Can't locate revision" reached the user as a bug."""
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    for attempt in (lambda: open_database(db.url), lambda: upgrade(db)):
        with pytest.raises(SchemaAheadError, match=r"revision 9999\) is newer than this hunter"):
            attempt()
    assert current_revision(db) == "9999"


def test_unreachable_database_names_host_and_port_but_not_the_password():
    with pytest.raises(DatabaseUnavailableError) as raised:
        open_database(UNREACHABLE)
    message = raised.value.message
    assert "127.0.0.1:1" in message
    assert "s3cretpw" not in message
    assert raised.value.exit_code == 6


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (UNREACHABLE, "PostgreSQL at 127.0.0.1:1 (database 'x')"),
        ("postgresql+psycopg://u:pw@db/hunter", "PostgreSQL at db:5432 (database 'hunter')"),
        ("sqlite:////tmp/h.db", "SQLite database /tmp/h.db"),
        ("sqlite://", "SQLite database :memory:"),
        ("not a url", "the configured database"),
    ],
)
def test_describe_url_never_shows_a_password(url, expected):
    assert describe_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [("nonsense", "not a database URL"), ("mysql://u@h/d", "unsupported database 'mysql'")],
)
def test_unusable_urls_are_usage_errors(url, message):
    with pytest.raises(UsageError, match=message):
        create_db_engine(url)


def test_money_is_exact_on_both_backends(db):
    """SQLite's NUMERIC is a float, so credits are stored there as integer ten-thousandths."""
    from hunter_cli.db.models import SubscriptionPlan

    with db.session() as session:
        session.add(
            SubscriptionPlan(
                slug="p", name="P", monthly_credits=Decimal("0.1") * 3, price=Decimal("12.3456")
            )
        )
    with db.session() as session:
        plan = session.query(SubscriptionPlan).one()
        assert (plan.monthly_credits, plan.price) == (Decimal("0.3"), Decimal("12.3456"))
        raw = session.execute(text("SELECT price FROM subscription_plans")).scalar_one()
    assert raw == (123456 if db.backend == "sqlite" else Decimal("12.3456"))


def test_timestamps_come_back_in_utc(db):
    from hunter_cli.db.models import Customer

    with db.session() as session:
        session.add(Customer(slug="c", name="C"))
    with db.session() as session:
        created = session.query(Customer).one().created_at
    assert created.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds: still written out
        datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2026, 1, 2, 3, 4, 5, 8),  # naive: taken as UTC
        datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_timestamps_are_stored_in_sqlalchemys_sqlite_format(value):
    """UTCDateTime writes SQLite's text itself; it must be SQLAlchemy's own storage format
    (what its DATETIME writes and reads), or ordering and comparisons in SQL would break."""
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.dialects.sqlite import DATETIME

    from hunter_cli.db.types import UTCDateTime

    dialect = sqlite.dialect()
    ours = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    theirs = DATETIME().bind_processor(dialect)
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    expected = theirs(utc.replace(tzinfo=None))
    assert ours(value) == expected
    assert ours(None) is None
    back = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)(expected)
    assert back == utc


def test_head_revision_matches_alembic():
    """hunter reads the head from the version files to start fast; it must agree."""
    from alembic.script import ScriptDirectory

    from hunter_cli.db.engine import MIGRATIONS_DIR, head_revision

    assert head_revision() == ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def test_the_migrations_build_exactly_the_schema_of_the_models(db):
    """Alembic's autogenerate finds nothing to change: models.py and the migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from hunter_cli.db.models import Base

    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
