"""The audit trail: hash chain, tamper detection, append-only triggers, redaction."""

from __future__ import annotations

import enum
import hashlib
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import exc, select, text

from hunter_cli.audit import (
    GENESIS_HASH,
    REDACTED,
    AuditAnchor,
    _through_json,
    append_audit,
    compute_hash,
    is_secret_key,
    redact,
    to_plain_json,
    verify_chain,
)
from hunter_cli.db.engine import Database
from hunter_cli.db.models import AuditLog

ENTRIES = 6


def _fill(db: Database, count: int = ENTRIES) -> None:
    with db.session() as session:
        for n in range(1, count + 1):
            append_audit(
                session,
                "test.odd" if n % 2 else "test.even",
                actor=f"actor{n}",
                details={"n": n, "note": "ünïcode ✓", "nested": {"list": [1, 2.5, None]}},
            )


def _unguard(conn, backend: str) -> None:
    """Get past the append-only triggers, as someone with raw access to the database could."""
    if backend == "postgresql":
        conn.execute(text("ALTER TABLE audit_logs DISABLE TRIGGER USER"))
    else:
        conn.execute(text("DROP TRIGGER IF EXISTS audit_logs_no_update"))
        conn.execute(text("DROP TRIGGER IF EXISTS audit_logs_no_delete"))


def _reguard(conn, backend: str) -> None:
    if backend == "postgresql":
        conn.execute(text("ALTER TABLE audit_logs ENABLE TRIGGER USER"))


def _tamper(db: Database, *statements: str) -> None:
    with db.engine.begin() as conn:
        _unguard(conn, db.backend)
        for statement in statements:
            conn.execute(text(statement))
        _reguard(conn, db.backend)


def _verify(db: Database, anchor: AuditAnchor | None = None):
    with db.session() as session:
        return verify_chain(session, anchor)


def test_entries_are_chained_by_sha256(db):
    _fill(db)
    with db.session() as session:
        entries = session.scalars(select(AuditLog).order_by(AuditLog.seq)).all()
    assert [e.seq for e in entries] == list(range(1, ENTRIES + 1))
    assert entries[0].prev_hash == GENESIS_HASH
    for before, after in zip(entries, entries[1:], strict=False):
        assert after.prev_hash == before.hash
    for entry in entries:
        assert len(entry.hash) == 64
        assert entry.hash == compute_hash(entry)
    # The hash is SHA-256 over a canonical encoding of the stored fields.
    first = entries[0]
    body = {
        "seq": 1,
        "created_at": first.created_at.isoformat(timespec="microseconds"),
        "actor": "actor1",
        "customer_id": None,
        "execution_id": None,
        "action": "test.odd",
        "details": first.details,
        "prev_hash": GENESIS_HASH,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert first.hash == hashlib.sha256(canonical.encode()).hexdigest()
    result = _verify(db)
    assert (result.ok, result.checked, result.first_bad_seq) == (True, ENTRIES, None)


def test_an_empty_trail_verifies(db):
    assert _verify(db).ok
    assert _verify(db).checked == 0


def test_a_rolled_back_change_leaves_no_entry(db):
    with pytest.raises(RuntimeError), db.session() as session:
        append_audit(session, "test.rollback", actor="t")
        raise RuntimeError("the change failed")
    with db.session() as session:
        assert session.scalars(select(AuditLog)).all() == []


def test_floats_survive_the_round_trip(db):
    """Regression: PostgreSQL's JSONB hands 1e16 back as an integer, and NaN is not JSON; the
    hash then no longer matched (or the append failed) and verify cried tampering."""
    with db.session() as session:
        append_audit(
            session,
            "test.floats",
            actor="t",
            details={"big": 1e16, "huge": -1.5e300, "tiny": 1e-7, "one": 1.0, "nan": float("nan")},
        )
    result = _verify(db)
    assert result.ok, result.problem
    with db.session() as session:
        details = session.scalars(select(AuditLog.details)).one()
    assert details["big"] == 10**16
    assert details["nan"] == "nan"


def _sql_by_field(backend: str) -> dict[str, str]:
    json_value = "CAST('{\"n\": 99}' AS JSONB)" if backend == "postgresql" else "'{\"n\": 99}'"
    later = (
        "created_at + INTERVAL '1 second'"
        if backend == "postgresql"
        else "'2001-01-01 00:00:00.000000'"
    )
    return {
        "details": f"UPDATE audit_logs SET details = {json_value} WHERE seq = 3",
        "action": "UPDATE audit_logs SET action = 'test.forged' WHERE seq = 3",
        "actor": "UPDATE audit_logs SET actor = 'mallory' WHERE seq = 3",
        "timestamp": f"UPDATE audit_logs SET created_at = {later} WHERE seq = 3",
    }


def test_verify_names_a_changed_entry(db):
    _fill(db)
    with db.session() as session:
        original = session.scalars(select(AuditLog).where(AuditLog.seq == 3)).one()
        session.expunge(original)
    for field, statement in _sql_by_field(db.backend).items():
        _tamper(db, statement)
        result = _verify(db)
        assert not result.ok, field
        assert (result.first_bad_seq, result.checked) == (3, 2), field
        assert "entry #3" in result.problem and "changed" in result.problem, field
        # Put the entry back as it was: the chain verifies again.
        with db.session() as session:
            _unguard(session.connection(), db.backend)
            session.merge(original)
            session.flush()
            _reguard(session.connection(), db.backend)
        assert _verify(db).ok, field


def test_verify_names_an_entry_whose_hash_was_recomputed(db):
    """Rewriting an entry and its own hash still breaks the link to the next one."""
    _fill(db)
    with db.session() as session:
        entry = session.scalars(select(AuditLog).where(AuditLog.seq == 3)).one()
        entry.actor = "mallory"
        forged = compute_hash(entry)
        session.expunge(entry)
    _tamper(db, f"UPDATE audit_logs SET actor = 'mallory', hash = '{forged}' WHERE seq = 3")
    result = _verify(db)
    assert result.first_bad_seq == 4
    assert "does not follow entry #3" in result.problem


def test_verify_names_a_deleted_entry(db):
    _fill(db)
    _tamper(db, "DELETE FROM audit_logs WHERE seq = 4")
    result = _verify(db)
    assert not result.ok
    assert result.first_bad_seq == 4
    assert "entry #4 is missing" in result.problem


def test_verify_names_reordered_entries(db):
    _fill(db)
    _tamper(
        db,
        "UPDATE audit_logs SET seq = -1 WHERE seq = 2",
        "UPDATE audit_logs SET seq = 2 WHERE seq = 5",
        "UPDATE audit_logs SET seq = 5 WHERE seq = -1",
    )
    result = _verify(db)
    assert not result.ok
    assert result.first_bad_seq == 2
    assert "entry #2" in result.problem


def test_verify_names_the_first_of_several_changes(db):
    _fill(db)
    _tamper(
        db,
        "UPDATE audit_logs SET actor = 'x' WHERE seq = 5",
        "UPDATE audit_logs SET actor = 'x' WHERE seq = 2",
    )
    assert _verify(db).first_bad_seq == 2


def test_a_row_that_cannot_be_read_is_reported_not_a_crash(db):
    """Regression: a row with a malformed id (INSERT OR REPLACE gets past SQLite's UPDATE and
    DELETE triggers) made `audit verify` crash with a traceback and exit 1, not 7."""
    if db.backend == "postgresql":
        pytest.skip("PostgreSQL's typed columns refuse a malformed row outright")
    _fill(db)
    _tamper(
        db,
        "INSERT OR REPLACE INTO audit_logs (id, seq, created_at, actor, customer_id, "
        "execution_id, action, details, prev_hash, hash) "
        "VALUES ('x', 7, '2020-01-01', 'a', NULL, NULL, 'a', '{}', '0', '0')",
    )
    result = _verify(db)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, ENTRIES + 1, ENTRIES)
    assert result.problem.startswith(f"entry #{ENTRIES + 1} cannot be read")


def test_the_chain_alone_misses_its_newest_entries_removed_but_an_anchor_does_not(db):
    _fill(db)
    head = _verify(db).head
    assert head is not None and head.seq == ENTRIES and len(head.hash) == 64
    assert _verify(db, head).ok
    _tamper(db, f"DELETE FROM audit_logs WHERE seq >= {ENTRIES - 1}")
    assert _verify(db).ok  # what the README warns of: a shorter chain is still a chain
    result = _verify(db, head)
    assert not result.ok
    assert result.first_bad_seq == ENTRIES - 1
    assert result.problem == (
        f"entries #{ENTRIES - 1} to #{ENTRIES} are gone: the anchor recorded #{ENTRIES} but "
        f"the trail now ends at #{ENTRIES - 2}, so its newest entries were removed"
    )


def test_an_anchor_catches_a_rewritten_tail(db):
    """Entries removed from the end and new ones chained on in their place: the chain is
    whole again, but the anchored entry is not the one recorded."""
    _fill(db)
    head = _verify(db).head
    _tamper(db, f"DELETE FROM audit_logs WHERE seq >= {ENTRIES - 1}")
    with db.session() as session:
        for n in range(2):
            append_audit(session, "test.forged", actor=f"mallory{n}")
    assert _verify(db).ok
    result = _verify(db, head)
    assert (result.ok, result.first_bad_seq) == (False, ENTRIES)
    assert "not the one the anchor recorded" in result.problem


def test_an_older_anchor_still_verifies_as_the_trail_grows(db):
    _fill(db)
    head = _verify(db).head
    _fill(db, 3)
    result = _verify(db, head)
    assert result.ok and result.head.seq == ENTRIES + 3


@pytest.mark.parametrize(
    "text", ["", "12", "x:" + "a" * 64, "0:" + "a" * 64, "3:abc", "3:" + "g" * 64]
)
def test_a_malformed_anchor_is_refused(text):
    from hunter_cli.errors import ValidationError

    with pytest.raises(ValidationError, match="is not SEQ:HASH"):
        AuditAnchor.parse(text)
    assert AuditAnchor.parse(" 3:" + "AB" * 32) == AuditAnchor(3, "ab" * 32)


def test_triggers_refuse_update_and_delete(db):
    _fill(db, 2)
    for statement in (
        "UPDATE audit_logs SET actor = 'mallory'",
        "DELETE FROM audit_logs WHERE seq = 1",
        "DELETE FROM audit_logs",
    ):
        with pytest.raises(exc.DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))
    result = _verify(db)
    assert (result.ok, result.checked) == (True, 2)


def test_an_entry_cannot_be_replaced_by_an_upsert(db):
    """Regression: on SQLite INSERT OR REPLACE deleted and rewrote an entry past the UPDATE
    and DELETE triggers; with its hash recomputed, verify passed the forged newest entry."""
    _fill(db, 2)
    upsert = {
        "sqlite": "INSERT OR REPLACE INTO audit_logs SELECT id, seq, created_at, 'mallory', "
        "customer_id, execution_id, action, details, prev_hash, hash FROM audit_logs "
        "WHERE seq = 2",
        "postgresql": "INSERT INTO audit_logs SELECT * FROM audit_logs WHERE seq = 2 "
        "ON CONFLICT (id) DO UPDATE SET actor = 'mallory'",
    }[db.backend]
    with pytest.raises(exc.DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text(upsert))
    with db.session() as session:
        assert session.scalars(select(AuditLog.actor).order_by(AuditLog.seq)).all() == [
            "actor1",
            "actor2",
        ]


def test_trigger_refuses_truncate_on_postgresql(db):
    if db.backend != "postgresql":
        pytest.skip("SQLite has no TRUNCATE (DELETE without WHERE is refused row by row)")
    _fill(db, 2)
    with pytest.raises(exc.DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_logs"))
    assert _verify(db).checked == 2


# --- redaction --------------------------------------------------------------------------------

SECRETS = {
    "api_key": "sk-live-1",
    "token": "tok-2",
    "password": "pw-3",
    "Authorization": "Bearer abc-4",
    "apiKey": "ak-5",
    "X-Api-Key": "xk-6",
    "client_secret": "cs-7",
    "nested": {"access_token": "at-8", "inner": {"db_password": "dp-9"}},
    "items": [{"private_key": "pk-10"}, {"name": "kept"}, ["plain"]],
    "headers": {"authorization": "Basic zz-11", "accept": "json"},
}


def test_secret_looking_keys_are_stored_redacted(db):
    details = {
        **SECRETS,
        "idempotency_key": "run-1:reserve",
        "monkey": "kept",
        "note": "visible",
        "empty_token": "",
    }
    with db.session() as session:
        append_audit(session, "test.secrets", actor="t", details=details)
    with db.session() as session:
        stored = session.scalars(select(AuditLog.details)).one()
        raw = session.execute(text("SELECT CAST(details AS TEXT) FROM audit_logs")).scalar_one()
    for key in ("api_key", "token", "password", "Authorization", "apiKey", "X-Api-Key"):
        assert stored[key] == REDACTED, key
    assert stored["client_secret"] == REDACTED
    assert stored["nested"] == {"access_token": REDACTED, "inner": {"db_password": REDACTED}}
    assert stored["items"] == [{"private_key": REDACTED}, {"name": "kept"}, ["plain"]]
    assert stored["headers"] == {"authorization": REDACTED, "accept": "json"}
    assert stored["idempotency_key"] == "run-1:reserve"
    assert (stored["monkey"], stored["note"]) == ("kept", "visible")
    for n in range(1, 12):
        assert f"-{n}" not in raw.replace("run-1", ""), raw
    assert _verify(db).ok


def test_redact_leaves_the_input_alone():
    value = {"token": "t", "list": [{"password": "p"}]}
    assert redact(value) == {"token": REDACTED, "list": [{"password": REDACTED}]}
    assert value == {"token": "t", "list": [{"password": "p"}]}


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("api_key", True),
        ("API-KEY", True),
        ("github_token", True),
        ("passwd", True),
        ("cookie", True),
        ("idempotency_key", False),
        ("cache_key", False),
        ("tokens_used", False),
        ("keyword", False),
        ("author", False),
    ],
)
def test_is_secret_key(key, secret):
    assert is_secret_key(key) is secret


def test_an_append_rolled_back_with_a_savepoint_leaves_no_gap(db):
    """Appends in one transaction reuse the tail they know; a savepoint that rolls back its
    append must not leave the next entry pointing at the vanished one."""
    with db.session() as session:
        append_audit(session, "test.kept", actor="t")
        with pytest.raises(RuntimeError), session.begin_nested():
            append_audit(session, "test.undone", actor="t")
            raise RuntimeError("the step failed")
        append_audit(session, "test.after", actor="t")
        with session.begin_nested():
            append_audit(session, "test.released", actor="t")
        append_audit(session, "test.last", actor="t")
    with db.session() as session:
        actions = session.scalars(select(AuditLog.action).order_by(AuditLog.seq)).all()
    assert actions == ["test.kept", "test.after", "test.released", "test.last"]
    result = _verify(db)
    assert result.ok, result.problem


class _Text(str):
    pass


class _Level(enum.IntEnum):
    HIGH = 1


_NAN = float("nan")


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        7,
        1.5,
        1e16,
        -1e17,
        _NAN,
        float("inf"),
        "text",
        _Text("a str subclass"),
        _Level.HIGH,
        Decimal("1.50"),
        uuid.UUID(int=5),
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        {"a": [1, (2, 3), {"b": None}], "n": _NAN, "d": Decimal("2")},
        {1: "int key", "y": 2},
        {True: 1, None: 2},
        {_Text("k"): "a str subclass key"},
        ((), [], {}),
    ],
)
def test_to_plain_json_copies_as_a_json_round_trip_would(value):
    """The direct copy gives exactly what the trip through the encoder gives."""
    direct = to_plain_json(value)
    through = _through_json(value)
    assert json.dumps(direct, sort_keys=True) == json.dumps(through, sort_keys=True)
    assert type(direct) is type(through)


def test_to_plain_json_is_a_copy_and_refuses_what_json_cannot_hold():
    inner = {"leads": [{"name": "Ada"}]}
    copied = to_plain_json(inner)
    inner["leads"][0]["name"] = "changed later"
    assert copied == {"leads": [{"name": "Ada"}]}
    with pytest.raises(TypeError, match="not JSON serialisable: object"):
        to_plain_json({"a": [object()]})


def test_an_entry_has_exactly_the_columns_it_is_inserted_with():
    """append_audit inserts an AuditEntry's fields as they are: they must be the columns."""
    import dataclasses

    from hunter_cli.audit import _AUDIT_COLUMNS, AuditEntry

    assert tuple(f.name for f in dataclasses.fields(AuditEntry)) == _AUDIT_COLUMNS
    assert set(_AUDIT_COLUMNS) == set(AuditLog.__table__.columns.keys())
