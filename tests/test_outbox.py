"""The outbox core: exactly-once inserts, listing, id prefixes and the delivery seam."""

from __future__ import annotations

import uuid

import pytest

from hunter_cli import outbox
from hunter_cli.customers import resolve_customer
from hunter_cli.db.models import OutboxMessage
from hunter_cli.errors import NotFoundError, UsageError


def _queue(session, customer, recipient: str, **extra):
    fields = {"channel": "email", "subject": "Hi", "body": "Hello", **extra}
    key = fields.pop("key", f"-:-:email:{recipient}")
    return outbox.queue_message(
        session, customer_id=customer.id, recipient=recipient, message_key=key, **fields
    )


def test_queue_message_is_exactly_once_per_key(seeded):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        first, created = _queue(session, acme, "ann@example.com")
        again, created_again = _queue(session, acme, "ann@example.com", body="different")
        assert (created, created_again) == (True, False)
        assert again.id == first.id and again.body == "Hello"
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        later, created = _queue(session, acme, "ann@example.com")
        assert not created and later.id == first.id
        assert len(outbox.list_messages(session)) == 1
        with pytest.raises(UsageError, match="unknown channel 'fax'"):
            _queue(session, acme, "x", channel="fax")


def test_list_messages_filters_newest_first(seeded):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        other = resolve_customer(session, "global")
        _queue(session, acme, "a@example.com")
        _queue(session, acme, "+4930123456", channel="sms", key="k-sms")
        _queue(session, other, "b@example.com", status="skipped", error="no")
        assert [m.recipient for m in outbox.list_messages(session, acme)] == [
            "+4930123456",
            "a@example.com",
        ]
        assert [m.recipient for m in outbox.list_messages(session, status="skipped")] == [
            "b@example.com"
        ]
        assert [m.channel for m in outbox.list_messages(session, channel="sms")] == ["sms"]
        assert len(outbox.list_messages(session, limit=2)) == 2
        assert outbox.list_messages(session, execution_id=uuid.uuid4()) == []
        with pytest.raises(UsageError, match="unknown status 'sent!'"):
            outbox.list_messages(session, status="sent!")


def test_get_message_by_id_or_unique_prefix(seeded):
    ids = [
        uuid.UUID("abcdef01-2345-4678-9abc-def012345678"),
        uuid.UUID("abcdef02-2345-4678-9abc-def012345678"),
    ]
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        for number, message_id in enumerate(ids):
            session.add(
                OutboxMessage(
                    id=message_id,
                    customer_id=acme.id,
                    message_key=f"k{number}",
                    channel="email",
                    recipient=f"r{number}@example.com",
                    payload={},
                    status="queued",
                )
            )
    with seeded.session() as session:
        assert outbox.get_message(session, str(ids[0])).id == ids[0]
        assert outbox.get_message(session, "ABCDEF02").id == ids[1]
        # A prefix long enough to cross a dash works with or without it.
        assert outbox.get_message(session, "abcdef01-23").id == ids[0]
        assert outbox.get_message(session, "abcdef0123").id == ids[0]
        with pytest.raises(UsageError, match="ambiguous"):
            outbox.get_message(session, "abcdef")
        with pytest.raises(UsageError, match="too short"):
            outbox.get_message(session, "abc")
        for unknown in ("123456", str(uuid.uuid4()), "no-such-id"):
            with pytest.raises(NotFoundError, match="no outbox message"):
                outbox.get_message(session, unknown)


def test_recipient_checks():
    assert outbox.check_email(" Ann <Ann@Example.COM> ").value == "ann@example.com"
    assert (
        outbox.check_email("bob@").error
        == "invalid email address 'bob@' (nothing before or after the @)"
    )
    assert outbox.check_email("a@b").error  # no top-level domain
    assert outbox.check_email(None).error == "no e-mail address"
    # Two addresses are two people: never cut to the first (the second would be lost).
    for two in (
        "a@x.example, b@y.example",
        "a@x.example b@y.example",
        "A <a@x.example>; b@y.example",
    ):
        assert outbox.check_email(two).error == (
            f"invalid email address {two!r}: it has more than one address"
        )
    assert outbox.check_email('"Lee, Ann" <ann@x.example>').value == "ann@x.example"
    assert outbox.check_email("Lee, Ann <ann@x.example>").value == "ann@x.example"
    # as people paste them: the lead store cleans addresses with the same function
    for pasted in ("mailto:hal@x.example?subject=hi", "<hal@x.example>;", "hal@x.example\u200b"):
        assert outbox.check_email(pasted).value == "hal@x.example"
    assert outbox.check_phone("+1 (415) 555-2671").value == "+14155552671"
    assert outbox.check_phone("4155552671").error.startswith("invalid phone number")
    # One number, however written: the trunk 0 in brackets and digits of other scripts.
    for written in ("+44 (0)20 7946 0958", "+44 20 7946 0958", "0044 (0) 20 7946 0958"):
        assert outbox.check_phone(written).value == "+442079460958", written
    assert outbox.check_phone("+1212555010\uff10").value == "+12125550100"  # full-width 0
    assert outbox.check_phone("+1212555010\u0660").value == "+12125550100"  # Arabic-Indic 0
    assert outbox.check_url("HTTPS://Hooks.Example.com/A?x=1").key == (
        "https://hooks.example.com/A?x=1"
    )
    assert outbox.check_url("javascript:alert(1)").error
    assert outbox.check_topic("leads new").error
    assert outbox.display_url("https://user:pw@h.example:8443/p?token=t#f") == (
        "https://h.example:8443/p?…"
    )


@pytest.mark.parametrize(
    "given",
    ["esc\x1bguy@x.example", "n\x00m@x.example", "<ann@x.example>\x1b", "Ann\x00 <ann@x.example>"],
)
def test_a_control_character_makes_an_address_invalid(given):
    """Regression: the cleaner dropped what was around `<ann@x.example>` (an escape, a NUL)
    and made a valid address of it, and the lead store took `esc\x1bguy@...` as one."""
    checked = outbox.check_email(given)
    assert checked.error is not None and "a control character (U+00" in checked.error
    # A skipped message records the recipient: nothing in it a database cannot store.
    assert "\x00" not in checked.value + checked.key
    # Escaped, not dropped: dropped, the NUL of n<NUL>m@ would leave another address, nm@.
    assert outbox.check_email("n\x00m@x.example").key == "n\\x00m@x.example"
    assert outbox.check_email(" \tann@x.example\r\n").value == "ann@x.example"  # around it
    assert outbox.check_url("https://hooks.example/a\x00b").error
    assert "\x00" not in outbox.check_phone("+1\x00").value


def test_long_keys_are_hashed_to_fit_the_column():
    key = outbox.message_key(uuid.uuid4(), "mail", "webhook", "https://x.example/" + "a" * 500)
    assert len(key) <= outbox.MAX_KEY and ":webhook:sha256:" in key


def test_a_concurrent_writer_of_the_same_key_gets_the_existing_row(seeded):
    """Two transactions queue one key at once: one inserts, the other gets that row back
    (on PostgreSQL through the unique index and the savepoint; SQLite serialises writers)."""
    import threading

    results: list[tuple[uuid.UUID, bool]] = []
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        first, created = _queue(session, acme, "race@example.com")
        assert created

        def second_writer() -> None:
            with seeded.session() as other:
                customer = resolve_customer(other, "acme")
                message, made = _queue(other, customer, "race@example.com")
                results.append((message.id, made))

        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join(0.5)  # it waits for our transaction to end
        assert thread.is_alive()
    thread.join(30)
    assert results == [(first.id, False)]
