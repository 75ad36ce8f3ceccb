"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, DateTime, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

CREDIT_SCALE = 4
_FACTOR = Decimal(10) ** CREDIT_SCALE
QUANT = Decimal(1).scaleb(-CREDIT_SCALE)


class JSONType(TypeDecorator):
    """JSONB on PostgreSQL (indexable, compact), JSON text on SQLite. The PostgreSQL dialect
    is imported only when it is used: it is slow to import and SQLite users never need it."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect):
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


def to_credits(value: Decimal | int | str | float) -> Decimal:
    """Credits are exact to 4 decimal places; floats are converted through str, never binary."""
    if isinstance(value, float):
        value = str(value)
    return Decimal(value).quantize(QUANT)


class Money(TypeDecorator):
    """Exact Decimal amounts: NUMERIC on PostgreSQL; on SQLite (whose NUMERIC is a float)
    an integer count of ten-thousandths, so sums stay exact."""

    impl = Numeric(18, CREDIT_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, CREDIT_SCALE, asdecimal=True))

    def process_bind_param(self, value, dialect: Dialect):
        if value is None:
            return None
        amount = to_credits(value)
        if dialect.name == "sqlite":
            return int(amount * _FACTOR)
        return amount

    def process_result_value(self, value, dialect: Dialect):
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / _FACTOR).quantize(QUANT)
        return Decimal(value).quantize(QUANT)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both backends (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect):
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # SQLite's DATETIME text, "2026-01-02 03:04:05.000006" (SQLAlchemy's storage format),
        # written by isoformat: every run binds a dozen timestamps, and the format string
        # filled from a dict cost several times as much.
        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
            return value.isoformat(" ", "microseconds")

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
