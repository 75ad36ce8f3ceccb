"""The audit trail: append (with redaction and the hash chain) and verify."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, bindparam, insert, select, text
from sqlalchemy.orm import Session

from hunter_cli.db.models import AuditLog, table_of
from hunter_cli.db.prepared import Prepared, transaction_key
from hunter_cli.db.types import utcnow
from hunter_cli.errors import ValidationError

GENESIS_HASH = "0" * 64
REDACTED = "[REDACTED]"

_SECRET_KEY = re.compile(
    r"(^|[_\-.])(key|api_?key|token|secret|password|passwd|pwd|authorization|auth|"
    r"credentials?|cookie|private_?key|access_?key|client_?secret)$",
    re.IGNORECASE,
)
# Keys that end like a secret but hold bookkeeping values we need to read later.
_NOT_SECRET = {"idempotency_key", "message_key", "cache_key", "sort_key", "dedupe_key"}
# An advisory lock id that serialises appends on PostgreSQL ("hunt" in ASCII).
_PG_AUDIT_LOCK = 0x68756E74


@functools.lru_cache(maxsize=4096)  # the same few keys, on every audit entry
def is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return lowered not in _NOT_SECRET and bool(_SECRET_KEY.search(lowered))


def redact(value: Any) -> Any:
    """Replace values under secret-looking keys, at any depth."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and is_secret_key(k) and v else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _plain_number(value: Any) -> Any:
    """Floats as both backends hand them back: PostgreSQL's JSONB keeps numbers as NUMERIC and
    returns 1e16 as the integer 10000000000000000, so the hash would not survive the trip;
    NaN and infinities are not JSON at all (PostgreSQL refuses them), so they become text."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if abs(value) >= 1e16:
            return int(value)
        return value
    if isinstance(value, dict):
        return {k: _plain_number(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_number(v) for v in value]
    return value


# Built once: json.dumps with any option builds a new encoder on every call.
_PLAIN_ENCODER = json.JSONEncoder(default=_json_default)
_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _through_json(value: Any) -> Any:
    return _plain_number(json.loads(_PLAIN_ENCODER.encode(value)))


def _plain_scalar(value: Any) -> Any:
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return _through_json(value)  # a str or int subclass, or a TypeError for the rest


def to_plain_json(value: Any) -> Any:
    """What the database will hand back: only JSON types, so the hash survives a round trip.

    A fresh copy, so a component that changes its value later cannot change what was
    recorded. The usual values (dicts with text keys, lists, text, numbers) are copied
    directly; anything else takes the trip through the JSON encoder, which says exactly
    what a JSON round trip would give (non-text keys, subclasses, unknown types)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        copied = {}
        for key, item in value.items():
            if type(key) is not str:
                return _through_json(value)
            copied[key] = to_plain_json(item)
        return copied
    if kind is list or kind is tuple:
        return [to_plain_json(item) for item in value]
    if kind is float:
        return _plain_number(value)
    return _plain_scalar(value)


_FLAT = (str, int, type(None))  # bool is an int


def _flat_details(details: dict[str, Any]) -> dict[str, Any] | None:
    """The bookkeeping entries (ledger, steps): text and integers under text keys, already
    what the database hands back, redacted without a JSON round trip. None for others."""
    plain: dict[str, Any] = {}
    for key, value in details.items():
        if type(key) is not str or not isinstance(value, _FLAT):
            return None
        plain[key] = REDACTED if value and is_secret_key(key) else value
    return plain


# The same few ids (a run's customer and execution) on every entry: their text once each.
_text = functools.lru_cache(maxsize=256)(str)


def _canonical(entry: AuditLog | AuditEntry) -> bytes:
    body = {
        "seq": entry.seq,
        "created_at": entry.created_at.isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "customer_id": _text(entry.customer_id) if entry.customer_id else None,
        "execution_id": _text(entry.execution_id) if entry.execution_id else None,
        "action": entry.action,
        "details": entry.details,
        "prev_hash": entry.prev_hash,
    }
    return _CANONICAL_ENCODER.encode(body).encode()


def compute_hash(entry: AuditLog | AuditEntry) -> str:
    return hashlib.sha256(_canonical(entry)).hexdigest()


@dataclass
class AuditEntry:
    """An entry as appended: the same fields as an AuditLog row, without ORM bookkeeping
    (appends are on every hot path)."""

    id: uuid.UUID
    seq: int
    created_at: datetime
    actor: str
    customer_id: uuid.UUID | None
    execution_id: uuid.UUID | None
    action: str
    details: dict[str, Any]
    prev_hash: str
    hash: str = ""


# Built once: constructing and keying these statements costs more than running them.
_AUDIT = table_of(AuditLog)
_TAIL = Prepared(select(_AUDIT.c.seq, _AUDIT.c.hash).order_by(_AUDIT.c.seq.desc()).limit(1))
_PG_LOCKED_TAIL = Prepared(
    text("SELECT seq, hash FROM hunter_audit_tail(:k)").bindparams(bindparam("k", type_=BigInteger))
)


def append_audit(
    session: Session,
    action: str,
    *,
    actor: str,
    customer_id: uuid.UUID | None = None,
    execution_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction, so the change and its record commit
    (or roll back) together."""
    # The innermost transaction: a savepoint that rolls back takes its appends with it, so a
    # tail learnt inside one must not outlive it.
    transaction = transaction_key(session)
    if transaction is None:  # not begun yet: begin, so the tail is keyed to its transaction
        session.connection()
        transaction = transaction_key(session)
    tail = session.info.get("audit_tail")
    if tail is not None and tail[0] is transaction:
        # Later appends in the same transaction already hold the lock and know the tail.
        seq, prev_hash = tail[1] + 1, tail[2]
    else:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            # Two writers must not both read the same tail and fork the chain: the lock, then
            # the tail read after it (migration 0006), in one round trip.
            last = _PG_LOCKED_TAIL.first(session, {"k": _PG_AUDIT_LOCK})
        else:  # SQLite: BEGIN IMMEDIATE already holds the only write lock
            last = _TAIL.first(session)
        seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    entry = AuditEntry(
        id=uuid.uuid4(),
        seq=seq,
        created_at=utcnow(),
        actor=actor,
        customer_id=customer_id,
        execution_id=execution_id,
        action=action,
        details=_flat_details(details or {}) or to_plain_json(redact(details or {})),
        prev_hash=prev_hash,
    )
    entry.hash = compute_hash(entry)
    # A Core insert: the audit row is never read back or changed through the ORM.
    session.flush()  # pending ORM rows first, so the audit row follows what it records
    _INSERT.execute(session, entry.__dict__)  # the dataclass's fields are _AUDIT_COLUMNS
    session.info["audit_tail"] = (transaction, seq, entry.hash)
    return entry


_AUDIT_COLUMNS = (
    "id",
    "seq",
    "created_at",
    "actor",
    "customer_id",
    "execution_id",
    "action",
    "details",
    "prev_hash",
    "hash",
)
_INSERT = Prepared(insert(_AUDIT), columns=_AUDIT_COLUMNS)


@dataclass(frozen=True)
class AuditAnchor:
    """An entry's seq and hash, kept outside the database, that a later verify must still
    find: the chain alone cannot show that its newest entries were removed."""

    seq: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> AuditAnchor:
        seq, sep, digest = text.strip().partition(":")
        digest = digest.strip().lower()
        if (
            not sep
            or not seq.strip().isdigit()
            or int(seq) < 1
            or len(digest) != 64
            or any(c not in "0123456789abcdef" for c in digest)
        ):
            raise ValidationError(
                f"anchor {text!r} is not SEQ:HASH (an entry number and its 64-hex-digit "
                "hash, as `hunter audit verify` prints them)"
            )
        return cls(int(seq), digest)

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None
    head: AuditAnchor | None = None  # the newest entry verified: the anchor to keep

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "head": str(self.head) if self.head else None,
        }


@dataclass(frozen=True)
class _Unreadable:
    seq: int
    error: Exception


def _read_entries(session: Session, batch: int = 500) -> Iterator[AuditLog | _Unreadable]:
    """Every entry in seq order, a batch at a time. A row that cannot be loaded (only a forged
    one: SQLite takes any value in any column) is found one row at a time and ends it."""
    after = 0
    while True:
        query = select(AuditLog).where(AuditLog.seq > after).order_by(AuditLog.seq)
        try:
            entries = session.scalars(query.limit(batch)).all()
        except Exception:  # noqa: BLE001 - which row, and why, is found below
            seqs = session.scalars(select(AuditLog.seq).where(AuditLog.seq > after)).all()
            for seq in sorted(seqs)[:batch]:
                try:
                    yield session.scalars(select(AuditLog).where(AuditLog.seq == seq)).one()
                except Exception as exc:  # noqa: BLE001
                    yield _Unreadable(seq, exc)
                    return
            return
        if not entries:
            return
        yield from entries
        after = entries[-1].seq


def verify_chain(session: Session, anchor: AuditAnchor | None = None) -> VerifyResult:
    """Recompute the chain from the first entry; name the first one that does not fit. With an
    anchor (an entry seen by an earlier verify), that entry must still be there, unchanged."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    head: AuditAnchor | None = None
    for entry in _read_entries(session):
        if isinstance(entry, _Unreadable):
            problem = (
                f"entry #{entry.seq} cannot be read (a value of the wrong type was written "
                f"into it: {type(entry.error).__name__}: {entry.error})"
            )
            return VerifyResult(False, checked, entry.seq, problem, head)
        if entry.seq != expected_seq:
            if entry.seq > expected_seq:
                problem = (
                    f"entry #{expected_seq} is missing: removed "
                    f"(the next entry found is #{entry.seq})"
                )
            else:
                problem = f"entry #{entry.seq} appears out of order after #{expected_seq - 1}"
            return VerifyResult(False, checked, expected_seq, problem, head)
        if entry.prev_hash != prev_hash:
            problem = (
                f"entry #{entry.seq} does not follow entry #{entry.seq - 1}: "
                "an entry was inserted, removed or reordered here"
            )
            return VerifyResult(False, checked, entry.seq, problem, head)
        try:
            digest = compute_hash(entry)
        except Exception as exc:  # noqa: BLE001 - as above: only a forged row gets here
            problem = f"entry #{entry.seq} cannot be hashed ({type(exc).__name__}: {exc})"
            return VerifyResult(False, checked, entry.seq, problem, head)
        if digest != entry.hash:
            problem = f"entry #{entry.seq} ({entry.action}) was changed after it was written"
            return VerifyResult(False, checked, entry.seq, problem, head)
        if anchor is not None and entry.seq == anchor.seq and entry.hash != anchor.hash:
            problem = (
                f"entry #{entry.seq} is not the one the anchor recorded: the trail from there "
                "on was rewritten"
            )
            return VerifyResult(False, checked, entry.seq, problem, head)
        prev_hash = entry.hash
        head = AuditAnchor(entry.seq, entry.hash)
        expected_seq += 1
        checked += 1
    if anchor is not None and anchor.seq >= expected_seq:
        gone = (
            f"entry #{anchor.seq} is"
            if anchor.seq == expected_seq
            else f"entries #{expected_seq} to #{anchor.seq} are"
        )
        end = f"ends at #{expected_seq - 1}" if checked else "is empty"
        problem = (
            f"{gone} gone: the anchor recorded #{anchor.seq} but the trail now {end}, "
            "so its newest entries were removed"
        )
        return VerifyResult(False, checked, expected_seq, problem, head)
    return VerifyResult(True, checked, head=head)
