"""Real delivery of outbox messages, exactly once, with the compliance checks in the send path.

For each message, in its own transaction: check the suppression list again (it may have
changed since the message was queued), skip it as a duplicate when another run of its step
has since reached the same person (a failed message retried, a draft's twin), check the
customer's daily cap for the channel (counted in the database, under a lock), then
atomically move the row from `queued` to `sending` (UPDATE ... WHERE status = 'queued':
zero rows means someone else has it) and COMMIT. Only then is the provider called, with no
transaction open; its answer is recorded in a new transaction: `sent` (with the provider's
id) or `failed` (with the reason).

A row left in `sending` (a crash, or an answer that never came) may or may not have reached
its recipient: it is never sent again automatically (`hunter outbox send --force-unknown`).
A provider that cannot work at all (unreachable server, refused login) puts the message back
to `queued` and stops the batch: the rest stay queued for later. A provider told "later"
(an SMTP 4xx, after its retries) puts that one message back to `queued` and carries on.

Two senders at once (two `outbox send`s, or one beside a `run --send`) each deliver what
they claim first; a message the caller saw deliverable that another sender claimed in the
meantime is reported `taken`, which is no failure of this one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, and_, func, or_, select, update
from sqlalchemy.orm import Session

from hunter_cli.audit import append_audit
from hunter_cli.config import Settings, customer_table
from hunter_cli.db.models import Customer, Execution, OutboxMessage
from hunter_cli.db.types import utcnow
from hunter_cli.errors import ConfigError
from hunter_cli.executions import HOST
from hunter_cli.outbox import display_recipient, step_messages, to_outgoing
from hunter_cli.providers.channels import ChannelProvider, DeliveryError, build_provider
from hunter_cli.suppression import find_suppression, suppression_reason

#: What a claimed message's error says while its sender delivers it ("... 1234 on host").
IN_FLIGHT = "in flight: being sent by process"


def _in_flight(error: str | None) -> bool:
    """Whether a message in `sending` is being delivered now by a live hunter process on
    this host, as its claim recorded. False for one whose outcome is recorded (unknown), a
    claim from another host (that cannot be checked here) or a sender that died."""
    from hunter_cli.executions import process_alive, runs_hunter

    if not error or not error.startswith(IN_FLIGHT):
        return False
    pid_text, _, host = error[len(IN_FLIGHT) :].strip().partition(" on ")
    if not pid_text.isdigit() or host != HOST:
        return False
    pid = int(pid_text)
    return pid != os.getpid() and bool(process_alive(host, pid)) and runs_hunter(pid)


Transaction = Callable[[], AbstractContextManager[Session]]

# Outcome statuses a caller may see: the row's new status, or why it was not touched.
SENT, FAILED, SKIPPED, QUEUED, UNKNOWN = "sent", "failed", "skipped", "queued", "unknown"
DUPLICATE = "duplicate"  # skipped: the recipient got (or is getting) this step's message
NOT_DELIVERABLE = "not_deliverable"  # the row is not in a state this call may deliver
TAKEN = "taken"  # another sender claimed it after the caller chose it


# --- configuration ---------------------------------------------------------------------------


def daily_cap(settings: Settings, customer_slug: str, channel: str) -> int | None:
    """Most messages of channel the customer may send in a UTC day: [customers.<slug>.
    daily_caps], else [limits.daily_caps], else no cap."""
    for where, table in (
        (f"customers.{customer_slug}.daily_caps", customer_table(settings, customer_slug)),
        ("limits.daily_caps", settings.section("limits")),
    ):
        caps = table.get("daily_caps") or {}
        if not isinstance(caps, Mapping):
            raise ConfigError(f"[{where}] in hunter.toml must be a table")
        if channel in caps:
            value = caps[channel]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"[{where}] {channel} must be a whole number >= 0")
            return value
    return None


def day_start(now: datetime | None = None) -> datetime:
    return (now or utcnow()).replace(hour=0, minute=0, second=0, microsecond=0)


def sent_today(
    session: Session, customer_id: uuid.UUID, channel: str, now: datetime | None = None
) -> int:
    """Messages of channel sent (or being sent) for the customer since 00:00 UTC."""
    start = day_start(now)
    query = select(func.count()).where(
        OutboxMessage.customer_id == customer_id,
        OutboxMessage.channel == channel,
        or_(
            and_(OutboxMessage.status == "sent", OutboxMessage.sent_at >= start),
            and_(OutboxMessage.status == "sending", OutboxMessage.sending_at >= start),
        ),
    )
    return int(session.scalar(query) or 0)


def _lock_cap(session: Session, customer_id: uuid.UUID, channel: str) -> None:
    """Serialise count-then-claim per customer and channel, so two processes cannot both take
    the last message under the cap."""
    from hunter_cli.db.engine import serialise_on

    serialise_on(session, f"cap:{customer_id}:{channel}")


# --- outcomes --------------------------------------------------------------------------------


@dataclass
class Outcome:
    message_id: uuid.UUID
    channel: str
    recipient: str  # fit to show (webhook URLs without their query)
    status: str
    reason: str | None = None
    provider_message_id: str | None = None
    previous_status: str | None = None
    # Back in the queue because the provider said "later" (not a cap, not a channel down).
    retry_later: bool = False
    # Left queued because its channel cannot deliver now (unreachable, login refused).
    channel_down: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.message_id),
            "channel": self.channel,
            "recipient": self.recipient,
            "status": self.status,
            "reason": self.reason,
            "provider_message_id": self.provider_message_id,
        }


# --- the deliverer ---------------------------------------------------------------------------


class Deliverer:
    """Delivers outbox messages by id. `transaction()` gives a session in a new transaction
    that commits when the block ends; providers are built once per channel and closed by
    `close()`."""

    def __init__(
        self,
        transaction: Transaction,
        settings: Settings,
        *,
        actor: str,
        environ: Mapping[str, str] | None = None,
        step_id: str | None = None,
        check: Callable[[], None] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.transaction = transaction
        self.progress = progress  # (done, total) as deliver() goes: for people watching
        self.settings = settings
        self.actor = actor
        self.environ = os.environ if environ is None else environ
        self.step_id = step_id
        self.check = check or (lambda: None)
        self._providers: dict[str, ChannelProvider] = {}
        self.down: dict[str, str] = {}  # channel -> why it cannot deliver now
        # What the last deliver() did so far: when Ctrl-C or SIGTERM stops it, what was sent
        # before (and the message cut off mid-call, as unknown) is still known.
        self.done: list[Outcome] = []

    def provider(self, channel: str) -> ChannelProvider:
        """The channel's provider (ChannelConfigError when it cannot work as configured)."""
        if channel not in self._providers:
            self._providers[channel] = build_provider(
                channel, self.settings.section("channels"), self.environ
            )
        return self._providers[channel]

    def close(self) -> None:
        for provider in self._providers.values():
            provider.close()
        self._providers.clear()

    def __enter__(self) -> Deliverer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def deliver(
        self,
        message_ids: Iterable[uuid.UUID],
        *,
        force_unknown: bool = False,
        retry_failed: bool = False,
        seen: Mapping[uuid.UUID, str] | None = None,
        seen_attempts: Mapping[uuid.UUID, int] | None = None,
    ) -> list[Outcome]:
        """Deliver each message that is `queued` (or `failed` with retry_failed, or `sending`
        with force_unknown); report what became of each, in order.

        `seen` is the status each message had when the caller chose it (a list of queued
        messages, say). One seen in a status this call may deliver that has left it since,
        or that another process claims first, was taken by a concurrent sender: `taken`.
        One not deliverable already when seen (or not in `seen`) is `not_deliverable`.
        `seen_attempts` is each message's attempt count then: a message in `sending` whose
        count has grown since was claimed by another --force-unknown, and is `taken`."""
        allowed = {"queued"}
        if retry_failed:
            allowed.add("failed")
        if force_unknown:
            allowed.add("sending")
        seen = seen or {}
        seen_attempts = seen_attempts or {}
        self.done = []
        ids = list(message_ids)
        for message_id in ids:
            if self.progress is not None:
                self.progress(len(self.done), len(ids))
            self.done.append(
                self._deliver_one(
                    message_id, allowed, seen.get(message_id), seen_attempts.get(message_id)
                )
            )
        if self.progress is not None and ids:
            self.progress(len(ids), len(ids))
        return list(self.done)

    # -- one message -------------------------------------------------------------------------
    def _deliver_one(
        self,
        message_id: uuid.UUID,
        allowed: set[str],
        seen_status: str | None,
        seen_attempts: int | None,
    ) -> Outcome:
        self.check()
        with self.transaction() as session:
            row = session.get(OutboxMessage, message_id)
            if row is None:
                return Outcome(message_id, "?", "?", NOT_DELIVERABLE, "no such message")
            outcome = Outcome(
                row.id,
                row.channel,
                display_recipient(row.channel, row.recipient),
                row.status,
                previous_status=row.status,
            )
            if row.status not in allowed:
                if seen_status in allowed:  # deliverable when the caller chose it
                    outcome.status, outcome.reason = TAKEN, _taken(row)
                else:
                    outcome.status, outcome.reason = NOT_DELIVERABLE, _why_not(row)
                return outcome
            # `sending` -> `sending` changes no status: the attempt count tells whether
            # another sender claimed it since the caller (or this transaction) looked.
            attempts = row.attempts or 0
            if row.status == "sending" and seen_attempts not in (None, attempts):
                outcome.status, outcome.reason = TAKEN, "being sent by another process"
                return outcome
            if row.status == "sending" and _in_flight(row.error):
                # A live sender here is delivering it now: --force-unknown is for a message
                # whose sender stopped, never for one under way (it went out twice).
                outcome.status, outcome.reason = TAKEN, "being sent by another process"
                return outcome
            if row.channel in self.down:
                outcome.status, outcome.channel_down = QUEUED, True
                outcome.reason = f"not attempted: {self.down[row.channel]}"
                return outcome
            provider = self.provider(row.channel)
            customer = session.get(Customer, row.customer_id)
            assert customer is not None

            entry = find_suppression(session, row.customer_id, row.channel, row.recipient)
            if entry is not None:
                return self._skip(session, row, outcome, SKIPPED, suppression_reason(entry))

            duplicate = _delivered_elsewhere(session, row)
            if duplicate is not None:
                return self._skip(session, row, outcome, DUPLICATE, duplicate)

            cap = daily_cap(self.settings, customer.slug, row.channel)
            if cap is not None:
                _lock_cap(session, row.customer_id, row.channel)
                if sent_today(session, row.customer_id, row.channel) >= cap:
                    reason = (
                        f"daily cap reached: {cap} {row.channel} message(s) a day for "
                        f"{customer.slug}; it stays queued (`hunter outbox send` later)"
                    )
                    self._audit(session, row, "delivery.deferred", reason=reason)
                    outcome.status, outcome.reason = QUEUED, reason
                    return outcome

            claimed = self._move(
                session,
                row,
                row.status,
                expected_attempts=attempts,
                status="sending",
                sending_at=utcnow(),
                attempts=OutboxMessage.attempts + 1,
                provider=provider.name,
                # Who has it, until its outcome replaces this: a process that dies mid-call
                # leaves it, and --force-unknown can tell that message from one under way.
                error=f"{IN_FLIGHT} {os.getpid()} on {HOST}",
            )
            if not claimed:
                outcome.status, outcome.reason = TAKEN, "another process took it first"
                return outcome
            previous = outcome.previous_status
            self._audit(
                session,
                row,
                "delivery.sending",
                provider=provider.name,
                previous_status=previous if previous != "queued" else None,
            )
            outgoing = to_outgoing(row, customer=customer.slug)
        # Committed: from here on a crash leaves the row in `sending`, never re-sent blindly.
        try:
            receipt = provider.send(outgoing)
        except DeliveryError as exc:
            return self._record_error(outcome, provider.name, exc)
        except BaseException as exc:  # a bug or an interrupt mid-call: the outcome is unknown
            if getattr(exc, "between_attempts", False):
                self._requeue_stopped(outcome, provider.name, exc)  # nothing was taken
            else:
                self._record_unknown(outcome, provider.name, exc)
            self.done.append(outcome)
            raise
        with self.transaction() as session:
            row = session.get(OutboxMessage, message_id)
            assert row is not None
            self._move(
                session,
                row,
                "sending",
                status="sent",
                sent_at=utcnow(),
                provider_message_id=receipt.provider_message_id,
                error=None,
            )
            self._audit(
                session,
                row,
                "delivery.sent",
                provider=receipt.provider,
                provider_message_id=receipt.provider_message_id,
            )
        outcome.status, outcome.provider_message_id = SENT, receipt.provider_message_id
        return outcome

    def _record_error(self, outcome: Outcome, provider: str, exc: DeliveryError) -> Outcome:
        with self.transaction() as session:
            row = session.get(OutboxMessage, outcome.message_id)
            assert row is not None
            if exc.channel_down:
                # Nothing left: back in the queue, and the batch stops for this channel.
                self.down[row.channel] = exc.message
                self._move(session, row, "sending", status="queued", error=exc.message)
                self._audit(
                    session,
                    row,
                    "delivery.failed",
                    provider=provider,
                    reason=exc.message,
                    requeued=True,
                )
                outcome.status, outcome.reason, outcome.channel_down = QUEUED, exc.message, True
            elif exc.retry_later:
                # Refused for now (nothing accepted): back in the queue; the batch goes on.
                self._move(session, row, "sending", status="queued", error=exc.message)
                self._audit(
                    session, row, "delivery.deferred", provider=provider, reason=exc.message
                )
                outcome.status, outcome.reason, outcome.retry_later = QUEUED, exc.message, True
            elif exc.outcome_unknown:
                reason = f"outcome unknown: {exc.message}"
                self._move(session, row, "sending", error=reason)
                self._audit(session, row, "delivery.unknown", provider=provider, reason=reason)
                outcome.status, outcome.reason = UNKNOWN, reason
            else:
                self._move(session, row, "sending", status="failed", error=exc.message)
                self._audit(session, row, "delivery.failed", provider=provider, reason=exc.message)
                outcome.status, outcome.reason = FAILED, exc.message
        return outcome

    def _requeue_stopped(self, outcome: Outcome, provider: str, exc: BaseException) -> None:
        """Stopped while waiting to try again after an answer that took nothing (a 429, a
        4xx): back in the queue for a later send, as when the tries run out."""
        reason = (
            "stopped while waiting to try again (nothing was sent): it stays queued for a "
            "later `hunter outbox send`"
        )
        try:
            with self.transaction() as session:
                row = session.get(OutboxMessage, outcome.message_id)
                if row is not None:
                    self._move(session, row, "sending", status="queued", error=reason)
                    self._audit(session, row, "delivery.deferred", provider=provider, reason=reason)
        except Exception:  # the stop matters more; left `sending`, it is only not resent
            pass
        outcome.status, outcome.reason = QUEUED, reason

    def _record_unknown(self, outcome: Outcome, provider: str, exc: BaseException) -> None:
        from hunter_cli.interrupts import Stopped

        if isinstance(exc, KeyboardInterrupt):
            what = "SIGTERM" if isinstance(exc, Stopped) else "interrupted"
        else:
            what = type(exc).__name__
        reason = f"outcome unknown: delivery stopped mid-call ({what})"
        try:
            with self.transaction() as session:
                row = session.get(OutboxMessage, outcome.message_id)
                if row is not None:
                    self._move(session, row, "sending", error=reason)
                    self._audit(session, row, "delivery.unknown", provider=provider, reason=reason)
        except Exception:  # the original error matters more; the row stays `sending` anyway
            pass
        outcome.status, outcome.reason = UNKNOWN, reason

    # -- helpers -----------------------------------------------------------------------------
    def _skip(
        self, session: Session, row: OutboxMessage, outcome: Outcome, status: str, reason: str
    ) -> Outcome:
        """Mark a message skipped (suppressed, or reached by another run) before sending;
        `taken` if another process moved it first."""
        if self._move(session, row, row.status, status="skipped", error=reason):
            self._audit(session, row, "delivery.skipped", reason=reason)
            outcome.status, outcome.reason = status, reason
        else:
            outcome.status, outcome.reason = TAKEN, "another process took it first"
        return outcome

    @staticmethod
    def _move(
        session: Session,
        row: OutboxMessage,
        expected: str,
        *,
        expected_attempts: int | None = None,
        **values: Any,
    ) -> bool:
        """UPDATE the row only if it still has the expected status (and attempt count, when
        given); True when it did."""
        where = [OutboxMessage.id == row.id, OutboxMessage.status == expected]
        if expected_attempts is not None:
            where.append(func.coalesce(OutboxMessage.attempts, 0) == expected_attempts)
        result = session.execute(
            update(OutboxMessage)
            .where(*where)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        session.expire(row)
        return cast("CursorResult[Any]", result).rowcount == 1

    def _audit(self, session: Session, row: OutboxMessage, action: str, **extra: Any) -> None:
        # Channel, recipient, ids and reasons: never the body or any credential.
        details: dict[str, Any] = {
            "channel": row.channel,
            "recipient": display_recipient(row.channel, row.recipient),
            "message_id": str(row.id),
        }
        if row.step_id:
            details["step"] = row.step_id
        details.update({k: v for k, v in extra.items() if v not in (None, False)})
        append_audit(
            session,
            action,
            actor=self.actor,
            customer_id=row.customer_id,
            execution_id=row.execution_id,
            details=details,
        )


def _delivered_elsewhere(session: Session, row: OutboxMessage) -> str | None:
    """Why row must not go, when its recipient has been sent (or is being sent) another
    message of the same step of the same recipe for the customer since row was written (a
    failed message retried after a later run reached the person, or a draft whose twin went
    out meanwhile); None when there is none.

    The steps' once_per_recipient rule (email and SMS), as seen from the send path. A message
    sent before row was written does not count: that is what a step with
    `once_per_recipient: false` wrote row to follow. The lock is the one the step takes, so
    two senders of twins cannot both find nobody and both deliver."""
    if row.channel not in ("email", "sms") or row.execution_id is None or not row.step_id:
        return None
    from hunter_cli.db.engine import serialise_on

    serialise_on(session, f"recipients:{row.customer_id}:{row.channel}")
    recipe = select(Execution.recipe_slug).where(Execution.id == row.execution_id)
    started = func.coalesce(
        OutboxMessage.sending_at, OutboxMessage.sent_at, OutboxMessage.created_at
    )
    query = (
        step_messages(
            row.customer_id,
            row.channel,
            row.step_id,
            recipe.scalar_subquery(),
            ("sending", "sent"),
        )
        .add_columns(OutboxMessage.created_at)
        .where(
            OutboxMessage.id != row.id,
            OutboxMessage.recipient == row.recipient,
            started >= row.created_at,
        )
        .limit(1)
    )
    other = session.execute(query).first()
    if other is None:
        return None
    done = "already sent" if other.status == "sent" else "being sent (or perhaps sent)"
    run = "a later run" if other.created_at > row.created_at else "another run"
    return (
        f"duplicate: {done} to this recipient by {run} of this step (message {str(other.id)[:8]})"
    )


def _taken(row: OutboxMessage) -> str:
    """What became of a message another sender claimed after the caller chose it."""
    if row.status == "sending":
        return "being sent by another process"
    if row.status == "sent":
        return "sent by another process"
    if row.status == "failed":
        return f"taken by another process, where it failed ({row.error})"
    return f"taken by another process: now {row.status}" + (f" ({row.error})" if row.error else "")


def _why_not(row: OutboxMessage) -> str:
    if row.status == "sending":
        return (
            "it is in `sending`: an earlier delivery may have reached the recipient (check, then "
            f"`hunter outbox send {str(row.id)[:8]} --force-unknown`)"
        )
    if row.status == "failed":
        return f"it failed earlier ({row.error}); `--retry-failed` tries again"
    if row.status == "sent":
        return "already sent"
    if row.status == "skipped":
        return f"skipped: {row.error}"
    return f"it is {row.status}"


def session_transaction(bind: Any) -> Transaction:
    """A Transaction factory on an engine: each call a new session whose work commits at the
    end of the block (or rolls back on an error)."""
    from contextlib import contextmanager

    from sqlalchemy.orm import sessionmaker

    maker = sessionmaker(bind=bind, expire_on_commit=False)

    @contextmanager
    def transaction():
        with maker() as session, session.begin():
            yield session

    return transaction
