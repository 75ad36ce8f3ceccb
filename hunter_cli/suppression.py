"""The suppression list: e-mail addresses, whole domains and phone numbers a customer must
never contact. Checked when a message is queued and again right before it is delivered.

A domain covers itself and its subdomains: suppressing example.com blocks ann@example.com
and bob@mail.example.com, but not ann@notexample.com. An address covers its plus-addressed
forms: bob@x.example blocks bob+promo@x.example (not the other way round). Every add and
remove is audited.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hunter_cli.addresses import address_forms, addresses_in, ascii_domain
from hunter_cli.audit import append_audit
from hunter_cli.db.models import Customer, Suppression
from hunter_cli.errors import NotFoundError, UsageError
from hunter_cli.outbox import check_email, check_phone
from hunter_cli.text_hygiene import storable_text

KINDS: tuple[str, ...] = ("email", "domain", "phone")
# Carrier-standard opt-out and opt-in keywords (what Twilio acts on by default too; it added
# OPTOUT and REVOKE in 2025).
STOP_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
)
START_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})
SMS_REPLY_SOURCE = "sms_reply"

_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
# Only what people write numbers with: `(555) 010-0126` is a number (without its country
# code, so refused with how to write it), never a domain.
_PHONE_LIKE = re.compile(r"^\+?[\d\s\-().]*\d[\d\s\-().]*$")
MAX_VALUE = 320


@dataclass(frozen=True)
class SuppressionEntry:
    kind: str
    value: str


def infer_kind(value: str) -> str:
    """has @ -> email (a leading @ means a domain), only digits, spaces and + ( ) - . ->
    phone, else domain."""
    text = value.strip()
    if text.startswith("@"):
        return "domain"
    if "@" in text:
        return "email"
    if _PHONE_LIKE.match(text):
        return "phone"
    return "domain"


def normalise(value: Any, kind: str | None = None) -> SuppressionEntry:
    """The stored form of a value: lower-case address or domain, E.164 number. UsageError
    with the reason when it is not one."""
    text = "" if value is None else str(value).strip()
    if not text:
        raise UsageError("empty value")
    kind = kind or infer_kind(text)
    if kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    if kind == "email":
        if len(addresses_in(text)) > 1:  # check_email would refuse it, less helpfully
            raise UsageError(
                f"{text!r} holds more than one address: suppress each on its own "
                "(`hunter suppress import FILE` takes a file of them)"
            )
        checked = check_email(text)
        if checked.error:
            raise UsageError(checked.error)
        return SuppressionEntry("email", checked.value)
    if kind == "phone":
        checked = check_phone(text)
        if checked.error:
            raise UsageError(checked.error)
        return SuppressionEntry("phone", checked.value)
    domain = text.lower().lstrip("@").rstrip(".")
    if "://" in domain:  # a pasted URL: keep its host
        domain = domain.split("://", 1)[1].split("/", 1)[0]
    converted = ascii_domain(domain)  # IDNA 2008: straße.example is not strasse.example
    if converted is None:
        raise UsageError(f"invalid domain {text!r}")
    domain = converted
    if len(domain) > 253 or not _DOMAIN.match(domain):
        raise UsageError(f"invalid domain {text!r} (e.g. example.com)")
    return SuppressionEntry("domain", domain)


def _parent_domains(domain: str) -> list[str]:
    """mail.example.com -> [mail.example.com, example.com, com]: a suppressed domain covers
    its subdomains."""
    parts = domain.split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


def _covering_addresses(address: str) -> list[str]:
    """bob+promo+x@x.example -> [bob+promo+x@, bob+promo@, bob@x.example]: a suppressed
    address covers its plus-addressed forms (the same mailbox), never the other way round."""
    local, _, domain = address.rpartition("@")
    parts = local.split("+")
    shorter = [f"{'+'.join(parts[:i])}@{domain}" for i in range(len(parts) - 1, 0, -1)]
    return [address] + (shorter if parts[0] else [])


def find_suppression(
    session: Session, customer_id: uuid.UUID, channel: str, recipient: str
) -> Suppression | None:
    """The entry that forbids sending to recipient on channel, or None. Webhooks and push
    topics go to systems, not people: nothing suppresses them."""
    if channel == "email":
        address = check_email(recipient)
        if address.error:
            return None
        forms = address_forms(address.value)  # entries from before A-labels: both forms
        covering = [a for form in forms for a in _covering_addresses(form)]
        domains = [d for form in forms for d in _parent_domains(form.rsplit("@", 1)[1])]
        condition = or_(
            and_(Suppression.kind == "email", Suppression.value.in_(covering)),
            and_(Suppression.kind == "domain", Suppression.value.in_(domains)),
        )
    elif channel == "sms":
        number = check_phone(recipient)
        if number.error:
            return None
        condition = and_(Suppression.kind == "phone", Suppression.value == number.value)
    else:
        return None
    query = (
        select(Suppression)
        .where(Suppression.customer_id == customer_id, condition)
        .order_by(Suppression.kind.desc(), Suppression.created_at)  # phone/email before domain
        .limit(1)
    )
    return session.scalars(query).first()


def suppression_matcher(
    session: Session, customer_id: uuid.UUID, channel: str
) -> Callable[[str | None], Suppression | None]:
    """find_suppression for many recipients of one channel, with the customer's entries
    loaded once (a step writing to thousands asked the database once per recipient)."""
    kinds = {"email": ("email", "domain"), "sms": ("phone",)}.get(channel, ())
    entries: dict[tuple[str, str], Suppression] = {}
    if kinds:
        query = (
            select(Suppression)
            .where(Suppression.customer_id == customer_id, Suppression.kind.in_(kinds))
            .order_by(Suppression.created_at)
        )
        for entry in session.scalars(query):
            entries.setdefault((entry.kind, entry.value), entry)

    def match(recipient: str | None) -> Suppression | None:
        if not recipient or not entries:
            return None
        if channel == "sms":
            number = check_phone(recipient)
            return None if number.error else entries.get(("phone", number.value))
        address = check_email(recipient)
        if address.error:
            return None
        forms = address_forms(address.value)  # entries from before A-labels: both forms
        for each in (a for form in forms for a in _covering_addresses(form)):
            found = entries.get(("email", each))
            if found is not None:  # an address before its domain, as find_suppression
                return found
        domains = [d for form in forms for d in _parent_domains(form.rsplit("@", 1)[1])]
        covering = [e for d in domains if (e := entries.get(("domain", d)))]
        return min(covering, key=lambda e: e.created_at) if covering else None

    return match


def email_suppressed(session: Session, customer_id: uuid.UUID) -> Callable[[str | None], bool]:
    """A test of many addresses against the customer's email suppressions (addresses, and
    domains with their subdomains), loaded once: what find_suppression says per address."""
    match = suppression_matcher(session, customer_id, "email")
    return lambda recipient: match(recipient) is not None


def suppression_reason(entry: Suppression) -> str:
    """What a skipped message's error says."""
    what = f"domain {entry.value}" if entry.kind == "domain" else entry.value
    return f"suppressed: {what} is on the suppression list" + (
        f" ({entry.reason})" if entry.reason else ""
    )


def add_suppression(
    session: Session,
    customer: Customer,
    value: Any,
    *,
    kind: str | None = None,
    reason: str | None = None,
    source: str = "manual",
    actor: str,
) -> tuple[Suppression, bool]:
    """Add value to the customer's list; returns (entry, created). Adding one already there
    changes nothing and is not audited again."""
    entry = normalise(value, kind)
    existing = _find(session, customer.id, entry)
    if existing is not None:
        return existing, False
    row = Suppression(
        id=uuid.uuid4(),
        customer_id=customer.id,
        kind=entry.kind,
        value=entry.value[:MAX_VALUE],
        reason=storable_text((reason or "").strip()) or None,  # PostgreSQL stores no NUL
        source=source,
    )
    try:
        with session.begin_nested():  # a concurrent add of the same value wins, quietly
            session.add(row)
            session.flush()
    except IntegrityError:
        existing = _find(session, customer.id, entry)
        if existing is None:
            raise
        return existing, False
    append_audit(
        session,
        "suppression.add",
        actor=actor,
        customer_id=customer.id,
        details={"kind": row.kind, "value": row.value, "reason": row.reason, "source": source},
    )
    return row, True


def remove_suppression(
    session: Session, customer: Customer, value: Any, *, kind: str | None = None, actor: str
) -> Suppression:
    """Remove value from the customer's list (NotFoundError if it is not there)."""
    entry = normalise(value, kind)
    existing = _find(session, customer.id, entry)
    if existing is None:
        raise NotFoundError(
            f"{entry.kind} {entry.value} is not on {customer.slug}'s suppression list"
        )
    session.execute(delete(Suppression).where(Suppression.id == existing.id))
    append_audit(
        session,
        "suppression.remove",
        actor=actor,
        customer_id=customer.id,
        details={
            "kind": existing.kind,
            "value": existing.value,
            "reason": existing.reason,
            "source": existing.source,
        },
    )
    return existing


def list_suppressions(
    session: Session, customer: Customer, *, kind: str | None = None, limit: int | None = None
) -> list[Suppression]:
    if kind is not None and kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    query = select(Suppression).where(Suppression.customer_id == customer.id)
    if kind:
        query = query.where(Suppression.kind == kind)
    query = query.order_by(Suppression.created_at.desc(), Suppression.value)
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def _find(session: Session, customer_id: uuid.UUID, entry: SuppressionEntry) -> Suppression | None:
    return session.scalars(
        select(Suppression).where(
            Suppression.customer_id == customer_id,
            Suppression.kind == entry.kind,
            Suppression.value == entry.value,
        )
    ).first()


def suppression_to_dict(entry: Suppression) -> dict[str, Any]:
    return {
        "id": str(entry.id),
        "kind": entry.kind,
        "value": entry.value,
        "reason": entry.reason,
        "source": entry.source,
        "created_at": entry.created_at.isoformat() if entry.created_at else None,
    }


# --- import ----------------------------------------------------------------------------------


@dataclass
class ImportReport:
    added: int = 0
    already: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "already": self.already,
            "rejected": [{"line": line, "reason": reason} for line, reason in self.rejected],
        }


_VALUE_COLUMNS = ("value", "email", "phone", "domain", "address", "number")


def import_suppressions(
    session: Session,
    customer: Customer,
    path: str | Path,
    *,
    kind: str | None = None,
    reason: str | None = None,
    actor: str,
) -> ImportReport:
    """Add every value of a file: one per line, or CSV with a header naming a value column
    (value, email, phone or domain; optional kind and reason columns). Blank lines and lines
    starting with # are ignored; bad values are reported with their line number.

    Nothing on a line is dropped without a word: without a header every cell of a line is a
    value (`a@x.example,b@y.example` is two), and a cell holding several addresses
    (`"a@x.example, b@y.example"`) suppresses each. For an opt-out list, suppressing both
    errs the safe way; refusing the line would leave both to be written to."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        why = getattr(exc, "strerror", None) or exc
        raise UsageError(f"{path}: cannot read it ({why})") from None
    rows = list(csv.reader(io.StringIO(text)))
    header = [cell.strip().lower() for cell in rows[0]] if rows else []
    columns: dict[str, int] = {}
    start = 0
    if any(name in _VALUE_COLUMNS for name in header):
        columns = {name: i for i, name in enumerate(header) if name}
        start = 1
    value_at = next((columns[name] for name in _VALUE_COLUMNS if name in columns), 0)
    report = ImportReport()
    for number, cells in enumerate(rows[start:], start=start + 1):
        cells = [cell.strip() for cell in cells]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if columns:
            values = [cells[value_at] if value_at < len(cells) else ""]
        else:
            values = [cell for cell in cells if cell]
        row_kind = kind or _cell(cells, columns.get("kind")) or _kind_from_column(columns)
        row_reason = _cell(cells, columns.get("reason")) or reason
        for value in [each for cell in values for each in _entries_in(cell, row_kind)]:
            try:
                _, created = add_suppression(
                    session,
                    customer,
                    value,
                    kind=row_kind,
                    reason=row_reason,
                    source="import",
                    actor=actor,
                )
            except UsageError as exc:
                shown = value if len(value) <= 60 else value[:57] + "..."
                why = f"{shown!r}: {exc.message}" if value else "no value"
                report.rejected.append((number, why))
                continue
            if created:
                report.added += 1
            else:
                report.already += 1
    append_audit(
        session,
        "suppression.import",
        actor=actor,
        customer_id=customer.id,
        details={
            "file": path.name,
            "added": report.added,
            "already": report.already,
            "rejected": len(report.rejected),
        },
    )
    return report


def _entries_in(cell: str, kind: str | None) -> list[str]:
    """The values one cell holds: each address of `a@x.example, b@y.example`, else itself."""
    if kind in (None, "email"):
        found = addresses_in(cell)
        if len(found) > 1:
            return found
    return [cell]


def _cell(cells: list[str], index: int | None) -> str | None:
    if index is None or index >= len(cells):
        return None
    return cells[index] or None


def _kind_from_column(columns: dict[str, int]) -> str | None:
    """A CSV whose value column is `email`, `phone` or `domain` says the kind by its name."""
    for name in ("email", "phone", "domain"):
        if name in columns and "value" not in columns:
            return name
    return None


# --- SMS replies -----------------------------------------------------------------------------


@dataclass(frozen=True)
class InboundSmsResult:
    action: str  # suppressed | already | resubscribed | ignored
    number: str
    keyword: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "number": self.number, "keyword": self.keyword}


def _keyword(body: str) -> str:
    """The reply as a keyword: trimmed, upper-case, without trailing punctuation ("Stop!")
    or spaces ("opt out"), and in NFKC, so a phone's full-width ＳＴＯＰ is STOP."""
    text = unicodedata.normalize("NFKC", body or "").strip()
    return re.sub(r"[\s.!?,;:]+$", "", text).upper().replace(" ", "")


def record_inbound_sms(
    session: Session,
    customer: Customer,
    from_number: str,
    body: str,
    *,
    actor: str = "sms-reply",
) -> InboundSmsResult:
    """Act on an SMS reply: a STOP-type keyword suppresses the number; START/UNSTOP lifts a
    suppression that an earlier STOP made (never one added by hand). Anything else is
    ignored. The reply's text is never stored."""
    entry = normalise(from_number, "phone")
    keyword = _keyword(body)
    if keyword in STOP_KEYWORDS:
        _, created = add_suppression(
            session,
            customer,
            entry.value,
            kind="phone",
            reason=f"replied {keyword}",
            source=SMS_REPLY_SOURCE,
            actor=actor,
        )
        return InboundSmsResult("suppressed" if created else "already", entry.value, keyword)
    if keyword in START_KEYWORDS:
        existing = _find(session, customer.id, entry)
        if existing is not None and existing.source == SMS_REPLY_SOURCE:
            remove_suppression(session, customer, entry.value, kind="phone", actor=actor)
            return InboundSmsResult("resubscribed", entry.value, keyword)
    return InboundSmsResult("ignored", entry.value, keyword or None)
