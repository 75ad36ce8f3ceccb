"""Finding customers by slug, name or id, the way people type them."""

from __future__ import annotations

import contextlib
import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from hunter_cli.db.models import Customer, table_of
from hunter_cli.db.prepared import Prepared
from hunter_cli.errors import NotFoundError, UsageError, ValidationError

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


# How most commands take a customer; one that takes it otherwise says so (`missing=`).
BY_OPTION = "pass --customer"


def _needle(ref: str | None, missing: str = BY_OPTION) -> tuple[str, uuid.UUID | None]:
    if ref is None:
        raise UsageError(
            f"no customer given: {missing}, set HUNTER_CUSTOMER or set default_customer "
            "in hunter.toml's [workspace]"
        )
    if not ref.strip():  # `credits grant "" 5`: given, and empty
        raise UsageError("the customer given is empty: give a customer's slug, name or id")
    # NFC, as names are stored: "Zéta" typed with a combining accent is the same name.
    needle = unicodedata.normalize("NFC", ref.strip()).lower()
    as_id = None
    if len(needle) >= 32:  # only then can it be an id; raising for every slug costs a run
        with contextlib.suppress(ValueError):  # not an id: slug and name still match
            as_id = uuid.UUID(needle)
    return needle, as_id


_Found = TypeVar("_Found", Customer, CustomerRef)


def _folded(text: str) -> str:
    """Text compared ignoring case and Unicode form (Unicode's canonical caseless match)."""
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", text.strip()).casefold())


def _folded_match(session: Session, needle: str) -> list[uuid.UUID]:
    """The ids of customers whose slug or name equals needle ignoring case in every script.
    SQLite's lower() folds only ASCII ("ÖKO Partners" did not match itself there), and a name
    stored before names were NFC may be decomposed, so a miss in SQL is looked for again
    here; the customers table is small and this is the rare path."""
    folded = _folded(needle)
    rows = session.execute(select(_CUSTOMERS.c.id, _CUSTOMERS.c.slug, _CUSTOMERS.c.name)).all()
    return [row.id for row in rows if folded in (_folded(row.slug), _folded(row.name or ""))]


def _pick(session: Session, ref: str, needle: str, found: list[_Found]) -> _Found:
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        exact = [c for c in found if c.slug.lower() == needle]
        if exact:
            return exact[0]
        slugs = ", ".join(sorted(c.slug for c in found))
        raise UsageError(
            f"customer {ref!r} is ambiguous: it is the name of {slugs}; give the slug instead"
        )
    known = session.scalars(select(Customer.slug).order_by(Customer.slug)).all()
    hint = ", ".join(known) if known else "none yet: run `hunter seed`"
    raise NotFoundError(f"unknown customer {ref!r}; known customers: {hint}")


def resolve_customer(session: Session, ref: str | None, *, missing: str = BY_OPTION) -> Customer:
    """Match case-insensitively on slug, then name, then id; a miss lists the known ones.
    missing: how the command takes a customer, for the message when ref is None."""
    needle, as_id = _needle(ref, missing)
    found = list(session.scalars(_MATCH, {"needle": needle, "id": as_id}).all())
    if not found and not needle.isascii():
        ids = _folded_match(session, needle)
        found = list(session.scalars(select(Customer).where(Customer.id.in_(ids)))) if ids else []
    return _pick(session, ref or "", needle, found)


def find_customer(session: Session, ref: str | None) -> CustomerRef:
    """resolve_customer's match, as plain values: what a run reads on every start."""
    needle, as_id = _needle(ref)
    rows: list[Any] = list(_MATCH_ROWS.execute(session, {"needle": needle, "id": as_id}).all())
    if not rows and not needle.isascii():
        ids = _folded_match(session, needle)
        query = select(
            _CUSTOMERS.c.id,
            _CUSTOMERS.c.slug,
            _CUSTOMERS.c.name,
            _CUSTOMERS.c.email,
            _CUSTOMERS.c.settings,
        ).where(_CUSTOMERS.c.id.in_(ids))
        rows = list(session.execute(query).all()) if ids else []
    return _pick(session, ref or "", needle, [CustomerRef(*row) for row in rows])


def list_customers(session: Session) -> list[Customer]:
    return list(session.scalars(select(Customer).order_by(Customer.slug)))


# --- adding and changing customers ---------------------------------------------------------

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
# What an email step sends as: the customer's own sender, not the demo's.
SENDER_SETTINGS = ("from_email", "from_name", "reply_to", "postal_address")
_LIMITS = {"name": 200, "from_name": 200, "postal_address": 500}


def _checked_email(value: str, what: str) -> str:
    from hunter_cli.addresses import addresses_in
    from hunter_cli.outbox import check_email

    if len(addresses_in(value)) > 1:
        # check_email keeps the first of "a@b.example, c@d.example": the rest were lost.
        raise ValidationError(f"{what}: {value!r} holds more than one address; give one")
    found = check_email(value)
    if found.error is not None:
        raise ValidationError(f"{what}: {found.error}")
    return found.value


def _display_name(address: str) -> str | None:
    """The name in `Acme Growth <growth@acme.example>`, or None."""
    from hunter_cli.outbox import check_email

    name = (check_email(address).name or "").strip()
    return unicodedata.normalize("NFC", name) if name else None


def _with_sender_name(changes: dict[str, str | None]) -> dict[str, str | None]:
    """--from-email "Acme Growth <growth@acme.example>" names the sender too: its name is the
    from_name when --from-name is not given, and must agree with it when it is."""
    named = _display_name(changes.get("from_email") or "")
    if named is None:
        return changes
    given = changes.get("from_name")
    if given is None:
        return {**changes, "from_name": named}
    if unicodedata.normalize("NFC", given.strip()) != named:
        raise ValidationError(
            f"from-email names the sender {named!r} but from-name says {given.strip()!r}: "
            "give the name once, in --from-name"
        )
    return changes


def _checked_fields(changes: dict[str, str | None]) -> dict[str, str | None]:
    """Trimmed, NFC and checked values; None or "" clears a setting (not the name)."""
    from hunter_cli.text_hygiene import control_character

    checked: dict[str, str | None] = {}
    for field, raw in _with_sender_name(changes).items():
        # One Unicode form, or "Zéta" typed with a combining accent is a second "Zéta".
        value = unicodedata.normalize("NFC", raw.strip()) if raw is not None else None
        if not value:
            if field == "name":
                raise ValidationError("a customer's name cannot be empty")
            checked[field] = None
            continue
        if (what := control_character(value)) is not None:
            # A line break in a sender's name became a header (Bcc:, a new From) of its own.
            raise ValidationError(
                f"{field.replace('_', '-')} contains {what}: give it as one line of text, "
                "without tabs, line breaks or other control characters"
            )
        if field in ("email", "from_email", "reply_to"):
            value = _checked_email(value, field.replace("_", "-"))
        elif len(value) > _LIMITS.get(field, 320):
            raise ValidationError(f"{field.replace('_', '-')} is longer than {_LIMITS[field]}")
        checked[field] = value
    return checked


def _name_taken(session: Session, name: str, but: uuid.UUID | None = None) -> str | None:
    """The slug of another customer with this name (names find customers too)."""
    folded = _folded(name)
    for row in session.execute(select(_CUSTOMERS.c.id, _CUSTOMERS.c.slug, _CUSTOMERS.c.name)):
        if row.id != but and folded in (_folded(row.name), _folded(row.slug)):
            return str(row.slug)
    return None


def customer_to_dict(customer: Customer) -> dict[str, Any]:
    settings = customer.settings or {}
    return {
        "id": str(customer.id),
        "slug": customer.slug,
        "name": customer.name,
        "email": customer.email,
        **{key: settings.get(key) for key in SENDER_SETTINGS},
        "created_at": customer.created_at.isoformat(),
    }


def customer_summary(session: Session, customer: Customer) -> dict[str, Any]:
    """customer_to_dict with its active plan (by name) and the credits available on it: what
    `customers show`, `add` and `update` print."""
    from hunter_cli import ledger

    active = next((b for b in ledger.balances(session, customer) if b.status == "active"), None)
    return {
        **customer_to_dict(customer),
        "plan": active.plan if active else None,
        "available": str(active.available) if active else None,
    }


def create_customer(
    session: Session,
    slug: str,
    *,
    name: str | None,
    plan: str,
    actor: str,
    email: str | None = None,
    sender: dict[str, str | None] | None = None,
) -> Customer:
    """A new customer on `plan`, its allowance for the first period granted, audited."""
    from hunter_cli import ledger
    from hunter_cli.audit import append_audit

    slug = slug.strip()
    if not _SLUG.match(slug):
        raise ValidationError(
            f"customer slug {slug!r} must be lower-case letters, digits, - and _ (at most "
            "100, starting with a letter or digit), e.g. acme-eu"
        )
    if session.scalars(select(Customer.id).where(Customer.slug == slug)).first() is not None:
        raise UsageError(
            f"customer {slug!r} exists already: `hunter customers update {slug}` changes it"
        )
    if (other := _name_taken(session, slug)) is not None:
        # Else `credits grant delta` would move from customer bravo (named "delta") to this.
        raise UsageError(
            f"the slug {slug!r} is already customer {other!r}'s name (names select customers "
            "too, so a slug must differ from every name)"
        )
    fields = _checked_fields({"name": name or slug, "email": email, **(sender or {})})
    if (other := _name_taken(session, str(fields["name"]))) is not None:
        raise UsageError(
            f"the name {fields['name']!r} is already customer {other!r}'s (names select "
            "customers too, so they must differ)"
        )
    subscription_plan = ledger.ensure_plan(session, plan)
    settings = {k: v for k in SENDER_SETTINGS if (v := fields.get(k))}
    customer = Customer(
        slug=slug, name=str(fields["name"]), email=fields.get("email"), settings=settings
    )
    session.add(customer)
    session.flush()
    append_audit(
        session,
        "customer.create",
        actor=actor,
        customer_id=customer.id,
        details={"slug": slug, "name": customer.name, "plan": plan, **settings},
    )
    ledger.start_subscription(
        session, customer, subscription_plan, actor=actor, key="customer:allowance:{sub}"
    )
    return customer


def update_customer(
    session: Session, ref: str, changes: dict[str, str | None], *, actor: str
) -> tuple[Customer, dict[str, list[Any]]]:
    """Change a customer's name, contact email or sender settings ("" clears a setting);
    returns the customer and what changed (field -> [before, after]), audited."""
    from hunter_cli.audit import append_audit

    customer = resolve_customer(session, ref)
    if not changes:
        raise UsageError(
            "nothing to change: give --name, --email, --from-email, --from-name, --reply-to "
            "or --postal-address"
        )
    fields = _checked_fields(changes)
    if "name" in fields and (other := _name_taken(session, str(fields["name"]), customer.id)):
        raise UsageError(f"the name {fields['name']!r} is already customer {other!r}'s")
    settings = dict(customer.settings or {})
    changed: dict[str, list[Any]] = {}
    for field, value in fields.items():
        if field in SENDER_SETTINGS:
            before = settings.get(field)
            if value is None:
                settings.pop(field, None)
            else:
                settings[field] = value
        else:
            before = getattr(customer, field)
            setattr(customer, field, value)
        if before != value:
            changed[field] = [before, value]
    customer.settings = settings
    if changed:
        append_audit(
            session,
            "customer.update",
            actor=actor,
            customer_id=customer.id,
            details={"slug": customer.slug, "changed": changed},
        )
    return customer, changed
