"""The outbox: every message a recipe sends is recorded here first, exactly once per key.

A message is `queued` until it is delivered (`hunter_cli.delivery`: with --send, `send = true`
for the customer, or `hunter outbox send`), then `sending` -> `sent` or `failed`. `skipped`
messages could not or must not be sent (an invalid address, the suppression list).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Select, String, cast, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hunter_cli.addresses import address_problem, email_syntax_problem, parse_email_address
from hunter_cli.db.models import Customer, Execution, OutboxMessage, table_of
from hunter_cli.db.prepared import Prepared
from hunter_cli.db.types import utcnow
from hunter_cli.errors import NotFoundError, UsageError
from hunter_cli.providers.channels.base import OutgoingMessage, display_url
from hunter_cli.text_hygiene import escape_unstorable, forbidden_character

CHANNELS: tuple[str, ...] = ("email", "sms", "webhook", "push")
STATUSES: tuple[str, ...] = ("queued", "sending", "sent", "skipped", "failed")

# The widths of the model's columns: a longer key is hashed, a longer recipient refused.
MAX_KEY = 400
MAX_RECIPIENT = 400
MIN_ID_PREFIX = 6

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")  # ASCII digits only
# People write numbers with spaces, dashes, dots and brackets; E.164 has none of them.
_PHONE_PUNCTUATION = re.compile(r"[\s\-().]")
_TRUNK_ZERO = re.compile(r"(?<=\d)\s*\(0\)")
_TOPIC = re.compile(r"^[A-Za-z0-9_.~%/-]{1,200}$")
_HEX = re.compile(r"^[0-9a-f-]+$")


@dataclass(frozen=True)
class Recipient:
    """A checked recipient: `key` identifies it in the message key, `error` says why it is
    unusable (None when it is fine)."""

    value: str
    key: str
    error: str | None = None
    name: str | None = None  # display name from "Bob <bob@example.com>"


def _unusable(text: str, key: str, error: str) -> Recipient:
    """A recipient that cannot be used, as a skipped message records it: what no database
    stores (a NUL) escaped in its value and key, never dropped (which could make the key of
    another, valid recipient of the step of it)."""
    return Recipient(escape_unstorable(text), escape_unstorable(key), error)


# --- recipients ------------------------------------------------------------------------------


def check_email(raw: Any) -> Recipient:
    """An address as pasted (`Ann <ann@x.example>`, `mailto:ann@x.example`, with stray
    punctuation or invisible characters around it), cleaned and checked."""
    text = "" if raw is None else str(raw).strip()
    if not text:
        return Recipient("", "", "no e-mail address")
    problem = address_problem(text)
    name, address = parse_email_address(text)
    syntax = email_syntax_problem(address) if address and not problem else ""
    if problem or not address or syntax is not None:
        why = f": it has {problem}" if problem else f" ({syntax})" if syntax else ""
        return _unusable(text, text.lower(), f"invalid email address {text!r}{why}")
    return Recipient(address, address, None, name or None)


def check_phone(raw: Any) -> Recipient:
    text = "" if raw is None else str(raw).strip()
    if not text:
        return Recipient("", "", "no phone number")
    # Digits of other scripts (a full-width ９) are the same digits: keyed as ASCII, so a
    # suppression or an earlier message of the number still matches it.
    text = "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text)
    # "+44 (0)20 ...": the trunk 0 in brackets is not dialled after the country code.
    number = _PHONE_PUNCTUATION.sub("", _TRUNK_ZERO.sub("", text))
    if number.startswith("00"):  # the international prefix many countries dial
        number = "+" + number[2:]
    if not _E164.match(number):
        return _unusable(
            text,
            number,
            f"invalid phone number {text!r} (expected E.164: + and the country code, e.g. "
            "+4930123456)",
        )
    return Recipient(number, number)


def check_url(raw: Any) -> Recipient:
    text = "" if raw is None else str(raw).strip()
    if not text:
        return Recipient("", "", "no webhook url")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return _unusable(text, text, f"invalid webhook url {display_url(text)!r} (need http/https)")
    if forbidden_character(text):  # no URL has one; a NUL could not even be recorded
        return _unusable(text, text, f"invalid webhook url {display_url(text)!r}")
    if len(text) > MAX_RECIPIENT:
        return _unusable(text, text, f"webhook url longer than {MAX_RECIPIENT} characters")
    # Scheme and host are case-insensitive; path and query are not.
    normal = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))
    return Recipient(text, normal)


def check_topic(raw: Any) -> Recipient:
    text = "" if raw is None else str(raw).strip()
    if not text:
        return Recipient("", "", "no push topic")
    if not _TOPIC.match(text):
        return _unusable(text, text, f"invalid push topic {text!r} (letters, digits, _ . ~ % / -)")
    return Recipient(text, text)


CHECKS: dict[str, Callable[[Any], Recipient]] = {
    "email": check_email,
    "sms": check_phone,
    "webhook": check_url,
    "push": check_topic,
}


def display_recipient(channel: str, recipient: str) -> str:
    return display_url(recipient) if channel == "webhook" else recipient


def message_key(
    execution_id: uuid.UUID | None, step_id: str | None, channel: str, recipient_key: str
) -> str:
    """`execution:step:channel:recipient`, the exactly-once key; hashed only if it would not
    fit the column."""
    key = f"{execution_id or '-'}:{step_id or '-'}:{channel}:{recipient_key}"
    if len(key) <= MAX_KEY:
        return key
    digest = hashlib.sha256(recipient_key.encode()).hexdigest()
    return f"{execution_id or '-'}:{step_id or '-'}:{channel}:sha256:{digest}"


def content_digest(*parts: Any) -> str:
    """A short, stable fingerprint of a message's content (for channels where one endpoint
    receives many different messages)."""
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- the table -------------------------------------------------------------------------------


def queue_message(
    session: Session,
    *,
    customer_id: uuid.UUID,
    channel: str,
    recipient: str,
    message_key: str,
    execution_id: uuid.UUID | None = None,
    step_id: str | None = None,
    subject: str | None = None,
    body: str | None = None,
    html: str | None = None,
    payload: dict[str, Any] | None = None,
    status: str = "queued",
    error: str | None = None,
) -> tuple[OutboxMessage, bool]:
    """Record a message unless its key is already there; returns (message, created).

    The key makes a retried step or a re-run of the same execution a no-op: the existing row
    comes back untouched.
    """
    if channel not in CHANNELS:
        raise UsageError(f"unknown channel {channel!r}; known channels: {', '.join(CHANNELS)}")
    if status not in STATUSES:
        raise UsageError(f"unknown outbox status {status!r}; known: {', '.join(STATUSES)}")
    existing = _by_key(session, message_key)
    if existing is not None:
        return existing, False
    message = OutboxMessage(
        id=uuid.uuid4(),
        customer_id=customer_id,
        execution_id=execution_id,
        step_id=step_id,
        message_key=message_key,
        channel=channel,
        recipient=recipient[:MAX_RECIPIENT],
        subject=subject,
        body=body,
        html=html,
        payload=payload or {},
        status=status,
        error=error,
    )
    try:
        # A savepoint, so losing a race to a concurrent writer keeps the caller's transaction.
        with session.begin_nested():
            session.add(message)
            session.flush()
    except IntegrityError:
        existing = _by_key(session, message_key)
        if existing is None:
            raise
        return existing, False
    return message, True


_OUTBOX = table_of(OutboxMessage)
_NEW_MESSAGE = (
    *("id", "customer_id", "execution_id", "step_id", "message_key", "channel", "recipient"),
    *("subject", "body", "html", "payload", "status", "error", "attempts", "created_at"),
)
_INSERT = Prepared(insert(_OUTBOX), columns=_NEW_MESSAGE)


def insert_new_message(
    session: Session,
    *,
    customer_id: uuid.UUID,
    channel: str,
    recipient: str,
    message_key: str,
    execution_id: uuid.UUID,
    step_id: str,
    subject: str | None,
    body: str | None,
    html: str | None,
    payload: dict[str, Any] | None,
    status: str,
    error: str | None,
) -> uuid.UUID:
    """Record a message whose key the caller has found free in this transaction (a step
    that looked up its own messages first), in one statement and without an ORM object:
    a step writing to 10,000 people spent most of its time in the ORM. A key taken after
    all is refused by its unique constraint. Returns the new message's id."""
    if channel not in CHANNELS:
        raise UsageError(f"unknown channel {channel!r}; known channels: {', '.join(CHANNELS)}")
    if status not in STATUSES:
        raise UsageError(f"unknown outbox status {status!r}; known: {', '.join(STATUSES)}")
    message_id = uuid.uuid4()
    _INSERT.execute(
        session,
        {
            "id": message_id,
            "customer_id": customer_id,
            "execution_id": execution_id,
            "step_id": step_id,
            "message_key": message_key,
            "channel": channel,
            "recipient": recipient[:MAX_RECIPIENT],
            "subject": subject,
            "body": body,
            "html": html,
            "payload": payload or {},
            "status": status,
            "error": error,
            "attempts": 0,
            "created_at": utcnow(),
        },
    )
    return message_id


def step_messages(
    customer_id: uuid.UUID, channel: str, step_id: str, recipe: Any, statuses: Iterable[str]
) -> Select[str, uuid.UUID, str]:
    """(recipient, id, status) of the messages a step of a recipe (a slug, or a query giving
    one) wrote for a customer on a channel, in any of its runs, oldest first."""
    return (
        select(OutboxMessage.recipient, OutboxMessage.id, OutboxMessage.status)
        .join(Execution, Execution.id == OutboxMessage.execution_id)
        .where(
            OutboxMessage.customer_id == customer_id,
            OutboxMessage.channel == channel,
            OutboxMessage.step_id == step_id,
            OutboxMessage.status.in_(tuple(statuses)),
            Execution.recipe_slug == recipe,
        )
        .order_by(OutboxMessage.created_at)
    )


def _by_key(session: Session, key: str) -> OutboxMessage | None:
    return session.scalars(select(OutboxMessage).where(OutboxMessage.message_key == key)).first()


def list_messages(
    session: Session,
    customer: Customer | uuid.UUID | None = None,
    status: str | None = None,
    channel: str | None = None,
    execution_id: uuid.UUID | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[OutboxMessage]:
    """The newest messages first, optionally for one customer, status, channel or execution;
    `offset` skips that many of the newest (paging: the id breaks ties, so pages neither
    repeat nor skip a message).
    `unknown` (what `outbox send` calls a message whose delivery is not known) is `sending`."""
    if status == "unknown":
        status = "sending"
    if status is not None and status not in STATUSES:
        raise UsageError(f"unknown status {status!r}; choose from {', '.join(STATUSES)}")
    if channel is not None and channel not in CHANNELS:
        raise UsageError(f"unknown channel {channel!r}; choose from {', '.join(CHANNELS)}")
    query = select(OutboxMessage).order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
    if customer is not None:
        customer_id = customer.id if isinstance(customer, Customer) else customer
        query = query.where(OutboxMessage.customer_id == customer_id)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    if channel is not None:
        query = query.where(OutboxMessage.channel == channel)
    if execution_id is not None:
        query = query.where(OutboxMessage.execution_id == execution_id)
    return list(session.scalars(query.limit(limit).offset(offset)))


def get_message(session: Session, id_or_prefix: str) -> OutboxMessage:
    """A message by its id, or by a unique prefix of at least 6 hex digits (like git)."""
    needle = id_or_prefix.strip().lower()
    not_found = NotFoundError(
        f"no outbox message with id {id_or_prefix!r}; `hunter outbox list` shows the ids"
    )
    try:
        found = session.get(OutboxMessage, uuid.UUID(needle))
    except ValueError:
        found = None
    else:
        if found is None:
            raise not_found
        return found
    if not _HEX.match(needle):
        raise not_found
    hex_prefix = needle.replace("-", "")
    if len(hex_prefix) < MIN_ID_PREFIX:
        raise UsageError(
            f"id prefix {id_or_prefix!r} is too short: give at least {MIN_ID_PREFIX} characters"
        )
    # PostgreSQL prints a uuid with dashes; SQLite stores it as 32 bare hex digits.
    postgres = session.get_bind().dialect.name == "postgresql"
    pattern = _dashed(hex_prefix) if postgres else hex_prefix
    matches = list(
        session.scalars(
            select(OutboxMessage).where(cast(OutboxMessage.id, String).like(pattern + "%")).limit(5)
        )
    )
    if not matches:
        raise not_found
    if len(matches) > 1:
        shown = ", ".join(str(m.id)[:13] for m in matches)
        raise UsageError(
            f"id prefix {id_or_prefix!r} is ambiguous: it matches {shown}; give more characters"
        )
    return matches[0]


def _dashed(hex_prefix: str) -> str:
    """The canonical text form of a uuid prefix: dashes after 8, 12, 16 and 20 digits."""
    out = []
    for index, char in enumerate(hex_prefix):
        if index in (8, 12, 16, 20):
            out.append("-")
        out.append(char)
    return "".join(out)


def customer_slugs(session: Session, messages: Iterable[OutboxMessage]) -> dict[uuid.UUID, str]:
    """customer id -> slug for the given messages, in one query."""
    ids = {m.customer_id for m in messages}
    if not ids:
        return {}
    rows = session.execute(select(Customer.id, Customer.slug).where(Customer.id.in_(ids)))
    return {row.id: row.slug for row in rows}


def message_to_dict(message: OutboxMessage, *, customer: str | None = None) -> dict[str, Any]:
    """A message for people and scripts: secret-looking payload keys and webhook URL tokens
    are hidden (the database keeps them for delivery)."""
    from hunter_cli.audit import redact

    return {
        "id": str(message.id),
        "customer_id": str(message.customer_id),
        "customer": customer,
        "execution_id": str(message.execution_id) if message.execution_id else None,
        "step_id": message.step_id,
        "message_key": _display_key(message),
        "channel": message.channel,
        "recipient": display_recipient(message.channel, message.recipient),
        "subject": message.subject,
        "body": message.body,
        "html": message.html,
        "payload": redact(message.payload or {}),
        "status": message.status,
        "error": message.error,
        "attempts": message.attempts or 0,
        "provider": message.provider,
        "provider_message_id": message.provider_message_id,
        "created_at": message.created_at.isoformat() if message.created_at else None,
        "sending_at": message.sending_at.isoformat() if message.sending_at else None,
        "sent_at": message.sent_at.isoformat() if message.sent_at else None,
        "delivered": message.status == "sent",
    }


def _display_key(message: OutboxMessage) -> str:
    """The key with a webhook URL's secrets hidden (keys are execution:step:channel:rest)."""
    parts = message.message_key.split(":", 3)
    if message.channel != "webhook" or len(parts) != 4 or parts[3].startswith("sha256:"):
        return message.message_key
    url, sep, digest = parts[3].rpartition("#")
    shown = f"{display_url(url)}#{digest}" if sep else display_url(parts[3])
    return ":".join([*parts[:3], shown])


def to_outgoing(message: OutboxMessage, *, customer: str | None = None) -> OutgoingMessage:
    """The plain values a provider is handed (it never sees the row)."""
    return OutgoingMessage(
        id=message.id,
        message_key=message.message_key,
        channel=message.channel,
        recipient=message.recipient,
        subject=message.subject,
        body=message.body,
        html=message.html,
        payload=dict(message.payload or {}),
        customer=customer,
    )


def queued_ids(
    session: Session,
    customer: Customer | uuid.UUID | None = None,
    *,
    channel: str | None = None,
    execution_id: uuid.UUID | None = None,
    step_id: str | None = None,
) -> list[uuid.UUID]:
    """Ids of queued messages, oldest first (the order they were meant to go out in)."""
    return list(
        waiting_messages(
            session, customer, channel=channel, execution_id=execution_id, step_id=step_id
        )
    )


def waiting_messages(
    session: Session,
    customer: Customer | uuid.UUID | None = None,
    *,
    channel: str | None = None,
    execution_id: uuid.UUID | None = None,
    step_id: str | None = None,
    include_failed: bool = False,
) -> dict[uuid.UUID, str]:
    """Queued messages (and failed ones, with include_failed) as id -> status, oldest first:
    what `hunter outbox send --all-queued` delivers, and the status it saw each in."""
    statuses = ("queued", "failed") if include_failed else ("queued",)
    query = select(OutboxMessage.id, OutboxMessage.status).where(OutboxMessage.status.in_(statuses))
    if customer is not None:
        customer_id = customer.id if isinstance(customer, Customer) else customer
        query = query.where(OutboxMessage.customer_id == customer_id)
    if channel is not None:
        query = query.where(OutboxMessage.channel == channel)
    if execution_id is not None:
        query = query.where(OutboxMessage.execution_id == execution_id)
    if step_id is not None:
        query = query.where(OutboxMessage.step_id == step_id)
    ordered = query.order_by(OutboxMessage.created_at, OutboxMessage.id)
    return {row.id: row.status for row in session.execute(ordered)}
