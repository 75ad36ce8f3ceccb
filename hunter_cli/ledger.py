"""Credits: reserve, capture, release, grant. The only code that moves credits.

A run pays like a card payment: it reserves (holds) the most it can cost before anything
happens, then captures what it used and releases the rest. Every change of a balance is a
CreditTransaction row written in the same transaction as the subscription update and its
audit entry, under a row lock (SQLite: the write lock of BEGIN IMMEDIATE).
"""

from __future__ import annotations

import calendar
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from hunter_cli.audit import append_audit
from hunter_cli.customers import CustomerRef
from hunter_cli.db.models import (
    CreditTransaction,
    Customer,
    Subscription,
    SubscriptionPlan,
    table_of,
)
from hunter_cli.db.prepared import Prepared
from hunter_cli.db.types import to_credits, utcnow
from hunter_cli.errors import (
    HunterError,
    InsufficientCreditsError,
    NotFoundError,
    ValidationError,
)

KINDS = ("grant", "reserve", "capture", "release", "refund", "adjust")
ZERO = Decimal("0.0000")
# The largest balance the columns hold (NUMERIC(18, 4)); beyond it PostgreSQL and SQLite fail.
MAX_CREDITS = Decimal("99999999999999.9999")


@dataclass(frozen=True)
class Balance:
    subscription_id: uuid.UUID
    customer: str
    plan: str
    status: str
    period_start: datetime
    period_end: datetime
    allowance: Decimal
    granted: Decimal
    used: Decimal
    held: Decimal
    available: Decimal
    rollover: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "subscription_id": str(self.subscription_id),
            "customer": self.customer,
            "plan": self.plan,
            "status": self.status,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "allowance": str(self.allowance),
            "granted": str(self.granted),
            "used": str(self.used),
            "held": str(self.held),
            "available": str(self.available),
            "rollover": self.rollover,
        }


def add_months(moment: datetime, months: int = 1) -> datetime:
    month = moment.month - 1 + months
    year = moment.year + month // 12
    month = month % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def balance_of(sub: Subscription) -> Balance:
    return Balance(
        subscription_id=sub.id,
        customer=sub.customer.slug,
        plan=sub.plan.name,
        status=sub.status,
        period_start=sub.period_start,
        period_end=sub.period_end,
        allowance=sub.plan.monthly_credits,
        granted=sub.credits_granted,
        used=sub.credits_used,
        held=sub.credits_held,
        available=sub.credits_available,
        rollover=sub.plan.rollover,
    )


def active_subscription(
    session: Session, customer: Customer | CustomerRef, *, lock: bool = False
) -> Subscription:
    query = (
        select(Subscription)
        .where(Subscription.customer_id == customer.id, Subscription.status == "active")
        .order_by(Subscription.created_at.desc())
        .limit(1)
    )
    if lock:
        # populate_existing: a row already in the session is re-read under the lock.
        query = query.with_for_update().execution_options(populate_existing=True)
    sub = session.scalars(query).first()
    if sub is None:
        raise NotFoundError(f"customer {customer.slug!r} has no active subscription")
    return sub


def balances(session: Session, customer: Customer | None = None) -> list[Balance]:
    query = select(Subscription).join(Customer).order_by(Customer.slug, Subscription.created_at)
    if customer is not None:
        query = query.where(Subscription.customer_id == customer.id)
    return [balance_of(sub) for sub in session.scalars(query)]


def _positive(amount: Decimal | int | str | float, what: str) -> Decimal:
    try:
        value, exact = to_credits(amount), Decimal(str(amount))
    except Exception as exc:
        raise ValidationError(f"{what} must be a number, not {amount!r}") from exc
    if not value.is_finite() or exact <= 0:
        raise ValidationError(f"{what} must be greater than zero, not {amount}")
    # Rounding would change what was asked for (5.12349 became 5.1235, 0.00005 zero).
    if value != exact:
        raise ValidationError(
            f"{what} {amount} has too many decimal places: credits have at most 4 decimal places"
        )
    if value > MAX_CREDITS:
        raise ValidationError(f"{what} must be at most {MAX_CREDITS}, not {amount}")
    return value


def _existing(session: Session, key: str | None) -> LedgerEntry | None:
    if key is None:
        return None
    # Almost always there is none: a cheap probe, and the whole row only when there is one.
    if _KEY_TAKEN.first(session, {"key": key}) is None:
        return None
    row = _BY_KEY.first(session, {"key": key})
    return None if row is None else LedgerEntry(*row)


# Built once: the ledger runs these on every run's hold and capture.
_TXS = table_of(CreditTransaction)
_SUBS = table_of(Subscription)
_PLANS = table_of(SubscriptionPlan)
_KEY_TAKEN = Prepared(select(_TXS.c.id).where(_TXS.c.idempotency_key == bindparam("key")))
_LOCKED_COLUMNS = (
    _SUBS.c.id,
    _SUBS.c.customer_id,
    _PLANS.c.name,
    _SUBS.c.period_end,
    _SUBS.c.credits_granted,
    _SUBS.c.credits_used,
    _SUBS.c.credits_held,
    _SUBS.c.period_start,
    _PLANS.c.rollover,
)
# A customer's active subscription, locked (SQLite: BEGIN IMMEDIATE already holds the lock).
_LOCK_ACTIVE = Prepared(
    select(*_LOCKED_COLUMNS)
    .join(_PLANS, _PLANS.c.id == _SUBS.c.plan_id)
    .where(_SUBS.c.customer_id == bindparam("customer_id"), _SUBS.c.status == "active")
    .order_by(_SUBS.c.created_at.desc())
    .limit(1)
    .with_for_update(of=_SUBS)
)
# The subscription an execution's hold belongs to, locked, in one round trip.
_LOCK_HOLDING = Prepared(
    select(*_LOCKED_COLUMNS)
    .join(_PLANS, _PLANS.c.id == _SUBS.c.plan_id)
    .where(
        _SUBS.c.id
        == select(_TXS.c.subscription_id)
        .where(_TXS.c.execution_id == bindparam("execution_id"))
        .limit(1)
        .scalar_subquery()
    )
    .with_for_update(of=_SUBS)
)
_BALANCE_COLUMNS = ("credits_granted", "credits_used", "credits_held", "updated_at")
_SET_BALANCES = Prepared(
    update(_SUBS)
    .where(_SUBS.c.id == bindparam("sid"))
    .values({name: bindparam(name) for name in _BALANCE_COLUMNS})
)


@dataclass
class LockedBalance:
    """A subscription's balances read under its row lock and written back with one Core
    UPDATE (save): holds and captures run on every run, and the ORM's unit of work cost more
    than the statements themselves."""

    id: uuid.UUID
    customer_id: uuid.UUID
    plan_name: str
    period_end: datetime
    credits_granted: Decimal
    credits_used: Decimal
    credits_held: Decimal
    period_start: datetime | None = None
    rollover: bool = False
    # When the execution whose hold this is (see _hold) first reserved: a hold from before
    # period_start belongs to a period that has ended.
    held_since: datetime | None = None

    @property
    def credits_available(self) -> Decimal:
        return self.credits_granted - self.credits_used - self.credits_held

    def save(self, session: Session) -> None:
        values = {
            "credits_granted": self.credits_granted,
            "credits_used": self.credits_used,
            "credits_held": self.credits_held,
            "updated_at": utcnow(),
        }
        _SET_BALANCES.execute(session, {"sid": self.id, **values})
        # An ORM copy of the row in this session must not go stale: nothing reloads it.
        if not len(session.identity_map):  # a run's session usually holds no ORM rows
            return
        mapped = session.identity_map.get(session.identity_key(Subscription, self.id))
        if mapped is not None:
            for name, value in values.items():
                set_committed_value(mapped, name, value)


def _locked(session: Session, statement: Prepared, params: dict[str, Any]) -> LockedBalance | None:
    # No autoflush on a Core statement: ORM changes to the row must reach it first.
    session.flush()
    row = statement.first(session, params)
    return None if row is None else LockedBalance(*row)


def lock_active_balance(session: Session, customer: Customer | CustomerRef) -> LockedBalance:
    locked = _locked(session, _LOCK_ACTIVE, {"customer_id": customer.id})
    if locked is None:
        raise NotFoundError(f"customer {customer.slug!r} has no active subscription")
    return locked


_TX_COLUMNS = (
    "id",
    "subscription_id",
    "customer_id",
    "execution_id",
    "kind",
    "amount",
    "balance_after",
    "idempotency_key",
    "reason",
    "actor",
    "created_at",
)
_TX_INSERT = Prepared(insert(_TXS), columns=_TX_COLUMNS)
_BY_KEY = Prepared(
    select(*(_TXS.c[name] for name in _TX_COLUMNS)).where(
        _TXS.c.idempotency_key == bindparam("key")
    )
)


@dataclass(slots=True)
class LedgerEntry:
    """A ledger row as written or found by its idempotency key. Rows are never changed, so
    no ORM object is needed to track them (and making one cost more than writing the row).
    The fields are _TX_COLUMNS, in order."""

    id: uuid.UUID
    subscription_id: uuid.UUID
    customer_id: uuid.UUID
    execution_id: uuid.UUID | None
    kind: str
    amount: Decimal
    balance_after: Decimal
    idempotency_key: str | None
    reason: str | None
    actor: str | None
    created_at: datetime
    replayed: bool = False  # found by its idempotency key: written by an earlier call


def _record(
    session: Session,
    sub: Subscription | LockedBalance,
    kind: str,
    amount: Decimal,
    *,
    actor: str,
    execution_id: uuid.UUID | None,
    idempotency_key: str | None,
    reason: str | None,
) -> LedgerEntry:
    tx = LedgerEntry(
        id=uuid.uuid4(),
        subscription_id=sub.id,
        customer_id=sub.customer_id,
        execution_id=execution_id,
        kind=kind,
        amount=amount,
        balance_after=sub.credits_available,
        idempotency_key=idempotency_key,
        reason=reason,
        actor=actor,
        created_at=utcnow(),
    )
    # A Core insert: ledger rows are never changed, so the unit of work has nothing to track.
    session.flush()
    _TX_INSERT.execute(session, {c: getattr(tx, c) for c in _TX_COLUMNS})
    details: dict[str, Any] = {
        "kind": kind,
        "amount": str(amount),
        "available_after": str(sub.credits_available),
        "subscription_id": str(sub.id),
    }
    if reason:
        details["reason"] = reason
    if idempotency_key:
        details["idempotency_key"] = idempotency_key
    append_audit(
        session,
        f"credits.{kind}",
        actor=actor,
        customer_id=sub.customer_id,
        execution_id=execution_id,
        details=details,
    )
    session.flush()
    return tx


def renew_if_due(session: Session, sub: Subscription, *, actor: str) -> None:
    """Start the next period when this one has ended: unused credits expire unless the plan
    rolls them over, and the plan's allowance is granted again."""
    now = utcnow()
    while sub.period_end <= now:
        leftover = sub.credits_available
        if leftover > 0 and not sub.plan.rollover:
            sub.credits_granted -= leftover
            _record(
                session,
                sub,
                "adjust",
                -leftover,
                actor=actor,
                execution_id=None,
                idempotency_key=f"expire:{sub.id}:{sub.period_end.isoformat()}",
                reason=f"period ended {sub.period_end.date()}: unused credits expire",
            )
        sub.period_start = sub.period_end
        sub.period_end = add_months(sub.period_start)
        allowance = sub.plan.monthly_credits
        if allowance > 0:
            sub.credits_granted += allowance
            _record(
                session,
                sub,
                "grant",
                allowance,
                actor=actor,
                execution_id=None,
                idempotency_key=f"renew:{sub.id}:{sub.period_start.isoformat()}",
                reason=f"{sub.plan.name} allowance for the period from {sub.period_start.date()}",
            )


def grant_credits(
    session: Session,
    customer: Customer,
    amount: Decimal | int | str,
    *,
    reason: str,
    actor: str,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    value = _positive(amount, "amount")
    if not reason or not reason.strip():
        raise ValidationError("a grant needs a reason (--reason)")
    if idempotency_key is not None:
        # "dup-1\r" read from a CRLF file, " dup-1", or with a byte-order mark or zero-width
        # space pasted in, is the key "dup-1": never a second grant.
        import unicodedata

        idempotency_key = "".join(
            c for c in idempotency_key if unicodedata.category(c) != "Cf"
        ).strip()
        if not 0 < len(idempotency_key) <= 200:
            raise ValidationError("an idempotency key is 1 to 200 characters (not blank)")
        from hunter_cli.text_hygiene import control_character

        if (found := control_character(idempotency_key)) is not None:
            raise ValidationError(f"an idempotency key is one line of text: this one holds {found}")
    sub = active_subscription(session, customer, lock=True)
    if (done := _existing(session, idempotency_key)) is not None:
        same = (done.kind, done.customer_id, done.amount, done.reason) == (
            "grant",
            customer.id,
            value,
            reason.strip(),
        )
        if not same:
            # Keys are one namespace for the whole ledger; another customer's entry is not
            # described (its amount and reason are not this customer's business).
            if done.customer_id != customer.id:
                raise ValidationError(
                    f"idempotency key {idempotency_key!r} is already used by another "
                    "customer's ledger entry (keys are unique across the workspace: put the "
                    f"customer in the key, e.g. {customer.slug}-{utcnow():%Y-%m}-topup)",
                    details={"idempotency_key": idempotency_key},
                )
            what = (
                f"a grant of {done.amount} credits"
                + ("" if done.reason == reason.strip() else f" for {done.reason!r}")
                if done.kind == "grant"
                else f"a {done.kind} of {done.amount} credits"
            )
            raise ValidationError(
                f"idempotency key {idempotency_key!r} already names another ledger entry "
                f"({what}); use a new key for a new grant",
                details={"idempotency_key": idempotency_key, "entry": str(done.id)},
            )
        done.replayed = True
        return done
    renew_if_due(session, sub, actor=actor)
    if sub.credits_granted + value > MAX_CREDITS:
        raise ValidationError(
            f"cannot grant {value} credits to {customer.slug}: the balance would exceed "
            f"{MAX_CREDITS}"
        )
    sub.credits_granted += value
    return _record(
        session,
        sub,
        "grant",
        value,
        actor=actor,
        execution_id=None,
        idempotency_key=idempotency_key,
        reason=reason.strip(),
    )


def reserve_credits(
    session: Session,
    customer: Customer | CustomerRef,
    amount: Decimal | int | str,
    *,
    execution_id: uuid.UUID | None,
    actor: str,
    idempotency_key: str | None = None,
    reason: str | None = None,
    locked: LockedBalance | None = None,
    new_key: bool = False,
) -> LedgerEntry:
    """Hold the most a piece of work can cost, before any side effect; fails with
    InsufficientCreditsError (nothing written) when the balance cannot cover it.
    `locked`: the customer's balance as the caller locked it earlier in this transaction.
    `new_key`: the key names something made in this transaction (a new execution's id), so
    no earlier hold can hold it and there is nothing to look up; were it taken after all,
    the unique constraint refuses the row."""
    value = to_credits(amount)
    if value < 0:
        raise ValidationError(f"cannot reserve a negative amount ({value})")
    sub = locked if locked is not None else lock_active_balance(session, customer)
    if not new_key and (done := _existing(session, idempotency_key)) is not None:
        return done
    if sub.period_end <= utcnow():  # rare: renew through the ORM, then read it again
        renew_if_due(session, active_subscription(session, customer, lock=True), actor=actor)
        sub = lock_active_balance(session, customer)
    if value > sub.credits_available:
        held = ""
        if sub.credits_held > 0:
            # A run killed mid-way keeps its hold until it is closed: say where credits are.
            held = (
                f"; {sub.credits_held} more are held by runs in progress (a run whose process "
                "died keeps its hold until `hunter executions close ID` (or `resume ID`) "
                "closes it: see `hunter executions list --status running`)"
            )
        raise InsufficientCreditsError(
            f"insufficient credits: {customer.slug} needs {value} but has "
            f"{sub.credits_available} available ({sub.plan_name} plan, period ends "
            f"{sub.period_end.date()}){held}",
            details={
                "needed": str(value),
                "available": str(sub.credits_available),
                "held": str(sub.credits_held),
            },
        )
    return _add_to_hold(session, sub, value, actor, execution_id, idempotency_key, reason)


def _add_to_hold(
    session: Session,
    sub: LockedBalance,
    value: Decimal,
    actor: str,
    execution_id: uuid.UUID | None,
    idempotency_key: str | None,
    reason: str | None,
) -> LedgerEntry:
    """Hold `value` more on a balance locked and checked by the caller, and record it."""
    sub.credits_held += value
    sub.save(session)
    return _record(
        session,
        sub,
        "reserve",
        value,
        actor=actor,
        execution_id=execution_id,
        idempotency_key=idempotency_key,
        reason=reason,
    )


def extend_hold(
    session: Session,
    execution_id: uuid.UUID,
    amount: Decimal | int | str,
    *,
    actor: str,
    key_prefix: str,
    reason: str,
) -> LedgerEntry:
    """Hold more for an execution that already holds credits, on the same balance: work whose
    size is known only as it starts (an AI step asked once per item). Fails with
    InsufficientCreditsError, nothing written, when the balance cannot cover it. Its key is
    `key_prefix:N`, N counting this execution's earlier extensions under that prefix, so each
    one has its own key and a capture releases them all with the rest of the hold."""
    value = to_credits(amount)
    if value <= 0:
        raise ValidationError(f"cannot extend a hold by {value}")
    sub, _, keys = _hold(session, execution_id)
    if value > sub.credits_available:
        raise InsufficientCreditsError(
            f"insufficient credits: {value} more are needed but {sub.credits_available} are "
            f"available ({sub.plan_name} plan)",
            details={"needed": str(value), "available": str(sub.credits_available)},
        )
    number = 1 + sum(1 for key in keys if key.startswith(f"{key_prefix}:"))
    return _add_to_hold(session, sub, value, actor, execution_id, f"{key_prefix}:{number}", reason)


_HOLD_ROWS = Prepared(
    select(_TXS.c.kind, _TXS.c.amount, _TXS.c.idempotency_key, _TXS.c.created_at).where(
        _TXS.c.execution_id == bindparam("execution_id")
    )
)


def outstanding_hold(session: Session, execution_id: uuid.UUID) -> tuple[LockedBalance, Decimal]:
    """The balance an execution's hold is on, locked, and how much it still holds."""
    sub, held, _ = _hold(session, execution_id)
    return sub, held


def _hold(session: Session, execution_id: uuid.UUID) -> tuple[LockedBalance, Decimal, set[str]]:
    """outstanding_hold, and the idempotency keys already used for the execution."""
    params = {"execution_id": execution_id}
    sub = _locked(session, _LOCK_HOLDING, params)
    if sub is None:
        raise NotFoundError(f"execution {execution_id} holds no credits")
    # Summed only under the lock: rows read before it could miss a capture or release that
    # another process committed while we waited, and the hold would be spent twice.
    held = ZERO
    keys: set[str] = set()
    for kind, amount, key, created in _HOLD_ROWS.execute(session, params):
        if kind == "reserve":
            held += amount
            if sub.held_since is None or created < sub.held_since:
                sub.held_since = created
        elif kind in ("capture", "release"):
            held -= amount
        if key is not None:
            keys.add(key)
    return sub, held, keys


def _expire_if_stale(
    session: Session,
    sub: LockedBalance,
    released: Decimal,
    *,
    actor: str,
    execution_id: uuid.UUID,
    idempotency_key: str | None,
) -> None:
    """A hold taken before the period began, released after it (a run that spanned the
    renewal, or a killed one closed later): on a plan that does not roll credits over, the
    released part expires as the rest of that period's did at renewal, rather than join the
    new period's allowance."""
    if released <= 0 or sub.rollover or sub.held_since is None or sub.period_start is None:
        return
    if sub.held_since >= sub.period_start:
        return
    sub.credits_granted -= released
    sub.save(session)
    _record(
        session,
        sub,
        "adjust",
        -released,
        actor=actor,
        execution_id=execution_id,
        idempotency_key=f"{idempotency_key}:expire" if idempotency_key else None,
        reason="expired: held in a period that has ended, released after it",
    )


class HoldExceeded(HunterError):
    """A run used more than it held: a bug (a hold is the most a run can cost), never a
    reason to charge more than was held."""

    def __init__(self, message: str, *, wanted: Decimal, held: Decimal) -> None:
        super().__init__(message)
        self.wanted, self.held = wanted, held


def capture_credits(
    session: Session,
    execution_id: uuid.UUID,
    amount: Decimal | int | str,
    *,
    actor: str,
    idempotency_key: str | None = None,
    release_rest: bool = True,
) -> tuple[LedgerEntry | None, LedgerEntry | None]:
    """Turn what a run really used into spent credits and (by default) release the rest of
    its hold. Returns (capture, release); either is None when its amount is zero."""
    value = to_credits(amount)
    if value < 0:
        raise ValidationError(f"cannot capture a negative amount ({value})")
    sub, held, keys = _hold(session, execution_id)
    # Checked under the lock, so a concurrent retry with the same key waits and sees it.
    # A capture's key is one of its execution's rows (one used by another execution fails
    # on the unique constraint instead): the rows just read say, with no probe of its own.
    if idempotency_key and idempotency_key in keys:
        return _existing(session, idempotency_key), _existing(session, f"{idempotency_key}:release")
    if value > held:
        raise HoldExceeded(
            f"cannot capture {value} credits for execution {execution_id}: only {held} are held",
            wanted=value,
            held=held,
        )
    capture = release = None
    if value > 0:
        sub.credits_held -= value
        sub.credits_used += value
        sub.save(session)
        capture = _record(
            session,
            sub,
            "capture",
            value,
            actor=actor,
            execution_id=execution_id,
            idempotency_key=idempotency_key,
            reason=None,
        )
    rest = held - value
    if release_rest and rest > 0:
        sub.credits_held -= rest
        sub.save(session)
        release = _record(
            session,
            sub,
            "release",
            rest,
            actor=actor,
            execution_id=execution_id,
            idempotency_key=f"{idempotency_key}:release" if idempotency_key else None,
            reason="unused part of the hold",
        )
        _expire_if_stale(
            session,
            sub,
            rest,
            actor=actor,
            execution_id=execution_id,
            idempotency_key=f"{idempotency_key}:release" if idempotency_key else None,
        )
    return capture, release


def release_credits(
    session: Session,
    execution_id: uuid.UUID,
    *,
    actor: str,
    idempotency_key: str | None = None,
    reason: str | None = None,
) -> LedgerEntry | None:
    """Release everything an execution still holds (a failed or interrupted run)."""
    sub, held, keys = _hold(session, execution_id)
    if idempotency_key and idempotency_key in keys:
        return _existing(session, idempotency_key)
    if held <= 0:
        return None
    sub.credits_held -= held
    sub.save(session)
    entry = _record(
        session,
        sub,
        "release",
        held,
        actor=actor,
        execution_id=execution_id,
        idempotency_key=idempotency_key,
        reason=reason,
    )
    _expire_if_stale(
        session,
        sub,
        held,
        actor=actor,
        execution_id=execution_id,
        idempotency_key=idempotency_key,
    )
    return entry


def history(
    session: Session, customer: Customer, limit: int | None = None
) -> list[CreditTransaction]:
    query = (
        select(CreditTransaction)
        .where(CreditTransaction.customer_id == customer.id)
        .order_by(CreditTransaction.created_at.desc(), CreditTransaction.id)
    )
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


@dataclass(frozen=True)
class LedgerMismatch:
    subscription_id: uuid.UUID
    customer: str
    field: str
    ledger: Decimal
    row: Decimal
    # What disagrees with the ledger: the subscription's balance, or the audit trail's
    # entries for the ledger's rows (a ledger edited behind hunter's back).
    source: str = "subscription"

    def to_dict(self) -> dict[str, str]:
        return {
            "subscription_id": str(self.subscription_id),
            "customer": self.customer,
            "field": self.field,
            "ledger": str(self.ledger),
            self.source: str(self.row),
        }

    @property
    def where(self) -> str:
        return "on the subscription" if self.source == "subscription" else "in the audit trail"


def check_ledger(session: Session) -> list[LedgerMismatch]:
    """Recompute every balance from the ledger and compare with the subscription rows; and
    compare the ledger, kind by kind, with the audit trail's entry for each of its rows (the
    trail is hash-chained: a capture lowered and a release added to match, with the balance
    edited too, agrees with itself but not with what the trail recorded)."""
    problems: list[LedgerMismatch] = []
    audited = _audited_sums(session)
    for sub in session.scalars(select(Subscription)):
        granted = used = held = ZERO
        by_kind: dict[str, Decimal] = {}
        txs = session.scalars(
            select(CreditTransaction).where(CreditTransaction.subscription_id == sub.id)
        )
        # Sums are order-independent, so no ordering is needed (or trusted) here.
        for tx in txs:
            by_kind[tx.kind] = by_kind.get(tx.kind, ZERO) + tx.amount
            if tx.kind in ("grant", "adjust"):
                granted += tx.amount
            elif tx.kind == "reserve":
                held += tx.amount
            elif tx.kind == "capture":
                held -= tx.amount
                used += tx.amount
            elif tx.kind == "release":
                held -= tx.amount
            elif tx.kind == "refund":
                used -= tx.amount
        pairs = [
            ("granted", granted, sub.credits_granted),
            ("used", used, sub.credits_used),
            ("held", held, sub.credits_held),
        ]
        problems.extend(
            LedgerMismatch(sub.id, sub.customer.slug, name, ledger, row)
            for name, ledger, row in pairs
            if ledger != row
        )
        trail = audited.get(str(sub.id), {})
        problems.extend(
            LedgerMismatch(
                sub.id,
                sub.customer.slug,
                f"{kind} total",
                by_kind.get(kind, ZERO),
                trail.get(kind, ZERO),
                source="audit_trail",
            )
            for kind in sorted({*by_kind, *trail})
            if by_kind.get(kind, ZERO) != trail.get(kind, ZERO)
        )
    return problems


def _audited_sums(session: Session) -> dict[str, dict[str, Decimal]]:
    """Per subscription (its id as text) and ledger kind, the amounts the audit trail
    recorded as each ledger row was written (`credits.<kind>` entries)."""
    from hunter_cli.db.models import AuditLog

    sums: dict[str, dict[str, Decimal]] = {}
    rows = session.scalars(select(AuditLog.details).where(AuditLog.action.like("credits.%")))
    for details in rows:
        if not isinstance(details, dict):
            continue
        sub_id, kind, amount = (details.get(k) for k in ("subscription_id", "kind", "amount"))
        if not (isinstance(sub_id, str) and isinstance(kind, str) and isinstance(amount, str)):
            continue  # not a ledger row's entry (a subscription step's `credits.charge`)
        try:
            value = Decimal(amount)
        except ArithmeticError:
            continue
        kinds = sums.setdefault(sub_id, {})
        kinds[kind] = kinds.get(kind, ZERO) + value
    return sums


def ensure_plan(session: Session, slug: str) -> SubscriptionPlan:
    plan = session.scalars(select(SubscriptionPlan).where(SubscriptionPlan.slug == slug)).first()
    if plan is None:
        raise NotFoundError(f"unknown plan {slug!r}")
    return plan


def start_subscription(
    session: Session, customer: Customer, plan: SubscriptionPlan, *, actor: str, key: str
) -> Subscription:
    """An active subscription from today's start, with the plan's allowance for its first
    period granted (idempotently, under `key`)."""
    from datetime import time

    now = utcnow()
    start = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
    sub = Subscription(
        customer_id=customer.id,
        plan_id=plan.id,
        status="active",
        period_start=start,
        period_end=add_months(start),
    )
    session.add(sub)
    session.flush()
    if plan.monthly_credits > 0:
        grant_credits(
            session,
            customer,
            plan.monthly_credits,
            actor=actor,
            reason=f"{plan.name} allowance for the period from {start.date()}",
            idempotency_key=key.format(sub=sub.id),
        )
    return sub
