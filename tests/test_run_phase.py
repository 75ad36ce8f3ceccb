"""A run's phases (Database.run_session and run_phase): each one transaction on the run's
connection, with the session joining it only when something uses the session."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import insert, select

from hunter_cli.audit import append_audit, verify_chain
from hunter_cli.db.engine import Database, run_phase
from hunter_cli.db.models import AuditLog, Customer


def _actions(db) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(AuditLog.action).order_by(AuditLog.seq)))


def test_phases_that_never_touch_the_orm_commit_and_chain(db):
    """Appends alone (prepared statements on the connection) in several phases: each phase
    reads the tail afresh, so the chain stays whole."""
    with db.run_session() as session:
        for n in range(3):
            with run_phase(session):
                append_audit(session, f"test.{n}a", actor="t")
                append_audit(session, f"test.{n}b", actor="t")
            assert not session.in_transaction()
    assert _actions(db) == ["test.0a", "test.0b", "test.1a", "test.1b", "test.2a", "test.2b"]
    with db.session() as session:
        assert verify_chain(session).ok


def test_orm_work_and_appends_commit_together(db):
    with db.run_session() as session, run_phase(session):
        session.add(Customer(slug="acme", name="Acme"))
        append_audit(session, "customer.add", actor="t")
    with db.session() as session:
        assert session.scalars(select(Customer.slug)).all() == ["acme"]
    assert _actions(db) == ["customer.add"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_error_rolls_back_the_orm_work_and_the_appends(db, error):
    with db.run_session() as session:
        with pytest.raises(error), run_phase(session):
            session.add(Customer(slug="acme", name="Acme"))
            append_audit(session, "customer.add", actor="t")
            raise error()
        with run_phase(session):  # the run goes on after a failed phase
            append_audit(session, "after", actor="t")
    with db.session() as session:
        assert session.scalars(select(Customer.slug)).all() == []
    assert _actions(db) == ["after"]


def test_a_phase_reads_afresh_what_an_earlier_phase_loaded(db):
    with db.session() as session:
        session.add(Customer(slug="acme", name="Acme"))
    with db.run_session() as session:
        with run_phase(session):
            loaded = session.scalars(select(Customer)).one()
            assert loaded.name == "Acme"
        with db.session() as other:  # another process renames it between the phases
            other.scalars(select(Customer)).one().name = "Acme Ltd"
        with run_phase(session):
            assert session.scalars(select(Customer)).one().name == "Acme Ltd"


def test_appends_first_then_orm_work_commit_together(db):
    """The phase's transaction begun by a prepared statement, then joined by the session."""
    with db.run_session() as session:
        with run_phase(session):
            append_audit(session, "first", actor="t")
            session.add(Customer(slug="acme", name="Acme"))
            session.flush()
            append_audit(session, "second", actor="t")
        with pytest.raises(RuntimeError), run_phase(session):
            append_audit(session, "undone", actor="t")
            session.add(Customer(slug="beta", name="Beta"))
            session.flush()
            raise RuntimeError("the step failed")
    with db.session() as session:
        assert session.scalars(select(Customer.slug)).all() == ["acme"]
    assert _actions(db) == ["first", "second"]


def test_a_phase_holds_no_lock_until_it_writes(db):
    """A step that waits on the network must not keep other processes from writing: on
    SQLite the phase's BEGIN IMMEDIATE (the only write lock) waits for its first statement."""
    with db.run_session() as session, run_phase(session):
        assert not session.bind.in_transaction()
        other = Database(db.url)
        try:
            with other.engine.connect() as conn:
                if other.backend == "sqlite":
                    # Fail fast, not in 60 s (on the driver: no transaction begins for it).
                    conn.connection.driver_connection.execute("PRAGMA busy_timeout=1000")
                with conn.begin():
                    conn.execute(insert(Customer).values(id=uuid.uuid4(), slug="x", name="X"))
        finally:
            other.dispose()
        append_audit(session, "after", actor="t")
    assert _actions(db) == ["after"]
