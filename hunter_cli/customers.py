"""Finding customers by slug, name or id, the way people type them."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from hunter_cli.db.models import Customer, table_of
from hunter_cli.db.prepared import Prepared
from hunter_cli.errors import NotFoundError, UsageError

_CUSTOMERS = table_of(Customer)
# Slug, then name, case-insensitively, or the id; an id of NULL matches nothing. Built once:
# every run resolves its customer, and building the query cost more than running it.
_MATCHES = or_(
    func.lower(_CUSTOMERS.c.slug) == bindparam("needle"),
    func.lower(_CUSTOMERS.c.name) == bindparam("needle"),
    _CUSTOMERS.c.id == bindparam("id", type_=_CUSTOMERS.c.id.type),
)
_MATCH = select(Customer).where(_MATCHES)
# The same match as plain values, for a run: it needs the customer's fields, not an ORM object.
_MATCH_ROWS = Prepared(
    select(
        _CUSTOMERS.c.id,
        _CUSTOMERS.c.slug,
        _CUSTOMERS.c.name,
        _CUSTOMERS.c.email,
        _CUSTOMERS.c.settings,
    ).where(_MATCHES)
)


@dataclass(frozen=True)
class CustomerRef:
    """A customer's fields as read for a run (no ORM object to track)."""

    id: uuid.UUID
    slug: str
    name: str
    email: str | None
    settings: dict[str, Any] | None


def _needle(ref: str | None) -> tuple[str, uuid.UUID | None]:
    if not ref:
        raise UsageError(
            "no customer given: pass --customer, set HUNTER_CUSTOMER or set default_customer "
            "in hunter.toml's [workspace]"
        )
    needle = ref.strip().lower()
    as_id = None
    with contextlib.suppress(ValueError):  # not an id: slug and name still match
        as_id = uuid.UUID(needle)
    return needle, as_id


_Found = TypeVar("_Found", Customer, CustomerRef)


def _pick(session: Session, ref: str, needle: str, found: list[_Found]) -> _Found:
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        exact = [c for c in found if c.slug.lower() == needle]
        if exact:
            return exact[0]
    known = session.scalars(select(Customer.slug).order_by(Customer.slug)).all()
    hint = ", ".join(known) if known else "none yet: run `hunter seed`"
    raise NotFoundError(f"unknown customer {ref!r}; known customers: {hint}")


def resolve_customer(session: Session, ref: str | None) -> Customer:
    """Match case-insensitively on slug, then name, then id; a miss lists the known ones."""
    needle, as_id = _needle(ref)
    found = list(session.scalars(_MATCH, {"needle": needle, "id": as_id}).all())
    return _pick(session, ref or "", needle, found)


def find_customer(session: Session, ref: str | None) -> CustomerRef:
    """resolve_customer's match, as plain values: what a run reads on every start."""
    needle, as_id = _needle(ref)
    rows = _MATCH_ROWS.execute(session, {"needle": needle, "id": as_id}).all()
    return _pick(session, ref or "", needle, [CustomerRef(*row) for row in rows])


def list_customers(session: Session) -> list[Customer]:
    return list(session.scalars(select(Customer).order_by(Customer.slug)))
