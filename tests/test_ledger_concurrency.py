"""The ledger under concurrency: real OS processes, each with its own Database, started
together; and two sessions racing for the same hold."""

from __future__ import annotations

import multiprocessing
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from hunter_cli import ledger
from hunter_cli.audit import verify_chain
from hunter_cli.db.engine import Database
from hunter_cli.db.models import AuditLog, CreditTransaction, Customer, Subscription
from hunter_cli.errors import HunterError, InsufficientCreditsError
from tests.processes import START_TIMEOUT, start_together

WORKERS = 20
FITS = 10
AMOUNT = Decimal("1.2345")

# forkserver: each worker is a fresh process (no inherited connections or locks), forked
# from a server that has already imported SQLAlchemy and the models, so 20 start quickly.
_CTX = multiprocessing.get_context("forkserver")
_CTX.set_forkserver_preload(["hunter_cli.ledger", "hunter_cli.db.engine", "psycopg"])


def _worker(url: str, op: str, args: dict, barrier, results) -> None:
    """One process: connect, wait at the start line, then do one ledger operation."""
    db = Database(url)
    try:
        with db.engine.connect() as conn:  # connect before the start line, not after it
            conn.execute(text("SELECT 1"))
            conn.rollback()
        barrier.wait(timeout=START_TIMEOUT)
        with db.session() as session:
            customer = session.get(Customer, args["customer_id"])
            if op == "reserve":
                tx = ledger.reserve_credits(
                    session,
                    customer,
                    args["amount"],
                    execution_id=args.get("execution_id"),
                    actor=args["actor"],
                    idempotency_key=args.get("key"),
                )
            else:
                tx = ledger.grant_credits(
                    session,
                    customer,
                    args["amount"],
                    reason="concurrent grant",
                    actor=args["actor"],
                    idempotency_key=args.get("key"),
                )
            outcome = ("ok", str(tx.id))
    except InsufficientCreditsError:
        outcome = ("insufficient", None)
    except BaseException as exc:  # reported to the parent, which fails the test with it
        outcome = ("error", f"{type(exc).__name__}: {exc}")
    finally:
        db.dispose()
    results.put(outcome)


def _run_together(url: str, jobs: list[tuple[str, dict]]) -> list[tuple[str, str | None]]:
    return start_together(_CTX, _worker, [(url, op, args) for op, args in jobs])


def _counts(session) -> dict[str, int]:
    rows = session.execute(
        select(CreditTransaction.kind, func.count()).group_by(CreditTransaction.kind)
    ).all()
    return dict(rows)


def test_twenty_processes_reserving_where_ten_fit(db, db_url, make_customer, make_execution):
    cid = make_customer(db, "crowd", AMOUNT * FITS)
    executions = [make_execution(db, cid) for _ in range(WORKERS)]
    jobs = [
        (
            "reserve",
            {"customer_id": cid, "amount": AMOUNT, "execution_id": ex, "actor": f"w{i}"},
        )
        for i, ex in enumerate(executions)
    ]

    outcomes = _run_together(db_url, jobs)

    errors = [detail for status, detail in outcomes if status == "error"]
    assert errors == []
    assert sum(status == "ok" for status, _ in outcomes) == FITS
    assert sum(status == "insufficient" for status, _ in outcomes) == WORKERS - FITS
    with db.session() as session:
        sub = session.scalars(select(Subscription).where(Subscription.customer_id == cid)).one()
        assert sub.credits_held == AMOUNT * FITS
        assert sub.credits_available == Decimal("0.0000")
        assert sub.credits_used == 0
        assert _counts(session) == {"grant": 1, "reserve": FITS}
        # Each success saw a different balance: they really queued one after another.
        after = session.scalars(
            select(CreditTransaction.balance_after).where(CreditTransaction.kind == "reserve")
        ).all()
        assert sorted(after) == [AMOUNT * n for n in range(FITS)]
        assert ledger.check_ledger(session) == []
        # Audit appends under concurrency did not fork the chain.
        seqs = session.scalars(select(AuditLog.seq).order_by(AuditLog.seq)).all()
        assert seqs == list(range(1, FITS + 2))
        result = verify_chain(session)
        assert result.ok, result.problem
        assert result.checked == FITS + 1


def test_concurrent_retries_with_one_idempotency_key_have_one_effect(
    db, db_url, make_customer, make_execution
):
    cid = make_customer(db, "retry", "10")
    ex = make_execution(db, cid)
    reserve = {"customer_id": cid, "amount": "3", "execution_id": ex, "key": "run-1:reserve"}
    grant = {"customer_id": cid, "amount": "5", "key": "topup-1"}
    jobs = [("reserve", {**reserve, "actor": f"r{i}"}) for i in range(4)]
    jobs += [("grant", {**grant, "actor": f"g{i}"}) for i in range(4)]

    outcomes = _run_together(db_url, jobs)

    assert [status for status, _ in outcomes] == ["ok"] * len(jobs)
    assert len({tx_id for _, tx_id in outcomes}) == 2  # every retry got the one transaction
    with db.session() as session:
        sub = session.scalars(select(Subscription).where(Subscription.customer_id == cid)).one()
        assert (sub.credits_granted, sub.credits_held) == (Decimal("15"), Decimal("3"))
        assert _counts(session) == {"grant": 2, "reserve": 1}
        assert ledger.check_ledger(session) == []
        assert verify_chain(session).ok


def _race(db: Database, operation) -> object:
    """Run `operation` in a session that stays open while a second session runs it too, then
    commit the first. Returns what the second got (a result or the exception)."""
    second: dict[str, object] = {}

    def other() -> None:
        try:
            with db.session() as session:
                second["result"] = operation(session)
        except Exception as exc:
            second["result"] = exc

    with db.session() as session:
        operation(session)
        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.5)  # long enough for the second to read and queue behind our lock
    thread.join(timeout=60)
    assert not thread.is_alive()
    return second["result"]


def test_racing_captures_of_one_hold_spend_it_once(db, make_customer, make_execution):
    """Regression: on PostgreSQL the second capture summed the hold before it got the lock,
    so it captured and released the hold again (held went to -10)."""
    cid = make_customer(db, "race", "10")
    ex = make_execution(db, cid)
    with db.session() as session:
        ledger.reserve_credits(
            session, session.get(Customer, cid), "10", execution_id=ex, actor="t"
        )

    second = _race(db, lambda s: ledger.capture_credits(s, ex, "3", actor="t"))

    assert isinstance(second, HunterError) and "only 0.0000 are held" in second.message
    with db.session() as session:
        sub = session.scalars(select(Subscription).where(Subscription.customer_id == cid)).one()
        assert (sub.credits_used, sub.credits_held) == (Decimal("3"), 0)
        assert ledger.check_ledger(session) == []


@pytest.mark.parametrize("operation", ["capture", "release"])
def test_racing_retries_with_one_key_have_one_effect(db, make_customer, make_execution, operation):
    """Regression: on PostgreSQL a retry with the same key that raced the first call failed
    with a raw unique-constraint error instead of returning the first call's transaction."""
    cid = make_customer(db, "race", "10")
    ex = make_execution(db, cid)
    with db.session() as session:
        ledger.reserve_credits(
            session, session.get(Customer, cid), "10", execution_id=ex, actor="t"
        )

    def capture(session):
        return ledger.capture_credits(session, ex, "3", actor="t", idempotency_key="k")[0]

    def release(session):
        return ledger.release_credits(session, ex, actor="t", idempotency_key="k")

    second = _race(db, capture if operation == "capture" else release)

    assert isinstance(second, ledger.LedgerEntry), second
    assert second.idempotency_key == "k"
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(CreditTransaction)) == (
            4 if operation == "capture" else 3
        )
        sub = session.scalars(select(Subscription).where(Subscription.customer_id == cid)).one()
        assert sub.credits_held == 0
        assert ledger.check_ledger(session) == []
        assert verify_chain(session).ok


def _appender(url: str, worker: int, entries: int, barrier, results) -> None:
    """One process: append `entries` audit entries, each in its own transaction."""
    from hunter_cli.audit import append_audit

    db = Database(url)
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            conn.rollback()
        barrier.wait(timeout=START_TIMEOUT)
        for n in range(entries):
            with db.session() as session:
                append_audit(session, "test.append", actor=f"w{worker}", details={"n": n})
        outcome: tuple[str, str | None] = ("ok", None)
    except BaseException as exc:
        outcome = ("error", f"{type(exc).__name__}: {exc}")
    finally:
        db.dispose()
    results.put(outcome)


def test_processes_appending_at_once_keep_one_unbroken_chain(db, db_url):
    """Nothing else serialises these appends (no shared row lock, unlike a hold): only the
    audit's own append lock, and the tail read taken after it, keep the chain from forking."""
    workers, entries = 8, 25
    outcomes = start_together(_CTX, _appender, [(db_url, w, entries) for w in range(workers)])
    assert outcomes == [("ok", None)] * workers, outcomes
    with db.session() as session:
        seqs = session.scalars(select(AuditLog.seq).order_by(AuditLog.seq)).all()
        appended = [s for s in seqs if s]  # the seed's entries come first
        assert len(appended) == len(set(appended))
        result = verify_chain(session)
        assert result.ok, result.problem
        count = session.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == "test.append")
        )
        assert count == workers * entries
