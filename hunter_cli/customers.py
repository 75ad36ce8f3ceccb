"""Finding customers by slug, name or id, the way people type them."""

from __future__ import annotations

import contextlib
import uuid

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hunter_cli.db.models import Customer
from hunter_cli.errors import NotFoundError, UsageError


def resolve_customer(session: Session, ref: str | None) -> Customer:
    """Match case-insensitively on slug, then name, then id; a miss lists the known ones."""
    if not ref:
        raise UsageError(
            "no customer given: pass --customer or set default_customer in hunter.toml"
        )
    needle = ref.strip().lower()
    conditions = [func.lower(Customer.slug) == needle, func.lower(Customer.name) == needle]
    with contextlib.suppress(ValueError):  # not an id: slug and name still match
        conditions.append(Customer.id == uuid.UUID(needle))
    found = session.scalars(select(Customer).where(or_(*conditions))).all()
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
