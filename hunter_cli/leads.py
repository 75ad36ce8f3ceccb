"""The lead store: one row per person found for a customer, deduplicated by normalised email
(or domain plus name), with where each field came from; plus CSV/JSON export and import
(reading the files is `lead_files`).

Finding a lead again never loses what is known: contact fields are only filled when empty
(unless an import asks to overwrite them); a recipe's `data` is merged (a new non-empty value
wins: a provider's fresher details, an empty one never overwrites), an import's follows the
contact fields' rule; and data["_provenance"] names the provider behind every field.
Score and tier are the exception: a new score replaces the old one together with its tier,
even when it has none.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any

from sqlalchemy import false, func, or_, select, text
from sqlalchemy.orm import Session

from hunter_cli.addresses import address_problem, email_syntax_problem
from hunter_cli.audit import append_audit, to_plain_json
from hunter_cli.db.models import Customer, Lead
from hunter_cli.db.types import utcnow
from hunter_cli.errors import NotFoundError, UsageError, ValidationError
from hunter_cli.lead_files import (
    NAME_PARTS,
    ColumnPlan,
    escape_formula,
    is_placeholder,
    parse_extra,
    read_lead_file,
    unescape_formula,
)
from hunter_cli.providers.leads.base import normalise_domain, normalise_email, normalise_name
from hunter_cli.text_hygiene import (
    describe_character,
    forbidden_character,
    storable,
    storable_text,
)

__all__ = [
    "LEAD_FIELDS",
    "ImportReport",
    "UpsertReport",
    "dedupe_key",
    "export_leads",
    "find_leads",
    "get_lead",
    "import_leads_csv",
    "lead_to_dict",
    "update_lead",
    "upsert_leads",
]

# The contact fields a lead has as columns; everything else lives in `data`.
LEAD_FIELDS = ("name", "title", "email", "phone", "company", "domain")
# Column sizes: longer values would fail on PostgreSQL (SQLite would silently keep them).
FIELD_LENGTHS = {
    "name": 200,
    "title": 200,
    "email": 320,
    "phone": 40,
    "company": 200,
    "domain": 255,
}
PROVENANCE = "_provenance"
ORDERS = ("recent", "score", "name", "first_seen")
CSV_COLUMNS = ("id", *LEAD_FIELDS, "score", "tier", "first_seen", "last_seen")
IMPORT_PROVIDER = "import"

# The fields a lead is recognised by (its dedupe key).
_IDENTITY = ("email", "domain", "name")
# Keys of a lead dict that are bookkeeping (ours or a provider's), never stored in `data`.
_NOT_DATA = frozenset(
    {
        *LEAD_FIELDS,
        "score",
        "tier",
        "data",
        "id",
        "source",
        "source_provider",
        "first_seen",
        "last_seen",
        "dedupe_key",
        "customer_id",
    }
)
_MAX_KEY = 400  # the dedupe_key column
_CHUNK = 500  # values per IN (...): well under SQLite's and PostgreSQL's parameter limits
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_DOMAIN = re.compile(r"^[^\s/@.]+(\.[^\s/@.]+)+$")
_SCORE_TEXT = re.compile(r"^\d+(\.0*)?$")
# An advisory lock class for lead upserts on PostgreSQL ("lead" in ASCII).
_PG_LEADS_LOCK = 0x6C656164


@dataclass
class UpsertReport:
    created: int
    updated: int
    leads: list[Lead]
    # (position in the input, reason) of leads that could not be stored.
    skipped: list[tuple[int, str]] = field(default_factory=list)
    # (position in the input, position of the earlier lead of this call it was merged into).
    merged: list[tuple[int, int]] = field(default_factory=list)
    filled: int = 0  # empty contact fields (with keep_data, data keys) of known leads filled
    # (position in the input, field, stored value, given value): a known lead's contact field
    # (with keep_data, data value: field "data.KEY") given another value: kept, or with
    # overwrite replaced.
    differing: list[tuple[int, str, Any, Any]] = field(default_factory=list)


@dataclass
class ImportReport:
    imported: int
    updated: int
    # (row number, as `lead_files.LeadFile` numbers rows: a CSV's header is row 1; reason)
    rejected: list[tuple[int, str]]
    # (row number, the earlier row of the file it is the same lead as, so merged into)
    merged: list[tuple[int, int]] = field(default_factory=list)
    columns: ColumnPlan | None = None  # which column filled which field
    filled: int = 0  # empty fields and data keys of known leads filled from the file
    # (row, field, stored value, the file's value): known leads' values the file differs in
    # (a data value's field is `data.KEY`), kept as stored (replaced with `overwrite`).
    differing: list[tuple[int, str, Any, Any]] = field(default_factory=list)
    overwrite: bool = False
    format: str = "csv"  # or "json": a JSON list of leads, rows numbered from 1
    blank: int = 0  # rows with nothing in them, ignored

    def to_dict(self) -> dict[str, Any]:
        differing = [
            {"row": row, "field": name, "stored": stored, "file": given}
            for row, name, stored, given in self.differing
        ]
        return {
            "imported": self.imported,
            "updated": self.updated,
            "merged": [{"row": row, "merged_into": into} for row, into in self.merged],
            "rejected": [{"row": row, "reason": reason} for row, reason in self.rejected],
            "columns": self.columns.to_dict() if self.columns is not None else None,
            "filled": self.filled,
            "overwrite": self.overwrite,
            # "stored" is the value before the import: with overwrite, the file's replaced it.
            "kept": [] if self.overwrite else differing,
            "replaced": differing if self.overwrite else [],
            "format": self.format,
            "blank_rows": self.blank,
        }


# --- keys and values -------------------------------------------------------------------------


def dedupe_key(lead: dict[str, Any]) -> str:
    """The normalised email, or `domain|name` for a lead without one."""
    email = normalise_email(lead.get("email"))
    if email:
        key = email
    else:
        key = _alt_key(lead) or ""
        if not key:
            raise ValueError("a lead needs an email, or both a domain and a name")
    if len(key) > _MAX_KEY:  # still unique, and fits the column
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def _alt_key(lead: dict[str, Any]) -> str | None:
    """`domain|name`: how a person is recognised when one sighting has an email and another
    does not."""
    domain = normalise_domain(lead.get("domain"))
    name = normalise_name(lead.get("name"))
    return f"{domain}|{name}" if domain and name else None


def _row_alt_key(row: Lead) -> str | None:
    return _alt_key({"domain": row.domain, "name": row.name})


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _text(value: Any, name: str) -> str | None:
    """A contact field's text, spacing tidied and in one Unicode form (NFC: an "é" typed as
    e and an accent is the same "é"); None for nothing or a placeholder (`N/A`). A title,
    phone or company loses a NUL (no database stores one); an email, name or domain keeps
    what it has, for `_identity_problem` to refuse."""
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value))
    if name not in _IDENTITY:
        text = storable_text(text)
    cleaned = " ".join(text.split()) if name != "email" else text.strip()
    return None if not cleaned or is_placeholder(cleaned) else cleaned


def _quoted(value: Any) -> str:
    """A value as a reason shows it: text as it is between quotes (repr() would write a
    backslash or an escape as \\\\ or \\x1b, which --json then escapes again, and the
    terminal's rendering escapes control characters itself); anything else as repr()."""
    return f"'{value}'" if isinstance(value, str) else repr(value)


def _identity_problem(name: str, value: Any) -> str | None:
    """Why an email, name or domain cannot be a lead's for a character in it: a control
    character (a NUL, an escape) or a lone surrogate. That is a damaged file (a UTF-16 file
    read as cp1252 has a NUL between letters) or text meant for a terminal, not part of
    anyone's name; a tab or line break in a name is spacing, tidied to one space. The
    character is named, never shown: the reason goes to terminals and step warnings."""
    if value is None:
        return None
    if name == "email":
        problem = address_problem(value)  # a character, or a second address
        return None if problem is None else f"invalid email address: it has {problem}"
    text = str(value)
    found = forbidden_character(" ".join(text.split()) if name == "name" else text.strip())
    return None if found is None else f"{name} has {describe_character(found)}"


def _lenient_score(value: Any) -> int | None:
    """A computed score as a whole number from 0 to 100; anything else counts as no score."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    return max(0, min(100, round(number)))


def _strict_score(value: Any) -> int | None:
    """A score a person typed: a whole number from 0 to 100, else ValueError."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and _SCORE_TEXT.match(value.strip()):
        number = float(value.strip())
    else:
        raise ValueError
    if not math.isfinite(number) or number != int(number) or not 0 <= number <= 100:
        raise ValueError
    return int(number)


def _tier(value: Any) -> str | None:
    """A tier is one letter (A, B, C...); None when absent, ValueError when not a letter."""
    if value is None or value == "":
        return None
    letter = str(value).strip().upper()
    if len(letter) != 1 or not letter.isalpha():
        raise ValueError
    return letter


def _with_full_name(raw: dict[str, Any]) -> dict[str, Any]:
    """A person given as first and last name (as many files and APIs have them) gets a name."""
    if not _empty(raw.get("name")) or all(_empty(raw.get(part)) for part in NAME_PARTS):
        return raw
    parts = (raw.get(part) for part in NAME_PARTS)
    return {**raw, "name": " ".join(str(p).strip() for p in parts if not _empty(p))}


def _clean(raw: dict[str, Any]) -> dict[str, Any]:
    """A provider's or recipe's lead as the store keeps it: normalised, within column sizes,
    extra top-level keys moved into data."""
    fields: dict[str, Any] = {}
    raw = _with_full_name(raw)
    for name in LEAD_FIELDS:
        value = _text(raw.get(name), name)
        if name == "email":
            value = normalise_email(value)
        elif name == "domain":
            value = normalise_domain(value)
        if value is not None and len(value) > FIELD_LENGTHS[name]:
            value = value[: FIELD_LENGTHS[name]]
        fields[name] = value
    fields["score"] = _lenient_score(storable(raw.get("score")))
    try:
        fields["tier"] = _tier(storable(raw.get("tier")))
    except ValueError:
        fields["tier"] = None
    data: dict[str, Any] = raw["data"] if isinstance(raw.get("data"), dict) else {}
    extras = {k: v for k, v in raw.items() if isinstance(k, str) and k not in _NOT_DATA}
    # PostgreSQL's JSONB refuses \u0000 as its text columns refuse a NUL: in keys and values.
    fields["data"] = storable(to_plain_json({**extras, **data}))
    return fields


def _lock_customer_leads(session: Session, customer: Customer) -> None:
    """Two runs storing the same new lead at once must not both insert it: on PostgreSQL
    upserts for one customer take turns (SQLite's BEGIN IMMEDIATE already serialises)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(CAST(:cls AS integer), CAST(:obj AS integer))"),
            {"cls": _PG_LEADS_LOCK, "obj": (customer.id.int & 0x7FFFFFFF)},
        )


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


# --- upsert ----------------------------------------------------------------------------------


def _unstorable(raw: dict[str, Any], fields: dict[str, Any]) -> str | None:
    """Why a lead a recipe gives cannot be stored as it is: an email, name or domain with a
    control character in it, an email that is no address, or a score that is no number (a
    number is rounded and kept within 0-100)."""
    for name in _IDENTITY:
        problem = _identity_problem(name, raw.get(name) if name != "name" else fields["name"])
        if problem is not None:
            return problem
    if fields["email"] is not None:
        problem = _invalid_email(str(raw.get("email")), fields["email"])
        if problem is not None:
            return problem
    score = raw.get("score")
    if fields["score"] is None and score not in (None, "") and not isinstance(score, bool):
        return f"score {_quoted(storable(score))} is not a number"
    return None


def upsert_leads(
    session: Session,
    customer: Customer,
    leads: list[dict[str, Any]],
    *,
    source: dict[str, Any],
    actor: str | None = None,
    execution_id: uuid.UUID | None = None,
    overwrite: bool = False,
    keep_data: bool = False,
) -> UpsertReport:
    """Store leads for a customer: insert new ones, and for known ones update last_seen,
    fill empty fields and merge data. A lead's own `source_provider` (or, for a lead read
    back from the store, its provenance) names the provider; else source["provider"].

    Scores are computed values here: rounded and kept within 0-100; a new score replaces the
    stored tier with its own (none clears it). Leads with no email and
    no domain-and-name are skipped and reported. With `actor`, a `leads.upsert` audit entry
    records the counts (never the leads).

    A known lead's contact field given another value keeps its own (reported in
    `differing`). With `overwrite` the given value replaces it, and a lead given with the
    `id` of one of the customer's leads is that lead, so its email, domain or name can change
    too; one that would then be stored as another lead already is, is skipped and reported.
    Its data is merged: a given non-empty value replaces the stored one (a provider's details
    are fresher). With `keep_data` data values follow the contact fields' rule instead, each
    reported as the field `data.KEY`: what `leads import` asks, as a person's file changes
    nothing stored without --overwrite.
    """
    _lock_customer_leads(session, customer)
    now = utcnow()
    prepared: list[tuple[int, dict[str, Any], dict[str, Any], str, str | None]] = []
    skipped: list[tuple[int, str]] = []
    for index, raw in enumerate(leads):
        if not isinstance(raw, dict):
            skipped.append((index, f"not a mapping but {type(raw).__name__}"))
            continue
        fields = _clean(raw)
        # What `leads import` refuses is refused here too, so that what a recipe stores
        # exports and imports back (and is never silently changed).
        problem = _unstorable(raw, fields)
        if problem is not None:
            skipped.append((index, problem))
            continue
        try:
            key = dedupe_key(fields)
        except ValueError as exc:
            skipped.append((index, str(exc)))
            continue
        prepared.append((index, raw, fields, key, _alt_key(fields)))

    by_key, by_alt = _existing(session, customer, prepared)
    by_id = (
        _by_id(session, customer, [raw.get("id") for _i, raw, *_r in prepared]) if overwrite else {}
    )
    created: set[uuid.UUID] = set()
    updated: set[uuid.UUID] = set()
    ordered: list[Lead] = []  # each stored lead once, in the order first given
    first_given: dict[uuid.UUID, int] = {}  # lead -> the position that first named it
    merged: list[tuple[int, int]] = []
    filled = 0
    differing: list[tuple[int, str, Any, Any]] = []
    for index, raw, fields, key, alt in prepared:
        providers = _field_providers(raw, fields, str(source.get("provider") or "recipe"))
        given_id = _lead_id(raw.get("id")) if by_id else None
        row = (by_id.get(given_id) if given_id else None) or by_key.get(key)
        if row is None and alt is not None:
            candidate = by_alt.get(alt)
            # Same person seen with and without an email: one lead. Two different emails
            # under one name stay two leads.
            if candidate is not None and (candidate.email is None or fields["email"] is None):
                row = candidate
        if row is None:
            row = _new_lead(customer, key, fields, providers, source, now)
            session.add(row)
            created.add(row.id)
        else:
            new_key = _key_after_overwrite(row, fields) if overwrite else None
            if new_key is not None and new_key != row.dedupe_key:
                # Its email, domain or name changes: not into a lead that is stored already.
                holder = by_key.get(new_key) or _key_holder(session, customer, new_key, row.id)
                if holder is not None and holder is not row:
                    taken = f"another lead ({holder.id}) is stored as {_quoted(new_key)}"
                    skipped.append((index, taken))
                    continue
            row_filled, row_differing = _merge(
                row, fields, providers, now, overwrite=overwrite, keep_data=keep_data
            )
            filled += row_filled
            differing += [(index, *change) for change in row_differing]
            if new_key is not None and new_key != row.dedupe_key:
                if by_key.get(row.dedupe_key) is row:
                    del by_key[row.dedupe_key]  # free for a lead that comes later
                row.dedupe_key = new_key
            elif fields["email"] and row.dedupe_key != key and key not in by_key:
                row.dedupe_key = key  # it has an email now: key it like every other lead
            if row.id not in created:
                updated.add(row.id)
        if row.id in first_given:
            merged.append((index, first_given[row.id]))
        else:
            first_given[row.id] = index
            ordered.append(row)
        by_key[row.dedupe_key] = row
        row_alt = _row_alt_key(row)
        if row_alt:
            by_alt[row_alt] = row
    session.flush()
    skipped.sort()
    report = UpsertReport(len(created), len(updated), ordered, skipped, merged, filled, differing)
    if actor is not None:
        append_audit(
            session,
            "leads.upsert",
            actor=actor,
            customer_id=customer.id,
            execution_id=execution_id,
            details={
                "step": source.get("step"),
                "provider": source.get("provider"),
                "created": report.created,
                "updated": report.updated,
                "skipped": len(report.skipped),
            },
        )
    return report


def _existing(
    session: Session,
    customer: Customer,
    prepared: list[tuple[int, Any, dict[str, Any], str, Any]],
) -> tuple[dict[str, Lead], dict[str, Lead]]:
    """The customer's stored leads these could be: by key, and by domain (for domain+name)."""
    keys = sorted({key for *_x, key, _a in prepared} | {a for *_x, a in prepared if a})
    domains = sorted({f["domain"] for _i, _r, f, _k, _a in prepared if f["domain"]})
    rows: dict[uuid.UUID, Lead] = {}
    for chunk in _chunks(keys):
        query = select(Lead).where(Lead.customer_id == customer.id, Lead.dedupe_key.in_(chunk))
        rows.update((r.id, r) for r in session.scalars(query))
    for chunk in _chunks(domains):
        query = select(Lead).where(Lead.customer_id == customer.id, Lead.domain.in_(chunk))
        rows.update((r.id, r) for r in session.scalars(query))
    by_key = {r.dedupe_key: r for r in rows.values()}
    by_alt: dict[str, Lead] = {}
    # Prefer a row without an email as the match for a domain+name (it is the one to fill).
    for row in sorted(rows.values(), key=lambda r: r.email is None):
        alt = _row_alt_key(row)
        if alt:
            by_alt[alt] = row
    return by_key, by_alt


def _lead_id(value: Any) -> uuid.UUID | None:
    """A lead id given as a UUID or its text; None for anything else."""
    if isinstance(value, uuid.UUID) or value is None:
        return value
    try:
        return uuid.UUID(str(value).strip())
    except ValueError:
        return None


def _by_id(session: Session, customer: Customer, given: list[Any]) -> dict[uuid.UUID, Lead]:
    """The customer's leads that these ids name; other values are ignored."""
    ids = sorted({i for i in map(_lead_id, given) if i is not None})
    rows: dict[uuid.UUID, Lead] = {}
    for chunk in _chunks(ids):
        query = select(Lead).where(Lead.customer_id == customer.id, Lead.id.in_(chunk))
        rows.update((r.id, r) for r in session.scalars(query))
    return rows


def _key_after_overwrite(row: Lead, fields: dict[str, Any]) -> str:
    """The key a lead will have once the given non-empty identity fields replace its own."""
    identity = {n: fields[n] if fields[n] is not None else getattr(row, n) for n in _IDENTITY}
    return dedupe_key(identity)


def _key_holder(session: Session, customer: Customer, key: str, lead_id: uuid.UUID) -> Lead | None:
    """Another of the customer's leads stored under this key, if there is one."""
    query = select(Lead).where(
        Lead.customer_id == customer.id, Lead.dedupe_key == key, Lead.id != lead_id
    )
    return session.scalars(query).first()


def _field_providers(raw: dict[str, Any], fields: dict[str, Any], default: str) -> dict[str, str]:
    """Who supplied each field: the lead's source_provider, or what its own provenance says
    (a lead read back from the store), or the default."""
    own = raw.get("source_provider")
    data: dict[str, Any] = raw["data"] if isinstance(raw.get("data"), dict) else {}
    provenance: dict[str, Any] = data[PROVENANCE] if isinstance(data.get(PROVENANCE), dict) else {}
    names = [*LEAD_FIELDS, "score", "tier", *fields["data"]]
    # A lead's own per-field provenance (e.g. merged from several providers) is the most
    # precise answer; source_provider covers the fields it does not name.
    return {n: str(provenance.get(n) or own or default) for n in names if n != PROVENANCE}


def _main_provider(providers: dict[str, str], fields: dict[str, Any]) -> str:
    supplied = [providers[n] for n in providers if not _empty(fields.get(n))]
    return Counter(supplied or providers.values()).most_common(1)[0][0]


def _new_lead(
    customer: Customer,
    key: str,
    fields: dict[str, Any],
    providers: dict[str, str],
    source: dict[str, Any],
    now: Any,
) -> Lead:
    data = {k: v for k, v in fields["data"].items() if k != PROVENANCE and not _empty(v)}
    provenance = {n: providers[n] for n in (*LEAD_FIELDS, "score", "tier") if fields[n] is not None}
    provenance.update({k: providers[k] for k in data})
    return Lead(
        id=uuid.uuid4(),
        customer_id=customer.id,
        dedupe_key=key,
        **{n: fields[n] for n in (*LEAD_FIELDS, "score", "tier")},
        source=storable(to_plain_json({**source, "provider": _main_provider(providers, fields)})),
        data={**data, PROVENANCE: provenance},
        first_seen=now,
        last_seen=now,
    )


def _merge(
    row: Lead,
    fields: dict[str, Any],
    providers: dict[str, str],
    now: Any,
    *,
    overwrite: bool = False,
    keep_data: bool = False,
) -> tuple[int, list[tuple[str, Any, Any]]]:
    """Merge a sighting into a stored lead: (empty fields filled, [(field, stored, given)]
    for fields given another value, which `overwrite` replaces and otherwise stay). Data
    values count as fields (`data.KEY`) with `keep_data`; else a new one replaces the old."""
    data = dict(row.data or {})
    provenance = dict(data.get(PROVENANCE) or {})
    filled = 0
    differing: list[tuple[str, Any, Any]] = []
    for name in LEAD_FIELDS:
        given, stored = fields[name], getattr(row, name)
        if given is None or given == stored:
            continue
        if stored:
            differing.append((name, stored, given))
            if not overwrite:
                continue
        else:
            filled += 1
        setattr(row, name, given)
        provenance[name] = providers[name]
    # Scores and tiers are judgements, not facts: the newest one stands. A tier belongs to
    # its score: a new score brings its tier, and no tier (below every threshold) clears the
    # old one, which would otherwise still pick the lead for that tier's outreach.
    for name in ("score", "tier"):
        given = fields[name]
        if given is None and not (name == "tier" and fields["score"] is not None):
            continue
        if given != getattr(row, name):
            setattr(row, name, given)
            if given is None:
                provenance.pop(name, None)
            else:
                provenance[name] = providers[name]
    for key, value in fields["data"].items():
        stored = data.get(key)
        if key == PROVENANCE or _empty(value) or stored == value:
            continue
        if keep_data and _empty(stored):
            filled += 1
        elif keep_data:
            differing.append((f"data.{key}", stored, value))
            if not overwrite:
                continue
        data[key] = value
        provenance[key] = providers[key]
    data[PROVENANCE] = provenance
    row.data = data  # a new dict, so the JSON column is seen as changed
    row.last_seen = now
    return filled, differing


# --- reading and editing ---------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple | set) else [value]


def _parse_id(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value).strip())
    except ValueError:
        raise ValidationError(f"not a lead id: {value!r}") from None


def find_leads(
    session: Session,
    customer: Customer,
    *,
    min_score: int | None = None,
    tier: str | Sequence[str] | None = None,
    ids: Sequence[Any] | None = None,
    emails: Sequence[str] | None = None,
    domain: str | None = None,
    limit: int | None = None,
    order: str = "recent",
    uncontacted_by: tuple[str, str] | None = None,
    skip_suppressed: bool = False,
    offset: int = 0,
) -> list[Lead]:
    """A customer's leads matching every filter given. order: recent (last seen first),
    score (best first), name, first_seen (oldest first). `uncontacted_by` (recipe, step):
    leave out leads that step of that recipe already e-mailed (sent, or being sent), so a
    re-run spends nothing on them; `skip_suppressed`: leave out suppressed addresses.
    Both are taken before `limit`; `offset` skips that many first (paging)."""
    query = select(Lead).where(Lead.customer_id == customer.id)
    if uncontacted_by is not None:
        from hunter_cli.db.models import OutboxMessage
        from hunter_cli.outbox import step_messages

        recipe, step_id = uncontacted_by
        # A message still queued (a dry run waiting for review) does not count: the run
        # that sends picks its lead again, and its send step delivers that draft.
        emailed = step_messages(customer.id, "email", step_id, recipe, ("sending", "sent"))
        written = emailed.with_only_columns(OutboxMessage.recipient).order_by(None)
        query = query.where(or_(Lead.email.is_(None), func.lower(Lead.email).not_in(written)))
    if min_score is not None:
        query = query.where(Lead.score >= int(min_score))
    tiers = [str(t).strip().upper() for t in _as_list(tier) if str(t).strip()]
    if tiers:
        query = query.where(Lead.tier.in_(tiers))
    if ids is not None:
        query = query.where(Lead.id.in_([_parse_id(v) for v in _as_list(ids)]))
    # An address or domain with a control character matches no lead (and PostgreSQL would
    # refuse a NUL in the query).
    if emails is not None:
        given = (normalise_email(v) for v in _as_list(emails))
        wanted = [e for e in given if e and not forbidden_character(e)]
        query = query.where(func.lower(Lead.email).in_(wanted))
    if domain:
        cleaned = normalise_domain(domain) or ""
        query = query.where(false() if forbidden_character(cleaned) else Lead.domain == cleaned)
    if order not in ORDERS:
        raise ValidationError(f"unknown order {order!r}; known orders: " + ", ".join(ORDERS))
    # A missing value sorts last on both backends: SQLite puts NULL first by default and
    # PostgreSQL last (first when descending), so the order is spelled out.
    name = Lead.name.nulls_last()
    orders: dict[str, list[Any]] = {
        "recent": [Lead.last_seen.desc().nulls_last(), name, Lead.id],
        "score": [
            Lead.score.desc().nulls_last(),
            Lead.last_seen.desc().nulls_last(),
            name,
            Lead.id,
        ],
        "name": [name, Lead.id],
        "first_seen": [Lead.first_seen.nulls_last(), name, Lead.id],
    }
    query = query.order_by(*orders[order])
    if skip_suppressed:
        from hunter_cli.suppression import email_suppressed

        suppressed = email_suppressed(session, customer.id)
        kept = (lead for lead in session.scalars(query) if not suppressed(lead.email))
        stop = None if limit is None else offset + int(limit)
        return list(islice(kept, offset, stop))
    if limit is not None:
        query = query.limit(int(limit))
    if offset:
        query = query.offset(offset)
    return list(session.scalars(query))


def get_lead(session: Session, customer: Customer, ref: Any) -> Lead:
    """One of the customer's leads by id or email; NotFoundError if there is none."""
    lead: Lead | None = None
    try:
        lead_id = ref if isinstance(ref, uuid.UUID) else uuid.UUID(str(ref).strip())
    except ValueError:
        email = normalise_email(ref)
        if email and not forbidden_character(email):  # with one, it is no stored lead's
            lead = session.scalars(
                select(Lead).where(
                    Lead.customer_id == customer.id,
                    or_(Lead.dedupe_key == email, func.lower(Lead.email) == email),
                )
            ).first()
    else:
        lead = session.get(Lead, lead_id)
        if lead is not None and lead.customer_id != customer.id:
            lead = None  # another customer's lead does not exist for this one
    if lead is None:
        raise NotFoundError(f"no lead {str(ref)!r} for customer {customer.slug}")
    return lead


UPDATABLE = (*LEAD_FIELDS, "score", "tier", "data")


def update_lead(
    session: Session,
    customer: Customer,
    id: Any,
    fields: dict[str, Any],
    *,
    provider: str = "update",
) -> Lead:
    """Change fields of one lead (by id or email). `data` is merged; a data key set to null
    is removed. Score must be 0-100, tier one letter; ValidationError otherwise."""
    unknown = sorted(set(fields) - set(UPDATABLE))
    if unknown:
        raise ValidationError(
            f"cannot update lead field {unknown[0]!r}; updatable: " + ", ".join(UPDATABLE)
        )
    lead = get_lead(session, customer, id)
    data = dict(lead.data or {})
    provenance = dict(data.get(PROVENANCE) or {})
    for name in LEAD_FIELDS:
        if name not in fields:
            continue
        value = _text(fields[name], name)
        problem = _identity_problem(name, value) if name in _IDENTITY else None
        if problem is not None:
            raise ValidationError(problem)
        if name == "email" and value is not None:
            value = normalise_email(value)
            problem = _invalid_email(str(fields[name]), value or "")
            if value is None or problem:
                raise ValidationError(problem or f"invalid email address {fields[name]!r}")
        elif name == "domain" and value is not None:
            value = normalise_domain(value)
        if value is not None and len(value) > FIELD_LENGTHS[name]:
            raise ValidationError(f"{name} is longer than {FIELD_LENGTHS[name]} characters")
        setattr(lead, name, value)
        provenance[name] = provider
    if "score" in fields:
        try:
            lead.score = _strict_score(fields["score"])
        except ValueError:
            raise ValidationError(
                f"score {fields['score']!r} is not a whole number from 0 to 100"
            ) from None
        provenance["score"] = provider
    if "tier" in fields:
        try:
            lead.tier = _tier(fields["tier"])
        except ValueError:
            raise ValidationError(
                f"tier {fields['tier']!r} is not a single letter such as A, B or C"
            ) from None
        provenance["tier"] = provider
    if "data" in fields:
        if not isinstance(fields["data"], dict):
            raise ValidationError("data must be a mapping")
        for key, value in storable(to_plain_json(fields["data"])).items():
            if key == PROVENANCE:
                continue
            if value is None:
                data.pop(key, None)
                provenance.pop(key, None)
            else:
                data[key] = value
                provenance[key] = provider
    data[PROVENANCE] = provenance
    lead.data = data
    _rekey(session, customer, lead)
    session.flush()
    return lead


def _rekey(session: Session, customer: Customer, lead: Lead) -> None:
    try:
        key = dedupe_key({n: getattr(lead, n) for n in _IDENTITY})
    except ValueError:
        raise ValidationError("a lead needs an email, or both a domain and a name") from None
    if key == lead.dedupe_key:
        return
    clash = _key_holder(session, customer, key, lead.id)
    if clash is not None:
        raise ValidationError(f"another lead ({clash.id}) is already stored as {key!r}")
    lead.dedupe_key = key


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def lead_to_dict(lead: Lead) -> dict[str, Any]:
    """A stored lead as step outputs and --json show it."""
    return {
        "id": str(lead.id),
        "name": lead.name,
        "title": lead.title,
        "email": lead.email,
        "phone": lead.phone,
        "company": lead.company,
        "domain": lead.domain,
        "score": lead.score,
        "tier": lead.tier,
        "data": dict(lead.data or {}),
        "source": dict(lead.source or {}),
        "first_seen": _iso(lead.first_seen),
        "last_seen": _iso(lead.last_seen),
    }


# --- export and import -----------------------------------------------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "" if value is None else escape_formula(str(value))


def export_leads(
    session: Session,
    customer: Customer,
    fmt: str,
    stream: IO[str],
    *,
    actor: str | None = None,
    destination: str | None = None,
) -> int:
    """Write every lead of a customer to stream as CSV (data keys become extra columns,
    lists and mappings as JSON; a cell a spreadsheet would run as a formula is written
    behind a "'", which import removes) or as a JSON list. Returns how many were written; with
    `actor`, the export is recorded in the audit trail."""
    if fmt not in ("csv", "json"):
        raise UsageError(f"unknown export format {fmt!r}: use csv or json")
    leads = find_leads(session, customer, order="first_seen")
    if fmt == "json":
        json.dump([lead_to_dict(lead) for lead in leads], stream, indent=2, ensure_ascii=False)
        stream.write("\n")
    else:
        extra = sorted(
            {k for lead in leads for k in (lead.data or {}) if k != PROVENANCE} - set(CSV_COLUMNS)
        )
        writer = csv.writer(stream, lineterminator="\n")
        # The csv module quotes a field holding "\n" but not one holding a lone "\r" (it is
        # not in our line terminator), and readers end the row there: such rows are quoted.
        quoting = csv.writer(stream, lineterminator="\n", quoting=csv.QUOTE_ALL)

        def write(cells: list[str]) -> None:
            (quoting if any("\r" in cell for cell in cells) else writer).writerow(cells)

        write([*CSV_COLUMNS, *(escape_formula(k) for k in extra)])
        for lead in leads:
            plain = lead_to_dict(lead)
            write(
                [_cell(plain[c]) for c in CSV_COLUMNS]
                + [_cell((lead.data or {}).get(k)) for k in extra]
            )
    if actor is not None:
        append_audit(
            session,
            "leads.export",
            actor=actor,
            customer_id=customer.id,
            details={"format": fmt, "count": len(leads), "destination": destination or "stdout"},
        )
    return len(leads)


def _email_problem(address: str) -> str | None:
    """Why a cleaned address cannot be one: "" when it is plainly no address, a reason when
    that helps, None when it may well be one (only sending tells for sure)."""
    if len(address) > FIELD_LENGTHS["email"] or not _EMAIL.match(address):
        # Plainly no address ("n/a") says nothing more; one that nearly is says why.
        return (email_syntax_problem(address) or "") if "@" in address else ""
    local, domain = address.rsplit("@", 1)
    if ".." in address:
        return "two dots in a row"
    if local.startswith(".") or local.endswith(".") or domain.startswith("."):
        return "a dot at the start or end of a part"
    if any(c in address for c in '<>()[],;:"\\'):
        return "a character an address cannot have"
    if any(label.startswith("-") or label.endswith("-") for label in domain.split(".")):
        return "a domain part that starts or ends with -"
    # What the send path would refuse is refused here: an imported lead whose address could
    # never be mailed was skipped at every outreach, with nothing said at import.
    return email_syntax_problem(address)


def _invalid_email(given: str, address: str) -> str | None:
    refused = address_problem(given)
    if refused is not None:  # a character is named, not shown: a terminal would obey it
        return f"invalid email address: it has {refused}"
    problem = _email_problem(address)
    if problem is None:
        return None
    return f"invalid email address {_quoted(given)}" + (f" ({problem})" if problem else "")


def _import_value(cell: Any, typed: bool) -> Any:
    """A cell's value, None when it has none: a CSV's text trimmed and with export's "'"
    before a formula removed, a JSON value as it is; a placeholder (`N/A`) is none."""
    if cell is None or (typed and not isinstance(cell, str)):
        return cell
    # A placeholder typed in the file is no value; export writes a real "-" as "'-".
    if is_placeholder(cell) or not cell.strip():
        return None
    text = unicodedata.normalize("NFC", cell)
    return text if typed else unescape_formula(text.strip())


def _import_row(
    plan: ColumnPlan, cells: list[Any], *, typed: bool = False
) -> tuple[dict[str, Any] | None, list[str]]:
    """One row of a file as a lead, or the reasons it cannot be one. `typed`: cells are JSON
    values; else a CSV's text, read back as the types export wrote."""
    width = len(plan.headers)
    if not typed and len(cells) > width and any(c.strip() for c in cells[width:]):
        return None, [f"{len(cells)} values but the header has {width} columns"]
    lead: dict[str, Any] = {}
    data: dict[str, Any] = {}
    problems: list[str] = []
    for column, cell in enumerate(cells[:width]):
        value = _import_value(cell, typed)
        if value is None:
            continue
        if column in plan.fields:
            name = plan.fields[column]
            if isinstance(value, dict | list | bool):
                problems.append(f"{plan.label(column)} is not text but {json.dumps(value)[:40]}")
            else:
                lead[name] = value if name == "score" or isinstance(value, str) else str(value)
        elif column in plan.data:
            data[plan.data[column]] = value if typed else parse_extra(value)
        elif column == plan.lead_id:
            lead["id"] = str(value)  # which lead the row is, when it overwrites
    lead = _with_full_name(lead)
    for part in NAME_PARTS:
        lead.pop(part, None)
    damaged = [p for n in _IDENTITY if (p := _identity_problem(n, lead.get(n))) is not None]
    if damaged:
        return None, damaged
    # Other text loses a NUL as upsert_leads stores it; a score or tier already here, so
    # that a reason never quotes one.
    for name in ("score", "tier"):
        if name in lead:
            lead[name] = storable(lead[name])
    given = lead.pop("email", None)
    email = normalise_email(given)  # a mailto: link, stray punctuation... cleaned
    if given is not None and email is not None:
        problem = _invalid_email(given, email)
        if problem:
            problems.append(problem)
        else:
            lead["email"] = email
    if "domain" in lead and not _DOMAIN.match(normalise_domain(lead["domain"]) or ""):
        problems.append(f"invalid domain {_quoted(lead['domain'])}")
    if email is None and not (lead.get("domain") and lead.get("name")):
        problems.append("needs an email, or both a domain and a name")
    if "score" in lead:
        try:
            lead["score"] = _strict_score(lead["score"])
        except ValueError:
            problems.append(f"score {_quoted(lead['score'])} is not a whole number from 0 to 100")
    if "tier" in lead:
        try:
            lead["tier"] = _tier(lead["tier"])
        except ValueError:
            problems.append(
                f"tier {_quoted(lead['tier'])} is not a single letter such as A, B or C"
            )
    for name in LEAD_FIELDS:
        given = lead.get(name)
        if name != "email" and isinstance(given, str) and len(given) > FIELD_LENGTHS[name]:
            problems.append(f"{name} is longer than {FIELD_LENGTHS[name]} characters")
    if problems:
        return None, problems
    lead["data"] = data
    return lead, []


def import_leads_csv(
    session: Session,
    customer: Customer,
    path: str | Path,
    *,
    actor: str = "hunter",
    overwrite: bool = False,
    encoding: str | None = None,
) -> ImportReport:
    """Import leads from a CSV file with a header row, or from a JSON list of leads (what
    `export_leads` writes as json: each lead's keys and its data's are its columns, its rows
    numbered from 1; its `source` is skipped). Columns fill the lead's fields under
    their own names or common aliases (`lead_files.FIELD_ALIASES`: "E-mail", "Company Name",
    "First Name" and "Last Name"...); an export's id (when it holds lead ids: a CRM's own id
    is kept in data), first_seen and last_seen are skipped;
    other columns go to data, read back as the types export wrote; the report says which.
    Rows that cannot be leads are rejected with their row number (as a spreadsheet shows it:
    the header is row 1 unless blank rows come before it; an Excel `sep=;` line is not one) and
    the reason (a row with a quoted field never closed, which took in the lines after it,
    is one of them); the rest are stored like any other sighting, and a row that is the same lead
    as an earlier row of the file is reported as merged into that row. UsageError when the file is
    missing, unreadable or has no usable header. The file is UTF-8, or UTF-16/32 with a
    byte-order mark, unless `encoding` names another (cp1252, latin-1...).

    A known lead keeps the values it has, in its data too: its empty fields and data keys
    are filled and the file's other values are reported in `differing` (a data value as
    field `data.KEY`). With `overwrite` the file's non-empty values replace
    them, and a row with an export's id is that lead, so an edited export can change a lead's
    email, domain or name (a row that would make it another stored lead is rejected)."""
    path = Path(path)
    lead_file = read_lead_file(path, encoding)
    plan = lead_file.plan()
    good: list[dict[str, Any]] = []
    good_rows: list[int] = []  # the row number of each of good
    rejected = list(lead_file.rejected)
    for number, cells in lead_file.rows:
        lead, problems = _import_row(plan, cells, typed=lead_file.typed)
        if lead is None:
            rejected.append((number, "; ".join(problems)))
        else:
            good.append(lead)
            good_rows.append(number)
    report = upsert_leads(
        session,
        customer,
        good,
        source={"provider": IMPORT_PROVIDER, "file": path.name},
        overwrite=overwrite,
        keep_data=True,
    )
    merged = [(good_rows[index], good_rows[into]) for index, into in report.merged]
    rejected = sorted(rejected + [(good_rows[index], why) for index, why in report.skipped])
    differing = [(good_rows[index], *change) for index, *change in report.differing]
    result = ImportReport(
        report.created,
        report.updated,
        rejected,
        merged,
        plan,
        filled=report.filled,
        differing=differing,
        overwrite=overwrite,
        format=lead_file.format,
        blank=lead_file.blank,
    )
    append_audit(
        session,
        "leads.import",
        actor=actor,
        customer_id=customer.id,
        details={
            "file": str(path),
            "imported": result.imported,
            "updated": result.updated,
            "rejected": len(rejected),
            "overwrite": overwrite,
            "filled": result.filled,
            # Counts, never the values: the audit trail holds no lead's details.
            ("replaced" if overwrite else "kept"): len(differing),
        },
    )
    return result
