"""Finding customers by slug, name or id, the way people type them."""

from __future__ import annotations

import contextlib
import uuid

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from hunter_cli.db.models import Customer
from hunter_cli.errors import NotFoundError, UsageError

# Built once: every run resolves its customer, and building the query cost more than
# running it. An id of NULL matches nothing.
_MATCH = select(Customer).where(
    or_(
        func.lower(Customer.slug) == bindparam("needle"),
        func.lower(Customer.name) == bindparam("needle"),
        Customer.id == bindparam("id"),
    )
)


def resolve_customer(session: Session, ref: str | None) -> Customer:
    """Match case-insensitively on slug, then name, then id; a miss lists the known ones."""
    if not ref:
        raise UsageError(
            "no customer given: pass --customer or set default_customer in hunter.toml"
        )
    needle = ref.strip().lower()
    as_id = None
    with contextlib.suppress(ValueError):  # not an id: slug and name still match
        as_id = uuid.UUID(needle)
    found = session.scalars(_MATCH, {"needle": needle, "id": as_id}).all()
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        exact = [c for c in found if c.slug.lower() == needle]
        if exact:
            return exact[0]
    known = session.scalars(select(Customer.slug).order_by(Customer.slug)).all()
    hint = ", ".join(known) if known else "none yet: run `hunter seed`"
    raise NotFoundError(f"unknown customer {ref!r}; known customers: {hint}")


def list_customers(session: Session) -> list[Customer]:
    return list(session.scalars(select(Customer).order_by(Customer.slug)))
