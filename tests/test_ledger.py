"""The credits ledger: two-phase payment, idempotency keys, exact decimals, period renewal."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from hunter_cli import ledger
from hunter_cli.audit import verify_chain
from hunter_cli.db.models import AuditLog, CreditTransaction, Customer, Subscription
from hunter_cli.db.types import utcnow
from hunter_cli.errors import (
    HunterError,
    InsufficientCreditsError,
    NotFoundError,
    ValidationError,
)


def _customer(session, customer_id: uuid.UUID) -> Customer:
    customer = session.get(Customer, customer_id)
    assert customer is not None
    return customer


def _sub(session, customer_id: uuid.UUID) -> Subscription:
    return session.scalars(
        select(Subscription).where(Subscription.customer_id == customer_id)
    ).one()


def _rows(db) -> tuple[int, int]:
    with db.session() as session:
        return (
            session.scalar(select(func.count()).select_from(CreditTransaction)),
            session.scalar(select(func.count()).select_from(AuditLog)),
        )


def _balance(db, customer_id) -> ledger.Balance:
    with db.session() as session:
        return ledger.balance_of(_sub(session, customer_id))


def _assert_consistent(db) -> None:
    with db.session() as session:
        assert ledger.check_ledger(session) == []
        assert verify_chain(session).ok


def _reserve(db, customer_id, amount, execution_id, key=None, *, new_key=False):
    with db.session() as session:
        return ledger.reserve_credits(
            session,
            _customer(session, customer_id),
            amount,
            execution_id=execution_id,
            actor="tester",
            idempotency_key=key,
            new_key=new_key,
        )


# --- two phases: reserve, then capture what was used and release the rest -------------------


def test_capture_less_than_held_releases_the_rest_exactly(db, make_customer, make_execution):
    cid = make_customer(db, "pay", "10")
    ex = make_execution(db, cid)
    hold = _reserve(db, cid, "5", ex)
    assert hold.kind == "reserve"
    assert hold.amount == Decimal("5.0000")
    assert hold.balance_after == Decimal("5.0000")
    assert _balance(db, cid).held == Decimal("5")

    with db.session() as session:
        capture, release = ledger.capture_credits(session, ex, "1.2345", actor="tester")
        assert capture is not None and release is not None
        assert (capture.kind, capture.amount) == ("capture", Decimal("1.2345"))
        assert (release.kind, release.amount) == ("release", Decimal("3.7655"))
        assert release.balance_after == Decimal("8.7655")

    balance = _balance(db, cid)
    assert (balance.granted, balance.used, balance.held, balance.available) == (
        Decimal("10"),
        Decimal("1.2345"),
        Decimal("0"),
        Decimal("8.7655"),
    )
    with db.session() as session:
        kinds = [tx.kind for tx in ledger.history(session, _customer(session, cid))]
        assert sorted(kinds) == ["capture", "grant", "release", "reserve"]
        actions = session.scalars(select(AuditLog.action).order_by(AuditLog.seq)).all()
        assert actions == ["credits.grant", "credits.reserve", "credits.capture", "credits.release"]
    _assert_consistent(db)


def test_an_orm_copy_of_the_subscription_follows_core_holds_and_captures(
    db, make_customer, make_execution
):
    """Holds and captures write the balance with Core statements; a Subscription the same
    session already loaded must show the new figures (nothing is flushed back over them)."""
    cid = make_customer(db, "pay", "10")
    ex = make_execution(db, cid)
    with db.session() as session:
        sub = _sub(session, cid)
        assert sub.credits_held == 0
        ledger.reserve_credits(session, _customer(session, cid), "3", execution_id=ex, actor="t")
        assert (sub.credits_held, sub.credits_available) == (Decimal("3"), Decimal("7"))
        ledger.capture_credits(session, ex, "1", actor="t")
        assert (sub.credits_held, sub.credits_used) == (Decimal("0"), Decimal("1"))
        assert not session.dirty
    balance = _balance(db, cid)
    assert (balance.held, balance.used, balance.available) == (0, Decimal("1"), Decimal("9"))
    _assert_consistent(db)


def test_capture_of_everything_held_releases_nothing(db, make_customer, make_execution):
    cid = make_customer(db, "pay", "10")
    ex = make_execution(db, cid)
    _reserve(db, cid, "4", ex)
    with db.session() as session:
        capture, release = ledger.capture_credits(session, ex, "4", actor="tester")
    assert capture is not None and release is None
    assert _balance(db, cid).used == Decimal("4")
    _assert_consistent(db)


def test_release_on_failure_returns_the_whole_hold(db, make_customer, make_execution):
    cid = make_customer(db, "pay", "10")
    ex = make_execution(db, cid)
    _reserve(db, cid, "3", ex)
    _reserve(db, cid, "2", ex)
    with db.session() as session:
        release = ledger.release_credits(session, ex, actor="tester", reason="run failed")
        assert release is not None and release.amount == Decimal("5")
    balance = _balance(db, cid)
    assert (balance.held, balance.used, balance.available) == (0, 0, Decimal("10"))
    with db.session() as session:
        # Nothing left to release: a second release is a no-op, not a negative hold.
        assert ledger.release_credits(session, ex, actor="tester") is None
    assert _balance(db, cid).held == 0
    _assert_consistent(db)


def test_capture_more_than_held_is_refused_and_changes_nothing(db, make_customer, make_execution):
    cid = make_customer(db, "pay", "10")
    ex = make_execution(db, cid)
    _reserve(db, cid, "2", ex)
    before = _rows(db)
    with pytest.raises(HunterError, match="only 2.0000 are held"), db.session() as session:
        ledger.capture_credits(session, ex, "2.0001", actor="tester")
    assert _rows(db) == before
    assert _balance(db, cid).held == Decimal("2")

    with db.session() as session:
        ledger.capture_credits(session, ex, "2", actor="tester")
    with pytest.raises(HunterError, match="only 0.0000 are held"), db.session() as session:
        ledger.capture_credits(session, ex, "0.01", actor="tester")
    _assert_consistent(db)


def test_capture_for_an_execution_without_a_hold_is_not_found(db, make_customer, make_execution):
    cid = make_customer(db, "pay", "10")
    ex = make_execution(db, cid)
    with pytest.raises(NotFoundError, match="holds no credits"), db.session() as session:
        ledger.capture_credits(session, ex, "1", actor="tester")


def test_reserve_beyond_available_raises_and_writes_nothing(db, make_customer, make_execution):
    cid = make_customer(db, "poor", "1.5")
    ex = make_execution(db, cid)
    before = _rows(db)
    with pytest.raises(InsufficientCreditsError) as raised:
        _reserve(db, cid, "1.5001", ex)
    assert "insufficient credits" in raised.value.message
    assert raised.value.details == {"needed": "1.5001", "available": "1.5000", "held": "0.0000"}
    assert raised.value.exit_code == 4
    assert "held by runs in progress" not in raised.value.message
    assert _rows(db) == before  # no ledger row, no audit row
    balance = _balance(db, cid)
    assert (balance.held, balance.available) == (0, Decimal("1.5"))
    # Exactly what is available still fits.
    _reserve(db, cid, "1.5", ex)
    assert _balance(db, cid).available == 0
    _assert_consistent(db)
    # Regression: with a killed run's hold in place, cron got "has 0.0000 available" and
    # nothing said where the credits were.
    with pytest.raises(InsufficientCreditsError) as raised:
        _reserve(db, cid, "1", make_execution(db, cid))
    assert raised.value.details["held"] == "1.5000"
    assert "; 1.5000 more are held by runs in progress (a run whose process died keeps" in (
        raised.value.message
    )
    assert "hunter executions list --status running" in raised.value.message


def test_reserve_of_a_negative_amount_is_a_validation_error(db, make_customer, make_execution):
    cid = make_customer(db, "pay", "10")
    ex = make_execution(db, cid)
    for amount in ("-1", "-0.0001"):
        with pytest.raises(ValidationError, match="negative"):
            _reserve(db, cid, amount, ex)


def test_grant_rejects_amounts_that_are_not_positive_numbers(db, make_customer):
    cid = make_customer(db, "pay")
    for amount in ("0", "-5", "0.00001", "abc", "NaN", "Infinity", "1e40", None):
        with pytest.raises(ValidationError), db.session() as session:
            ledger.grant_credits(session, _customer(session, cid), amount, reason="x", actor="t")
    assert _rows(db) == (0, 0)


def test_grant_too_large_for_the_columns_is_a_validation_error(db, make_customer):
    """Regression: 1e15 crashed with OverflowError (SQLite) or a NUMERIC overflow (PostgreSQL)
    instead of a one-line validation error."""
    cid = make_customer(db, "rich")
    with pytest.raises(ValidationError, match="at most"), db.session() as session:
        ledger.grant_credits(session, _customer(session, cid), "1e15", reason="x", actor="t")
    with db.session() as session:
        ledger.grant_credits(
            session, _customer(session, cid), ledger.MAX_CREDITS, reason="x", actor="t"
        )
    # The balance itself may not pass the limit either.
    with pytest.raises(ValidationError, match="would exceed"), db.session() as session:
        ledger.grant_credits(session, _customer(session, cid), "0.0001", reason="x", actor="t")
    assert _balance(db, cid).available == ledger.MAX_CREDITS
    _assert_consistent(db)


def test_grant_needs_a_reason(db, make_customer):
    cid = make_customer(db, "pay")
    with pytest.raises(ValidationError, match="reason"), db.session() as session:
        ledger.grant_credits(session, _customer(session, cid), "1", reason="  ", actor="t")


# --- exact decimals ---------------------------------------------------------------------------


CENTS = 250  # enough that binary floats drift: sum([0.01] * 250) != 2.5


def test_hundredths_add_up_exactly(db, make_customer, make_execution):
    """0.01 is not exact in binary floating point (SQLite's NUMERIC is a float); hundreds of
    captures of 0.01 must still add up to exactly what was held."""
    assert sum([0.01] * CENTS) != CENTS / 100
    total = Decimal(CENTS) / 100
    cid = make_customer(db, "cents", total)
    ex = make_execution(db, cid)
    with db.session() as session:
        customer = _customer(session, cid)
        for _ in range(CENTS):
            ledger.reserve_credits(session, customer, "0.01", execution_id=ex, actor="t")
    balance = _balance(db, cid)
    assert (balance.held, balance.available) == (total, Decimal("0.0000"))

    with db.session() as session:
        for _ in range(CENTS - 1):
            ledger.capture_credits(session, ex, 0.01, actor="t", release_rest=False)
        capture, release = ledger.capture_credits(session, ex, "0.01", actor="t")
        assert capture is not None and release is None
    balance = _balance(db, cid)
    assert (balance.used, balance.held, balance.available) == (total, 0, 0)
    with db.session() as session:
        captured = session.scalars(
            select(CreditTransaction.amount).where(CreditTransaction.kind == "capture")
        ).all()
    assert len(captured) == CENTS
    assert sum(captured, Decimal(0)) == total
    _assert_consistent(db)


def test_amounts_are_kept_to_four_places(db, make_customer, make_execution):
    cid = make_customer(db, "pay", "0.3")
    ex = make_execution(db, cid)
    _reserve(db, cid, 0.1, ex)  # a float goes through str, never binary: 0.1000 exactly
    _reserve(db, cid, Decimal("0.2"), ex)
    assert _balance(db, cid).available == Decimal("0.0000")
    assert _balance(db, cid).held == Decimal("0.3")


# --- idempotency keys -------------------------------------------------------------------------


def test_grant_with_the_same_key_twice_has_one_effect(db, make_customer):
    cid = make_customer(db, "pay", "1")
    with db.session() as session:
        first = ledger.grant_credits(
            session, _customer(session, cid), "5", reason="x", actor="t", idempotency_key="g-1"
        )
    before = _rows(db)
    with db.session() as session:
        again = ledger.grant_credits(
            session, _customer(session, cid), "5", reason="x", actor="t", idempotency_key="g-1"
        )
    assert again.id == first.id
    assert _rows(db) == before
    assert _balance(db, cid).granted == Decimal("6")
    _assert_consistent(db)


def test_a_key_with_stray_whitespace_is_the_same_key(db, make_customer):
    """Regression: "dup-1\r" (read from a CRLF file) and " dup-1" were new keys, so the same
    grant was made three times."""
    cid = make_customer(db, "pay", "1")
    for key in ("dup-1", "dup-1\r", " dup-1\n", "\tdup-1 ", "\ufeffdup-1", "\u200bdup-1"):
        with db.session() as session:
            entry = ledger.grant_credits(
                session, _customer(session, cid), "5", reason="x", actor="t", idempotency_key=key
            )
            assert entry.idempotency_key == "dup-1"
    assert _balance(db, cid).granted == Decimal("6")
    with db.session() as session, pytest.raises(ValidationError, match="holds a line break"):
        ledger.grant_credits(
            session, _customer(session, cid), "5", reason="x", actor="t", idempotency_key="a\nb"
        )
    _assert_consistent(db)


def test_reserve_with_the_same_key_twice_has_one_effect(db, make_customer, make_execution):
    cid = make_customer(db, "pay", "10")
    ex = make_execution(db, cid)
    first = _reserve(db, cid, "3", ex, key="r-1")
    before = _rows(db)
    again = _reserve(db, cid, "3", ex, key="r-1")
    assert again.id == first.id
    assert _rows(db) == before
    assert _balance(db, cid).held == Decimal("3")
    _assert_consistent(db)


def test_capture_with_the_same_key_twice_has_one_effect(db, make_customer, make_execution):
    cid = make_customer(db, "pay", "10")
    ex = make_execution(db, cid)
    _reserve(db, cid, "3", ex)
    with db.session() as session:
        capture, release = ledger.capture_credits(session, ex, "1", actor="t", idempotency_key="c")
    before = _rows(db)
    with db.session() as session:
        capture2, release2 = ledger.capture_credits(
            session, ex, "1", actor="t", idempotency_key="c"
        )
    assert capture is not None and release is not None
    assert (capture2.id, release2.id) == (capture.id, release.id)
    assert release.idempotency_key == "c:release"
    assert _rows(db) == before
    balance = _balance(db, cid)
    assert (balance.used, balance.held, balance.available) == (1, 0, Decimal("9"))
    _assert_consistent(db)


def test_release_with_the_same_key_twice_has_one_effect(db, make_customer, make_execution):
    cid = make_customer(db, "pay", "10")
    ex = make_execution(db, cid)
    _reserve(db, cid, "3", ex)
    with db.session() as session:
        first = ledger.release_credits(session, ex, actor="t", idempotency_key="rel")
    _reserve(db, cid, "2", ex)  # a new hold on the same execution
    before = _rows(db)
    with db.session() as session:
        again = ledger.release_credits(session, ex, actor="t", idempotency_key="rel")
    assert first is not None and again is not None and again.id == first.id
    assert _rows(db) == before
    assert _balance(db, cid).held == Decimal("2")  # the retry did not release the new hold
    _assert_consistent(db)


def test_a_key_used_by_another_execution_is_refused_not_taken_as_done(
    db, make_customer, make_execution
):
    """A capture's key is looked for among its own execution's rows: the key of another
    execution's capture is a unique-constraint error, never that capture handed back."""
    cid = make_customer(db, "pay", "10")
    first, second = make_execution(db, cid), make_execution(db, cid)
    _reserve(db, cid, "3", first)
    _reserve(db, cid, "3", second)
    with db.session() as session:
        ledger.capture_credits(session, first, "1", actor="t", idempotency_key="shared")
    before = _rows(db)
    with pytest.raises(IntegrityError), db.session() as session:
        ledger.capture_credits(session, second, "1", actor="t", idempotency_key="shared")
    assert _rows(db) == before
    _assert_consistent(db)


# --- the end of a period ----------------------------------------------------------------------


def _end_period(db, customer_id, *, periods_ago: int = 1) -> None:
    """Move the subscription's period into the past, as if time had passed."""
    with db.session() as session:
        sub = _sub(session, customer_id)
        end = utcnow() - timedelta(hours=1)
        for _ in range(periods_ago - 1):
            end = ledger.add_months(end, -1)
        sub.period_end = end
        sub.period_start = ledger.add_months(end, -1)


def _backdate_reserves(db, execution_id) -> None:
    """As if the execution's holds were taken two hours ago (before a period _end_period
    ended an hour ago)."""
    from sqlalchemy import update

    with db.session() as session:
        session.execute(
            update(CreditTransaction)
            .where(CreditTransaction.execution_id == execution_id)
            .values(created_at=utcnow() - timedelta(hours=2))
        )


def test_a_hold_released_after_its_period_ended_expires_with_that_period(
    db, make_customer, make_execution
):
    """Regression: a run holding 5.01 when a no-rollover period renewed was closed in the
    new period: capture 2, release 3.01, and the 3.01 joined the new allowance (granted
    15.01, used 10.02 in a period of 10). The released part expires as the rest did."""
    cid = make_customer(db, "spanning", "10", monthly="10")
    ex = make_execution(db, cid)
    _reserve(db, cid, "5.01", ex)
    _end_period(db, cid)  # an hour ago: the hold, as if taken before then
    _backdate_reserves(db, ex)
    with db.session() as session:  # the renewal, as the next hold or run makes it
        ledger.renew_if_due(session, _sub(session, cid), actor="t")
    assert _balance(db, cid).available == Decimal("10")
    with db.session() as session:
        ledger.capture_credits(session, ex, "2", actor="t", idempotency_key="late")
    balance = _balance(db, cid)
    assert (balance.available, balance.held) == (Decimal("10"), 0)  # not 13.01
    with db.session() as session:
        expired = session.scalars(
            select(CreditTransaction).where(
                CreditTransaction.idempotency_key == "late:release:expire"
            )
        ).one()
        assert (expired.kind, expired.amount) == ("adjust", Decimal("-3.01"))
    _assert_consistent(db)

    # A hold taken in the current period is released as ever; a rollover plan keeps it too.
    ex2 = make_execution(db, cid)
    _reserve(db, cid, "1", ex2)
    with db.session() as session:
        ledger.release_credits(session, ex2, actor="t")
    assert _balance(db, cid).available == Decimal("10")
    roll = make_customer(db, "rolling", "10", monthly="10", rollover=True)
    ex3 = make_execution(db, roll)
    _reserve(db, roll, "4", ex3)
    _end_period(db, roll)
    _backdate_reserves(db, ex3)
    with db.session() as session:
        ledger.renew_if_due(session, _sub(session, roll), actor="t")
        ledger.release_credits(session, ex3, actor="t")
    assert _balance(db, roll).available == Decimal("20")
    _assert_consistent(db)


def test_period_end_expires_unused_credits_and_grants_the_allowance(
    db, make_customer, make_execution
):
    cid = make_customer(db, "monthly", "100", monthly="100")
    ex1, ex2, ex3 = (make_execution(db, cid) for _ in range(3))
    _reserve(db, cid, "30", ex1)
    with db.session() as session:
        ledger.capture_credits(session, ex1, "10", actor="t")
    _reserve(db, cid, "5", ex2)  # still held when the period ends
    _end_period(db, cid)

    _reserve(db, cid, "1", ex3)

    balance = _balance(db, cid)
    assert balance.period_end > utcnow()
    # 85 unused credits expired, 100 new ones came in; the open hold survived.
    assert (balance.used, balance.held, balance.available) == (10, 6, Decimal("99"))
    assert balance.granted == Decimal("100") - Decimal("85") + Decimal("100")
    with db.session() as session:
        rows = session.scalars(
            select(CreditTransaction)
            .where(CreditTransaction.kind.in_(["adjust", "grant"]))
            .order_by(CreditTransaction.created_at)
        ).all()
        assert [(tx.kind, tx.amount) for tx in rows] == [
            ("grant", Decimal("100")),
            ("adjust", Decimal("-85")),
            ("grant", Decimal("100")),
        ]
        assert "expire" in rows[1].reason
        actions = session.scalars(select(AuditLog.action).order_by(AuditLog.seq)).all()
        assert actions[-3:] == ["credits.adjust", "credits.grant", "credits.reserve"]
    _assert_consistent(db)


def test_period_end_keeps_unused_credits_when_the_plan_rolls_over(
    db, make_customer, make_execution
):
    cid = make_customer(db, "roller", "100", monthly="100", rollover=True)
    _end_period(db, cid)
    _reserve(db, cid, "1", make_execution(db, cid))
    balance = _balance(db, cid)
    assert (balance.granted, balance.available) == (Decimal("200"), Decimal("199"))
    with db.session() as session:
        kinds = session.scalars(select(CreditTransaction.kind)).all()
    assert "adjust" not in kinds
    _assert_consistent(db)


def test_several_missed_periods_renew_one_by_one(db, make_customer):
    cid = make_customer(db, "sleeper", "100", monthly="100")
    _end_period(db, cid, periods_ago=3)
    with db.session() as session:
        ledger.grant_credits(session, _customer(session, cid), "1", reason="x", actor="t")
    balance = _balance(db, cid)
    assert balance.period_end > utcnow()
    assert balance.available == Decimal("101")
    with db.session() as session:
        kinds = session.scalars(select(CreditTransaction.kind)).all()
    assert kinds.count("adjust") == 3
    assert kinds.count("grant") == 1 + 3 + 1
    _assert_consistent(db)


def test_renewal_rolls_back_with_a_reserve_that_does_not_fit(db, make_customer, make_execution):
    cid = make_customer(db, "monthly", "100", monthly="100")
    _end_period(db, cid)
    before = _rows(db)
    with pytest.raises(InsufficientCreditsError):
        _reserve(db, cid, "100.01", make_execution(db, cid))
    assert _rows(db) == before
    assert _balance(db, cid).period_end < utcnow()


def test_seeded_renewal_expires_the_pro_allowance(seeded, make_execution):
    with seeded.session() as session:
        acme = session.scalars(select(Customer).where(Customer.slug == "acme")).one()
        acme_id = acme.id
    _end_period(seeded, acme_id)
    _reserve(seeded, acme_id, "1", make_execution(seeded, acme_id))
    balance = _balance(seeded, acme_id)
    assert (balance.granted, balance.available) == (Decimal("1000"), Decimal("999"))
    _assert_consistent(seeded)


# --- balances and the check -------------------------------------------------------------------


def test_check_ledger_names_a_subscription_that_disagrees(db, make_customer):
    cid = make_customer(db, "drift", "10")
    with db.session() as session:
        _sub(session, cid).credits_used = Decimal("1")  # changed behind the ledger's back
    with db.session() as session:
        problems = ledger.check_ledger(session)
    assert [(p.customer, p.field, p.ledger, p.row) for p in problems] == [
        ("drift", "used", Decimal("0"), Decimal("1"))
    ]


def test_a_ledger_edited_to_agree_with_itself_still_disagrees_with_the_audit_trail(
    db, make_customer, make_execution
):
    """Regression: lowering a capture by 4, adding a release of 4 and lowering the balance's
    used to match passed `credits check` and `audit verify`. The trail (hash-chained)
    recorded each ledger row as it was written: the ledger is checked against it too."""
    cid = make_customer(db, "edited", "10")
    ex = make_execution(db, cid)
    _reserve(db, cid, "6", ex)
    with db.session() as session:
        ledger.capture_credits(session, ex, "5", actor="t")
    with db.session() as session:
        assert ledger.check_ledger(session) == []
        capture = session.scalars(
            select(CreditTransaction).where(CreditTransaction.kind == "capture")
        ).one()
        capture.amount -= 4
        session.add(
            CreditTransaction(
                subscription_id=capture.subscription_id,
                customer_id=capture.customer_id,
                kind="release",
                amount=Decimal("4"),
                balance_after=capture.balance_after,
                actor="t",
            )
        )
        sub = _sub(session, cid)
        sub.credits_used -= 4
    with db.session() as session:
        problems = ledger.check_ledger(session)
    assert [(p.field, p.ledger, p.row, p.source) for p in problems] == [
        ("capture total", Decimal("1"), Decimal("5"), "audit_trail"),
        ("release total", Decimal("5"), Decimal("1"), "audit_trail"),
    ]
    assert problems[0].to_dict()["audit_trail"] == "5.0000"


def test_balance_after_follows_every_row(db, make_customer, make_execution):
    cid = make_customer(db, "trail", "10")
    ex = make_execution(db, cid)
    _reserve(db, cid, "4", ex)
    with db.session() as session:
        ledger.capture_credits(session, ex, "1", actor="t")
        rows = session.scalars(
            select(CreditTransaction).order_by(CreditTransaction.created_at)
        ).all()
    assert [(tx.kind, tx.balance_after) for tx in rows] == [
        ("grant", Decimal("10")),
        ("reserve", Decimal("6")),
        ("capture", Decimal("6")),
        ("release", Decimal("9")),
    ]


def test_a_new_key_is_not_looked_up_and_a_taken_one_is_still_refused(
    db, make_customer, make_execution
):
    """new_key (a run's hold on the execution it has just made) skips the lookup; a key
    that was taken after all is a unique-constraint error, nothing written."""
    cid = make_customer(db, "fresh", "10")
    first, second = make_execution(db, cid), make_execution(db, cid)
    _reserve(db, cid, "2", first, "k", new_key=True)
    before = _rows(db)
    with pytest.raises(IntegrityError):
        _reserve(db, cid, "2", second, "k", new_key=True)
    assert _rows(db) == before
    _assert_consistent(db)


def test_a_hold_is_extended_on_its_own_balance_and_released_with_the_rest(
    db, make_customer, make_execution
):
    cid = make_customer(db, "grow", "10")
    eid = make_execution(db, cid)
    _reserve(db, cid, "2", eid)
    with db.session() as session:
        first = ledger.extend_hold(session, eid, "3", actor="t", key_prefix="p", reason="more")
        second = ledger.extend_hold(session, eid, "1", actor="t", key_prefix="p", reason="more")
    assert (first.idempotency_key, second.idempotency_key) == ("p:1", "p:2")
    assert first.kind == "reserve" and first.balance_after == Decimal("5.0000")
    before = _rows(db)
    refused = pytest.raises(InsufficientCreditsError, match="5.0000 more are needed but 4.0000")
    with refused, db.session() as session:
        ledger.extend_hold(session, eid, "5", actor="t", key_prefix="p", reason="too much")
    assert _rows(db) == before  # nothing written
    with db.session() as session:
        capture, release = ledger.capture_credits(session, eid, "4", actor="t")
    assert capture is not None and release is not None
    assert release.amount == Decimal("2.0000")  # 2 + 3 + 1 held, 4 used
    assert _balance(db, cid).available == Decimal("6.0000")
    _assert_consistent(db)
