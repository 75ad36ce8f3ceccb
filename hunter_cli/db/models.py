"""The typed data model: the eight entities of the original system."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from hunter_cli.db.types import JSONType, Money, UTCDateTime, utcnow


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONType(), list[Any]: JSONType()}


def table_of(model: type[Base]) -> Table:
    """A model's Core table, typed as one: hot paths write with Core statements."""
    return cast(Table, model.__table__)


def _id() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[uuid.UUID] = _id()
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = _created()

    subscriptions: Mapped[list[Subscription]] = relationship(back_populates="customer")


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[uuid.UUID] = _id()
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()


class SubscriptionPlan(Base):
    __tablename__ = "subscription_plans"

    id: Mapped[uuid.UUID] = _id()
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    monthly_credits: Mapped[Decimal] = mapped_column(Money)
    price: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    rollover: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()


class Subscription(Base):
    """A customer's plan and its credit balance. Every change is mirrored by a ledger row."""

    __tablename__ = "subscriptions"

    id: Mapped[uuid.UUID] = _id()
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subscription_plans.id"))
    status: Mapped[str] = mapped_column(String(20), default="active")
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    credits_granted: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    credits_used: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    credits_held: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="subscriptions")
    plan: Mapped[SubscriptionPlan] = relationship()

    @property
    def credits_available(self) -> Decimal:
        return self.credits_granted - self.credits_used - self.credits_held


class Recipe(Base):
    """A registered version of a recipe file; a changed file makes a new version."""

    __tablename__ = "recipes"
    __table_args__ = (
        UniqueConstraint("slug", "version"),
        UniqueConstraint("slug", "content_hash"),
    )

    id: Mapped[uuid.UUID] = _id()
    slug: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    source_path: Mapped[str | None] = mapped_column(Text)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agents.id"))
    created_at: Mapped[datetime] = _created()


class Execution(Base):
    """One run of a recipe for a customer."""

    __tablename__ = "executions"

    id: Mapped[uuid.UUID] = _id()
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    recipe_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("recipes.id"))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agents.id"))
    recipe_slug: Mapped[str] = mapped_column(String(100))
    recipe_version: Mapped[int | None] = mapped_column(Integer)
    recipe_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSONType())
    steps: Mapped[list[Any]] = mapped_column(default=list)
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    error: Mapped[str | None] = mapped_column(Text)
    credits_reserved: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    credits_used: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    actor: Mapped[str | None] = mapped_column(String(200))
    # Where the run's process is (was): a run left `running` by a dead process is resumable.
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    # Run with --send: a resumption delivers too (else it would finish the run as a dry one).
    # None: run before this was recorded (migration 0007), so not known.
    send: Mapped[bool | None] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CreditTransaction(Base):
    """The credits ledger: one row per change of a balance, never updated."""

    __tablename__ = "credit_transactions"

    id: Mapped[uuid.UUID] = _id()
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    execution_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("executions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Money)
    balance_after: Mapped[Decimal] = mapped_column(Money)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()


class AuditLog(Base):
    """The append-only, hash-chained audit trail."""

    __tablename__ = "audit_logs"
    __table_args__ = (Index("ix_audit_logs_customer_seq", "customer_id", "seq"),)

    id: Mapped[uuid.UUID] = _id()
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    created_at: Mapped[datetime] = _created()
    actor: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    execution_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    action: Mapped[str] = mapped_column(String(100), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Lead(Base):
    """A person found for a customer. One row per customer per normalised email (or domain
    plus name where there is no email): finding them again updates last_seen."""

    __tablename__ = "leads"
    __table_args__ = (UniqueConstraint("customer_id", "dedupe_key"),)

    id: Mapped[uuid.UUID] = _id()
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    dedupe_key: Mapped[str] = mapped_column(String(400))
    name: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    company: Mapped[str | None] = mapped_column(String(200))
    domain: Mapped[str | None] = mapped_column(String(255), index=True)
    source: Mapped[dict[str, Any]] = mapped_column(default=dict)
    score: Mapped[int | None] = mapped_column(Integer)
    tier: Mapped[str | None] = mapped_column(String(1), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    first_seen: Mapped[datetime] = _created()
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxMessage(Base):
    """A message a recipe asked to send. Dry runs stop here; its key makes every send
    exactly-once per (execution, step, recipient)."""

    __tablename__ = "outbox_messages"
    # Who else of the customer's got a message to this recipient (the send path's duplicate
    # check, once per message).
    __table_args__ = (
        Index(
            "ix_outbox_messages_customer_channel_recipient", "customer_id", "channel", "recipient"
        ),
    )

    id: Mapped[uuid.UUID] = _id()
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    execution_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("executions.id"))
    step_id: Mapped[str | None] = mapped_column(String(100))
    message_key: Mapped[str] = mapped_column(String(400), unique=True)
    channel: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str] = mapped_column(String(400))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # queued -> sending -> sent | failed; skipped (suppressed, capped, invalid). A message
    # found in `sending` after a crash is never sent again automatically.
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider: Mapped[str | None] = mapped_column(String(50))
    provider_message_id: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[datetime] = _created()
    sending_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class AiResponseCache(Base):
    """AI answers keyed by provider, model, messages and parameters: the same prompt is not
    paid for twice (`--no-cache` bypasses it)."""

    __tablename__ = "ai_response_cache"

    id: Mapped[uuid.UUID] = _id()
    cache_key: Mapped[str] = mapped_column(String(64), unique=True)
    provider: Mapped[str] = mapped_column(String(50))
    model: Mapped[str] = mapped_column(String(200))
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    response_text: Mapped[str] = mapped_column(Text)
    usage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = _created()


class Suppression(Base):
    """Who a customer must never contact: an email address, a whole domain or a phone."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("customer_id", "kind", "value"),)

    id: Mapped[uuid.UUID] = _id()
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # email | domain | phone
    value: Mapped[str] = mapped_column(String(320))  # normalised
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(30), default="manual")
    created_at: Mapped[datetime] = _created()
