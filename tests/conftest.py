"""Shared fixtures: a fresh database per test on SQLite and on PostgreSQL, a workspace, and
the real CLI through Typer's runner."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hunter_cli.config import normalise_database_url
from hunter_cli.db.engine import Database
from hunter_cli.db.migrate import upgrade

PG_ENV = "HUNTER_TEST_DATABASE_URL"
_counter = itertools.count()


def pg_server_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if url:
        return normalise_database_url(url)
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{PG_ENV} must be set in CI: the PostgreSQL cases may not skip there")
    return None


def _admin_engine(url: str):
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """One migrated SQLite file; each test gets a copy (much faster than migrating)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()  # closing the last connection checkpoints the WAL into the file we copy
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    server = pg_server_url()
    if server is None:
        yield None
        return
    name = f"hunter_tmpl_{os.getpid()}"
    admin = _admin_engine(server)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(make_url(server).set(database=name).render_as_string(hide_password=False))
    upgrade(db)
    db.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path, sqlite_template) -> Iterator[str]:
    """A migrated, empty database of its own for each test, on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "hunter.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    if template is None:
        pytest.skip(
            f"PostgreSQL case: set {PG_ENV} (e.g. postgresql://postgres@127.0.0.1/postgres)"
        )
    databases = request.getfixturevalue("pg_databases")
    name = databases.take()
    try:
        yield databases.url(name)
    finally:
        databases.drop_later(name)


class _PgDatabases:
    """Fresh databases made from the template: the next one is created in the background
    while a test runs, and a used one is dropped in the background, so tests wait for neither
    (CREATE and DROP DATABASE cost more than most tests)."""

    def __init__(self, server: str, template: str) -> None:
        self.server = server
        self.template = template
        self.admin = _admin_engine(server)
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-databases")
        self.next: Future[str] = self.worker.submit(self._create)

    def url(self, name: str) -> str:
        return make_url(self.server).set(database=name).render_as_string(hide_password=False)

    def _create(self) -> str:
        name = f"hunter_t_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        return name

    def _drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def take(self) -> str:
        name = self.next.result()
        self.next = self.worker.submit(self._create)
        return name

    def drop_later(self, name: str) -> None:
        self.worker.submit(self._drop, name)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.worker.submit(self._drop, self.next.result())
        self.worker.shutdown(wait=True)
        self.admin.dispose()


@pytest.fixture(scope="session")
def pg_databases(pg_template) -> Iterator[_PgDatabases]:
    server = pg_server_url()
    assert server is not None and pg_template is not None
    databases = _PgDatabases(server, pg_template)
    yield databases
    databases.close()  # before pg_template drops the template they are made from


@pytest.fixture
def db(db_url) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def seeded(db) -> Database:
    from hunter_cli.resources import bundled_dir, recipe_dirs
    from hunter_cli.seeding import apply_seed

    with db.session() as session:
        apply_seed(session, bundled_dir("seeds"), recipe_dirs(None), actor="tester")
    return db


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout)

    def ok(self) -> object:
        """Assert success and the {"status": "ok", "data": ...} envelope; return the data."""
        assert self.exit_code == 0, self.stdout + self.stderr
        document = self.json()
        assert set(document) == {"status", "data"}, document
        assert document["status"] == "ok"
        return document["data"]

    def error(self, exit_code: int) -> dict:
        """Assert a failure with this exit code and the error envelope; return the error."""
        assert self.exit_code == exit_code, self.stdout + self.stderr
        document = self.json()
        assert set(document) == {"status", "error"}, document
        assert document["status"] == "error"
        assert {"code", "message"} <= set(document["error"])
        return document["error"]

    def one_line(self, exit_code: int) -> str:
        """Assert a failure with this exit code told in one line on stderr; return the line."""
        assert self.exit_code == exit_code, self.stdout + self.stderr
        assert "Traceback" not in self.stderr + self.stdout
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, self.stderr
        assert lines[0].startswith("error: ")
        return lines[0]


@pytest.fixture
def workspace(tmp_path, db_url, monkeypatch) -> Path:
    """A folder with a hunter.toml whose database is this test's database."""
    folder = tmp_path / "ws"
    folder.mkdir()
    (folder / "hunter.toml").write_text('[workspace]\ndefault_customer = "acme"\n')
    # No real keys either: a developer's GROQ_API_KEY must not send tests to the real service.
    for name in (
        "HUNTER_CONFIG",
        "DATABASE_URL",
        "HUNTER_CUSTOMER",
        "HUNTER_ACTOR",
        "GROQ_API_KEY",
        "OPENAI_API_KEY",
        "HUNTER_API_KEY",
        "APOLLO_API_KEY",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "WEBHOOK_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HUNTER_DATABASE_URL", db_url)
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def cli():
    """Run the real `hunter` command in-process; returns exit code, stdout and stderr."""
    from typer.testing import CliRunner

    from hunter_cli.cli.main import app

    runner = CliRunner()

    def invoke(*args: str, input: str | bytes | None = None) -> CliResult:
        result = runner.invoke(app, list(args), input=input, catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return invoke


# --- building blocks for ledger and audit tests ---------------------------------------------


@pytest.fixture
def make_customer():
    """A customer of its own on a plan of its own (no allowance unless asked), holding exactly
    `credits`: the ledger tests then know every number without reading the seeds."""
    from datetime import timedelta

    from hunter_cli import ledger
    from hunter_cli.db.models import Customer, Subscription, SubscriptionPlan
    from hunter_cli.db.types import to_credits, utcnow

    def make(
        db: Database,
        slug: str,
        credits: str | int = 0,
        *,
        monthly: str | int = 0,
        rollover: bool = False,
    ) -> uuid.UUID:
        with db.session() as session:
            plan = SubscriptionPlan(
                slug=f"plan-{slug}",
                name=f"Plan {slug}",
                monthly_credits=to_credits(monthly),
                price=to_credits(0),
                rollover=rollover,
            )
            customer = Customer(slug=slug, name=slug.title())
            session.add_all([plan, customer])
            session.flush()
            now = utcnow()
            session.add(
                Subscription(
                    customer_id=customer.id,
                    plan_id=plan.id,
                    status="active",
                    period_start=now - timedelta(days=1),
                    period_end=now + timedelta(days=29),
                )
            )
            session.flush()
            if to_credits(credits) > 0:
                ledger.grant_credits(session, customer, credits, reason="test", actor="tester")
            return customer.id

    return make


@pytest.fixture
def make_execution():
    """An execution row for a customer (credit transactions point at one)."""
    from hunter_cli.db.models import Execution

    def make(db: Database, customer_id: uuid.UUID) -> uuid.UUID:
        with db.session() as session:
            execution = Execution(customer_id=customer_id, recipe_slug="test")
            session.add(execution)
            session.flush()
            return execution.id

    return make


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    """A PostgreSQL database with no schema at all (what `hunter db upgrade` starts from)."""
    server = pg_server_url()
    if server is None:
        pytest.skip(f"PostgreSQL case: set {PG_ENV}")
    name = f"hunter_e_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    admin = _admin_engine(server)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def bare_env(tmp_path, monkeypatch) -> Path:
    """A folder outside any workspace, with none of hunter's variables set."""
    from hunter_cli.config import find_config

    folder = tmp_path / "bare"
    folder.mkdir()
    if find_config(folder) is not None:
        pytest.skip(f"a hunter.toml above {folder} would be found")
    for name in (
        "HUNTER_CONFIG",
        "HUNTER_DATABASE_URL",
        "DATABASE_URL",
        "HUNTER_CUSTOMER",
        "HUNTER_ACTOR",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(folder)
    return folder
