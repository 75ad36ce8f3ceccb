"""Bookkeeping statements run on the driver's cursor (hunter_cli/db/prepared.py): the same
values, the same transaction and the same exceptions as through SQLAlchemy."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import bindparam, exc, insert, select, update

from hunter_cli.db.models import CreditTransaction, Customer, Execution, table_of
from hunter_cli.db.prepared import Prepared

EXECUTIONS = table_of(Execution)
INSERT = Prepared(
    insert(EXECUTIONS),
    columns=(
        "id",
        "customer_id",
        "recipe_slug",
        "status",
        "inputs",
        "steps",
        "warnings",
        "credits_reserved",
        "credits_used",
        "send",
        "created_at",
        "started_at",
    ),
)
READ = Prepared(
    select(
        EXECUTIONS.c.id,
        EXECUTIONS.c.customer_id,
        EXECUTIONS.c.inputs,
        EXECUTIONS.c.steps,
        EXECUTIONS.c.credits_reserved,
        EXECUTIONS.c.started_at,
        EXECUTIONS.c.finished_at,
    ).where(EXECUTIONS.c.id == bindparam("eid"))
)
FINISH = Prepared(
    update(EXECUTIONS)
    .where(EXECUTIONS.c.id == bindparam("eid"))
    .values(status=bindparam("status"), credits_used=bindparam("used"))
)


def _execution(customer_id: uuid.UUID, execution_id: uuid.UUID) -> dict:
    moment = datetime(2026, 11, 25, 23, 59, 58, 123456, tzinfo=UTC)
    return {
        "id": execution_id,
        "customer_id": customer_id,
        "recipe_slug": "bench",
        "status": "running",
        "inputs": {"query": "SaaS", "nested": [1, 2.5, None, {"a": "é"}]},
        "steps": [],
        "warnings": [],
        "credits_reserved": Decimal("0.0300"),
        "credits_used": Decimal(0),
        "send": False,
        "created_at": moment,
        "started_at": moment,
    }


def test_values_round_trip_as_through_the_orm(db, make_customer):
    customer_id = make_customer(db, "acme")
    execution_id = uuid.uuid4()
    with db.session() as session:
        INSERT.execute(session, _execution(customer_id, execution_id))
        row = READ.first(session, {"eid": execution_id})
        assert row is not None
        assert row[0] == execution_id and row[1] == customer_id
        assert row[2] == {"query": "SaaS", "nested": [1, 2.5, None, {"a": "é"}]}
        assert row[3] == []
        assert row[4] == Decimal("0.0300")
        assert row[5] == datetime(2026, 11, 25, 23, 59, 58, 123456, tzinfo=UTC)
        assert row[6] is None
        assert FINISH.execute(session, {"eid": execution_id, "status": "success", "used": "0.02"})
    with db.session() as session:  # committed, and what the ORM reads back is the same
        stored = session.get(Execution, execution_id)
        assert stored is not None
        assert stored.status == "success"
        assert stored.credits_used == Decimal("0.0200")
        assert stored.inputs["nested"][3] == {"a": "é"}
        assert stored.started_at == datetime(2026, 11, 25, 23, 59, 58, 123456, tzinfo=UTC)


def test_writes_roll_back_with_the_session_transaction(db, make_customer):
    customer_id = make_customer(db, "acme")
    execution_id = uuid.uuid4()
    with pytest.raises(RuntimeError), db.session() as session:
        INSERT.execute(session, _execution(customer_id, execution_id))
        raise RuntimeError("the phase failed")
    with db.session() as session:
        assert session.get(Execution, execution_id) is None


def test_driver_errors_are_sqlalchemy_exceptions(db, make_customer):
    customer_id = make_customer(db, "acme")
    execution_id = uuid.uuid4()
    with pytest.raises(exc.IntegrityError), db.session() as session:
        INSERT.execute(session, _execution(customer_id, execution_id))
        INSERT.execute(session, _execution(customer_id, execution_id))  # same primary key


def test_a_missing_value_is_refused_before_the_database_sees_it(db):
    missing = pytest.raises(exc.ArgumentError, match="no value for bound parameter 'eid'")
    with missing, db.session() as session:
        READ.first(session, {})


def test_literal_values_of_the_statement_are_kept(db, make_customer):
    """LIMIT 1 and a literal in a WHERE clause are bound by the statement itself."""
    make_customer(db, "acme")
    customers = table_of(Customer)
    by_slug = Prepared(select(customers.c.slug).where(customers.c.slug == "acme").limit(1))
    with db.session() as session:
        assert by_slug.execute(session).all() == [("acme",)]
    none_yet = Prepared(select(table_of(CreditTransaction).c.id).limit(1))
    with db.session() as session:
        assert none_yet.first(session) is None


def test_a_savepoint_that_rolls_back_takes_its_writes_with_it(db, make_customer):
    customer_id = make_customer(db, "acme")
    kept, undone = uuid.uuid4(), uuid.uuid4()
    with db.session() as session:
        INSERT.execute(session, _execution(customer_id, kept))
        with pytest.raises(RuntimeError), session.begin_nested():
            INSERT.execute(session, _execution(customer_id, undone))
            raise RuntimeError("the step failed")
        assert READ.first(session, {"eid": undone}) is None
    with db.session() as session:
        assert session.get(Execution, kept) is not None
        assert session.get(Execution, undone) is None


def test_statements_are_logged_where_sqlalchemy_logs_its_own(db, make_customer, caplog):
    customer_id = make_customer(db, "acme")
    with caplog.at_level(logging.INFO, logger="sqlalchemy.engine.Engine"), db.session() as s:
        INSERT.execute(s, _execution(customer_id, uuid.uuid4()))
    logged = [r.getMessage() for r in caplog.records if "[prepared]" in r.getMessage()]
    assert len(logged) == 1 and logged[0].startswith("INSERT INTO executions")
