"""`correspondence`: e-mail, SMS, webhook and push messages, one per item when `items` is
given. Every message is recorded in the outbox first (exactly once per execution, step and
recipient); a bad or suppressed recipient skips that one message, never the whole step.

Without --send (or `send = true` for the customer in hunter.toml) the messages stay queued.
With it they are delivered through `hunter_cli.delivery`, which commits each message's state
in transactions of its own before and after talking to the provider: the step's own
transaction is not used then, so a crash can never forget that a message went out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from email.utils import formataddr
from typing import Any, ClassVar

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from hunter_cli.audit import append_audit, to_plain_json
from hunter_cli.components.base import StepContext, StepError, TransientStepError
from hunter_cli.customers import SENDER_SETTINGS
from hunter_cli.db.models import Customer
from hunter_cli.outbox import (
    CHECKS,
    Recipient,
    check_email,
    content_digest,
    display_recipient,
    insert_new_message,
    message_key,
)
from hunter_cli.recipe.templates import TemplateError

# Which parameter names the recipient, per channel.
RECIPIENT_PARAM = {"email": "to", "sms": "to", "webhook": "url", "push": "topic"}
# Parameters a channel cannot do without (checked again per message once rendered).
REQUIRED = {
    "email": (("to",), ("subject", "body")),
    "sms": (("to",), ("body",)),
    "webhook": (("url",), ("payload", "body")),
    "push": (("topic",), ("body",)),
}
# Who delivers each channel (see hunter_cli.providers.channels), for --plan.
PROVIDER_NAMES = {"email": "smtp", "sms": "twilio", "webhook": "webhook", "push": "ntfy"}
PLAN_RECIPIENTS = 20
# How each final status is counted in the step's output.
_COUNTERS = {
    "queued": "queued",
    "sent": "sent",
    "failed": "failed",
    "unknown": "unknown",
    "skipped": "skipped",
    "duplicate": "duplicates",
    "taken": "taken",  # being (or already) sent by another process: `hunter outbox send`
}


@dataclass
class _Draft:
    """One message before it is recorded: rendered fields plus why it cannot go, if so."""

    index: int | None
    recipient: Recipient
    recipient_key: str
    subject: str | None = None
    body: str | None = None
    html: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None


@dataclass
class _Tally:
    """What became of each message of the step, in order."""

    channel: str
    dry_run: bool
    messages: list[dict[str, Any]] = field(default_factory=list)
    pending: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)  # to deliver

    def add(
        self, draft: _Draft, message_id: uuid.UUID, status: str, reason: str | None
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": str(message_id),
            "recipient": display_recipient(self.channel, draft.recipient.value),
            "status": status,
            "reason": reason,
        }
        if draft.index is not None:
            entry["index"] = draft.index
        self.messages.append(entry)
        return entry

    def to_deliver(self, draft: _Draft, message_id: uuid.UUID, reason: str | None) -> None:
        self.pending[message_id] = self.add(draft, message_id, "queued", reason)

    def record(self, outcomes: list[Any]) -> None:
        """Fold delivery outcomes into the entries of the messages they belong to."""
        for outcome in outcomes:
            entry = self.pending.get(outcome.message_id)
            if entry is None:
                continue
            status = outcome.status if outcome.status in _COUNTERS else "duplicate"
            entry["status"], entry["reason"] = status, outcome.reason
            if outcome.provider_message_id:
                entry["provider_message_id"] = outcome.provider_message_id

    def count(self, status: str) -> int:
        return sum(1 for m in self.messages if m["status"] == status)

    def output(self) -> dict[str, Any]:
        result: dict[str, Any] = {"channel": self.channel}
        for status, name in _COUNTERS.items():
            result[name] = self.count(status)
        result["messages"] = self.messages
        result["dry_run"] = self.dry_run
        if not self.messages:
            result["note"] = "nothing to send: no items"
        elif self.dry_run and result["queued"] == 0:
            result["note"] = (
                f"no new messages queued: {result['skipped']} skipped, "
                f"{result['duplicates']} duplicate(s)"
            )
        elif not self.dry_run and result["sent"] == 0:
            parts = [
                f"{result[n]} {n}" for n in ("queued", "failed", "unknown", "skipped", "taken")
            ]
            parts.append(f"{result['duplicates']} duplicate(s)")
            result["note"] = "nothing sent: " + ", ".join(p for p in parts if p[0] != "0")
        return result

    def undelivered(self) -> str | None:
        """What a delivering step did not deliver (failed, perhaps delivered, left queued), in
        words, or None when every message went (or was skipped, a duplicate or another
        sender's)."""
        counts = {
            "failed": self.count("failed"),
            "of unknown outcome": self.count("unknown"),
            "left queued": self.count("queued"),
        }
        parts = [f"{n} {what}" for what, n in counts.items() if n]
        if self.dry_run or not parts:
            return None
        return (
            f"{sum(counts.values())} {self.channel} message(s) not delivered ({', '.join(parts)})"
        )

    def warnings(self, step_id: str) -> list[str]:
        found = []
        skipped, failed, unknown = (self.count(s) for s in ("skipped", "failed", "unknown"))
        if skipped:
            found.append(
                f"step {step_id}: {skipped} {self.channel} message(s) skipped "
                "(see `hunter outbox list --status skipped`)"
            )
        if failed:
            found.append(
                f"step {step_id}: {failed} {self.channel} message(s) failed (see `hunter outbox "
                "list --status failed`; `hunter outbox send --retry-failed ID` tries again)"
            )
        if unknown:
            found.append(
                f"step {step_id}: {unknown} {self.channel} message(s) may or may not have been "
                "delivered (see `hunter outbox list --status sending`)"
            )
        left = self.count("queued") if not self.dry_run else 0
        if left:
            reasons = {m["reason"] for m in self.messages if m["status"] == "queued"}
            why = next(iter(reasons)) if len(reasons) == 1 else "see `hunter outbox list`"
            found.append(f"step {step_id}: {left} {self.channel} message(s) left queued: {why}")
        return found


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else None


def _recipients(value: Any) -> list[Any]:
    """`to` may render to one recipient or a list of them."""
    if isinstance(value, list | tuple):
        return list(value) or [None]
    return [value]


class CorrespondenceStep:
    type: ClassVar[str] = "correspondence"
    # Rendered here, once per item when `items` is given (templates then see item, index).
    lazy_params: ClassVar[frozenset[str]] = frozenset(
        {"to", "subject", "body", "html", "url", "topic", "payload"}
    )

    def run(self, params: dict[str, Any], ctx: StepContext) -> Any:
        from hunter_cli.config import send_requested

        channel = _channel(params)
        _check_params(params, channel)
        if send_requested(ctx.settings, _customer_slug(ctx), bool(ctx.meta.get("send"))):
            return self._run_and_deliver(params, ctx, channel)
        tally = self._queue(ctx.session, ctx, ctx.customer, channel, params, dry_run=True)
        ctx.warnings.extend(w for w in tally.warnings(ctx.step_id) if w not in ctx.warnings)
        return tally.output()

    def _run_and_deliver(self, params: dict[str, Any], ctx: StepContext, channel: str) -> Any:
        """Queue in a transaction of our own, commit, then deliver message by message."""
        from hunter_cli.delivery import QUEUED, Deliverer, session_transaction

        _check_session_unused(ctx)
        # On the engine, not the step's connection: these transactions commit on their own.
        transaction = session_transaction(ctx.session.get_bind().engine)
        with Deliverer(
            transaction,
            ctx.settings,
            actor=ctx.actor,
            step_id=ctx.step_id,
            check=ctx.check_deadline,
            progress=ctx.report,
        ) as deliverer:
            # A configuration problem fails the step before anything is queued.
            deliverer.provider(channel)
            with transaction() as session:
                customer = session.get(Customer, ctx.customer_id)
                if customer is None:
                    raise StepError(f"customer {ctx.customer_id} not found")
                tally = self._queue(session, ctx, customer, channel, params, dry_run=False)
            # Queued when listed: one another sender claims meanwhile is `taken`, not failed.
            outcomes = deliverer.deliver(
                list(tally.pending), seen=dict.fromkeys(tally.pending, "queued")
            )
        tally.record(outcomes)
        down = deliverer.down.get(channel)
        if down:
            left = sum(1 for o in outcomes if o.status == QUEUED)
            raise TransientStepError(
                f"{channel} delivery stopped: {down}; {left} message(s) left queued "
                "(a `retry` on the step tries again; `hunter outbox send --all-queued` "
                "delivers them later)"
            )
        ctx.warnings.extend(w for w in tally.warnings(ctx.step_id) if w not in ctx.warnings)
        undelivered = tally.undelivered()
        if undelivered:  # the run is then partial (exit 5): a script must not read success
            ctx.meta["undelivered"] = undelivered
        return tally.output()

    def _queue(
        self,
        session: Session,
        ctx: StepContext,
        customer: Customer,
        channel: str,
        params: dict[str, Any],
        *,
        dry_run: bool,
    ) -> _Tally:
        """Record every message of the step in the outbox (suppressed recipients as skipped)."""
        from hunter_cli.suppression import suppression_matcher, suppression_reason

        sender = _sender(customer, ctx.warnings) if channel == "email" else {}
        tally = _Tally(channel, dry_run=dry_run)
        seen: dict[str, uuid.UUID] = {}
        suppressed = suppression_matcher(session, customer.id, channel)
        known = _step_messages(session, ctx)
        once = params.get("once_per_recipient", True)
        earlier = (
            _earlier_recipients(session, ctx, customer, channel)
            if channel in ("email", "sms")
            else {}
        )
        items = unrendered = 0
        first_problem: str | None = None
        contexts = _item_contexts(params)
        for index, extra in contexts:
            ctx.check_deadline()
            ctx.report(items, len(contexts))  # writing them; delivery reports its own count
            drafts, problem = self._drafts(params, ctx, channel, index, extra, sender)
            items += 1
            if problem is not None:  # its messages are skipped with the reason
                unrendered += 1
                first_problem = first_problem or problem
            for draft in drafts:
                key = message_key(ctx.execution_id, ctx.step_id, channel, draft.recipient_key)
                if key in seen:
                    tally.add(
                        draft,
                        seen[key],
                        "duplicate",
                        "same recipient as an earlier message of this step",
                    )
                    continue
                before = earlier.get(draft.recipient.value or "")
                if before is not None and before[1] == "queued" and not dry_run:
                    # Queued by an earlier run and never sent (a dry run, say): that message
                    # is the one to deliver now, not a second one.
                    seen[key] = before[0]
                    tally.to_deliver(draft, before[0], None)
                    continue
                # A message still waiting is never doubled; one already sent is written
                # again only when the step says once_per_recipient: false.
                if before is not None and (once or before[1] == "queued"):
                    tally.add(
                        draft,
                        before[0],
                        "duplicate",
                        f"already {before[1]} to this recipient by an earlier run of this step"
                        + (" (once_per_recipient)" if once else ""),
                    )
                    continue
                reason = draft.reason
                if reason is None:
                    entry = suppressed(draft.recipient.value)
                    if entry is not None:
                        reason = suppression_reason(entry)
                status = "skipped" if reason else "queued"
                message = known.get(key)  # recorded by an earlier attempt of this step
                if message is not None:
                    seen[key] = message.id
                    _own_message(tally, draft, message, dry_run=dry_run)
                    continue
                message_id = seen[key] = insert_new_message(
                    session,
                    customer_id=customer.id,
                    execution_id=ctx.execution_id,
                    step_id=ctx.step_id,
                    message_key=key,
                    channel=channel,
                    recipient=draft.recipient.value,
                    subject=draft.subject,
                    body=draft.body,
                    html=draft.html,
                    payload=draft.payload,
                    status=status,
                    error=reason,
                )
                self._audit(session, ctx, channel, draft, message_id, status, reason)
                if status == "queued" and not dry_run:
                    tally.to_deliver(draft, message_id, None)
                else:
                    tally.add(draft, message_id, status, reason)
        if items and unrendered == items:
            # Not one message could be written: a mistake in the recipe, not a lead's gap.
            raise StepError(f"no message could be rendered: {first_problem}")
        return tally

    def _drafts(
        self,
        params: dict[str, Any],
        ctx: StepContext,
        channel: str,
        index: int | None,
        extra: dict[str, Any] | None,
        sender: dict[str, Any],
    ) -> tuple[list[_Draft], str | None]:
        """The messages of one item: one per recipient, each checked for its channel; and
        the first template that could not be rendered for it, if any."""
        rendered: dict[str, Any] = {}
        problems: list[str] = []
        for name in sorted(self.lazy_params & params.keys()):
            try:
                rendered[name] = ctx.render(params[name], extra)
            except TemplateError as exc:  # often one item lacking a field: skip just it
                problems.append(f"cannot render {name}: {exc.message}")
                rendered[name] = None
        subject, body, html = (_text(rendered.get(k)) for k in ("subject", "body", "html"))
        topic, link = _text(rendered.get("topic")), _text(rendered.get("url"))
        data = to_plain_json(rendered.get("payload"))
        recipient_param = RECIPIENT_PARAM[channel]

        drafts = []
        for raw in _recipients(rendered.get(recipient_param)):
            recipient: Recipient = CHECKS[channel](raw)
            reason = problems[0] if problems else recipient.error
            if reason is None:
                reason = _missing_content(channel, subject, body, data)
            key = recipient.key or f"(missing)#{index or 0}"
            if channel in ("webhook", "push"):
                # One endpoint or topic gets many different messages: content tells them apart.
                key = f"{key}#{content_digest(subject, body, topic, link, data)}"
            drafts.append(
                _Draft(
                    index=index,
                    recipient=recipient,
                    recipient_key=key,
                    subject=subject,
                    body=body,
                    html=html,
                    payload=_payload(channel, data, topic, link, sender, recipient.name, params),
                    reason=reason,
                )
            )
        return drafts, problems[0] if problems else None

    def _audit(
        self,
        session: Session,
        ctx: StepContext,
        channel: str,
        draft: _Draft,
        message_id: uuid.UUID,
        status: str,
        reason: str | None,
    ) -> None:
        # Subject and recipient, never the body: bodies are personal and can be long.
        details: dict[str, Any] = {
            "step": ctx.step_id,
            "channel": channel,
            "recipient": display_recipient(channel, draft.recipient.value),
            "message_id": str(message_id),
        }
        if channel in ("email", "push") and draft.subject:
            details["subject"] = draft.subject
        if draft.index is not None:
            details["index"] = draft.index
        if reason:
            details["reason"] = reason
        append_audit(
            session,
            f"correspondence.{status}",
            actor=ctx.actor,
            customer_id=ctx.customer_id,
            execution_id=ctx.execution_id,
            details=details,
        )

    def plan(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        from hunter_cli.config import send_requested
        from hunter_cli.errors import HunterError
        from hunter_cli.suppression import suppression_matcher, suppression_reason

        channel = str(params.get("channel") or "")
        send = send_requested(ctx.settings, _customer_slug(ctx), bool(ctx.meta.get("send")))
        result: dict[str, Any] = {
            "provider": PROVIDER_NAMES.get(channel, "?") if send else f"outbox:{channel}",
            "dry_run": not send,
            "channel": channel,
        }
        subject = _planned_subject(params, ctx)
        if subject is not None:
            result["subject"] = subject
        if send and channel in PROVIDER_NAMES:
            from hunter_cli.providers.channels import build_provider

            try:  # a plan is where a missing host or credential should show up first
                build_provider(channel, ctx.settings.section("channels")).close()
            except HunterError as exc:
                result["problem"] = exc.message
        items = params.get("items")
        if "items" in params and not isinstance(items, list):
            # Still a template: it depends on an earlier step's output.
            result["sends"] = "per item"
            return result
        recipients: list[str] = []
        skipped: list[dict[str, str]] = []  # as the run would skip them: suppressed, invalid
        complete = channel in CHECKS
        suppressed = (
            suppression_matcher(ctx.session, ctx.customer_id, channel) if complete else None
        )
        earlier = _planned_earlier(ctx, channel, params) if complete else {}
        for _index, extra in _item_contexts(params) if complete else []:
            try:
                value = ctx.render(params.get(RECIPIENT_PARAM[channel]), extra)
            except TemplateError:  # depends on something only a real run has
                complete = False
                break
            for raw in _recipients(value):
                checked = CHECKS[channel](raw)
                shown = display_recipient(channel, checked.value)
                reason = checked.error
                if reason is None and suppressed is not None:
                    entry = suppressed(checked.value)
                    reason = suppression_reason(entry) if entry is not None else None
                before = earlier.get(checked.value)
                if reason is None and before == "queued" and not send:
                    reason = "a draft to this recipient is already queued by an earlier run"
                elif reason is None and before in ("sending", "sent"):
                    reason = f"already {before} by an earlier run of this step (once_per_recipient)"
                if reason is None:
                    recipients.append(shown)
                else:
                    skipped.append({"recipient": shown, "reason": reason})
        if complete:
            result["sends"] = len(recipients)
            result["recipients"] = recipients[:PLAN_RECIPIENTS]
            if len(recipients) > PLAN_RECIPIENTS:
                result["recipients_more"] = len(recipients) - PLAN_RECIPIENTS
            if skipped:
                # "skips", not "skipped": a plan entry's `skipped` is a step its `if` skips.
                result["skips"] = len(skipped)
                result["skipped_recipients"] = skipped[:PLAN_RECIPIENTS]
        else:
            result["sends"] = len(items) if isinstance(items, list) else 1
        return result


def _planned_subject(params: dict[str, Any], ctx: StepContext) -> str | None:
    """The subject (a push's title) as --plan shows it: rendered for the first item where it
    can be, else as written (it depends on what only the run will know)."""
    subject = params.get("subject")
    if not isinstance(subject, str):
        return None
    items = params.get("items")
    extra = None
    if isinstance(items, list) and items:
        extra = {"item": items[0], "index": 0}
    try:
        return _text(ctx.render(subject, extra))
    except TemplateError:
        return subject


def _step_messages(session: Session, ctx: StepContext) -> dict[str, Any]:
    """The messages this step of this execution already recorded (a retried or resumed
    step), by key: one query, not one per message."""
    from sqlalchemy import select

    from hunter_cli.db.models import OutboxMessage

    query = select(OutboxMessage).where(
        OutboxMessage.execution_id == ctx.execution_id, OutboxMessage.step_id == ctx.step_id
    )
    return {message.message_key: message for message in session.scalars(query)}


def _own_message(tally: _Tally, draft: _Draft, message: Any, *, dry_run: bool) -> None:
    """A message this step of this execution recorded in an earlier attempt (a retry, or a
    resumption after the process stopped): it is this step's, not an earlier run's."""
    if message.status == "queued" and not dry_run:
        # Queued but not delivered yet (the attempt failed, or its process was killed).
        tally.to_deliver(draft, message.id, None)
    elif message.status == "sending":
        # The attempt stopped mid-delivery: it may or may not have gone out, so it is never
        # sent again by itself, and is counted as unknown, as a delivery without an answer is.
        tally.add(
            draft,
            message.id,
            "unknown",
            "left in `sending` by an earlier attempt of this step (stopped mid-delivery): it "
            "may or may not have been delivered; never sent again without `hunter outbox "
            f"send {str(message.id)[:8]} --force-unknown`",
        )
    elif message.status in ("skipped", "failed"):
        # Counted as what it is (a summary of a resumed step added 3,209 skipped messages to
        # its duplicates), with the reason it was given then.
        tally.add(draft, message.id, message.status, message.error)
    else:
        tally.add(
            draft,
            message.id,
            "duplicate",
            f"already {message.status} by an earlier attempt of this step",
        )


def _planned_earlier(ctx: StepContext, channel: str, params: dict[str, Any]) -> dict[str, str]:
    """For a plan: who this step of this recipe already wrote to for the customer, and how
    (queued, sending, sent), as the run's once-per-recipient check will find them."""
    if channel not in ("email", "sms"):
        return {}
    once = params.get("once_per_recipient", True)
    recipe = (ctx.template_context.get("execution") or {}).get("recipe")
    if not recipe:
        return {}
    from hunter_cli.outbox import step_messages

    statuses = ("queued", "sending", "sent") if once else ("queued",)
    query = step_messages(ctx.customer_id, channel, ctx.step_id, recipe, statuses)
    return {row.recipient: row.status for row in ctx.session.execute(query)}


def _earlier_recipients(
    session: Session, ctx: StepContext, customer: Customer, channel: str
) -> dict[str, tuple[uuid.UUID, str]]:
    """Recipients this step of this recipe already wrote to for the customer in earlier
    runs, with the message and its status: queued, sending (delivered or not) or sent.

    Two runs of the recipe at once must not both find nobody and both write: on PostgreSQL
    the read waits for a lock per customer and channel that the step's transaction holds
    until it commits (SQLite's BEGIN IMMEDIATE already makes writers take turns)."""
    from sqlalchemy import select

    from hunter_cli.db.engine import serialise_on
    from hunter_cli.db.models import Execution, OutboxMessage
    from hunter_cli.outbox import step_messages

    serialise_on(session, f"recipients:{customer.id}:{channel}")
    recipe = select(Execution.recipe_slug).where(Execution.id == ctx.execution_id)
    query = step_messages(
        customer.id, channel, ctx.step_id, recipe.scalar_subquery(), ("queued", "sending", "sent")
    ).where(OutboxMessage.execution_id != ctx.execution_id)
    return {row.recipient: (row.id, row.status) for row in session.execute(query)}


def _channel(params: dict[str, Any]) -> str:
    channel = params.get("channel")
    if channel not in REQUIRED:
        raise StepError(f"unknown channel {channel!r}; choose one of {', '.join(REQUIRED)}")
    return str(channel)


def _check_params(params: dict[str, Any], channel: str) -> None:
    needed, one_of = REQUIRED[channel]
    for name in needed:
        if params.get(name) in (None, ""):
            raise StepError(f"channel {channel} needs the parameter {name!r}")
    if not any(params.get(name) not in (None, "") for name in one_of):
        raise StepError(f"channel {channel} needs " + " or ".join(repr(n) for n in one_of))
    if "items" in params and not isinstance(params["items"], list):
        raise StepError(
            f"items must be a list, not {type(params['items']).__name__} "
            "(check the template that gives it)"
        )


def _item_contexts(params: dict[str, Any]) -> list[tuple[int | None, dict[str, Any] | None]]:
    if "items" not in params:
        return [(None, None)]
    return [(i, {"item": item, "index": i}) for i, item in enumerate(params["items"])]


def _missing_content(channel: str, subject: str | None, body: str | None, data: Any) -> str | None:
    if channel == "email" and not (subject or body):
        return "empty subject and body"
    if channel in ("sms", "push") and not body:
        return "empty body"
    if channel == "webhook" and data is None and not body:
        return "empty payload and body"
    return None


def _customer_slug(ctx: StepContext) -> str:
    """From the template context when the runner put it there (no query), else the row."""
    customer = ctx.template_context.get("customer")
    if isinstance(customer, dict) and customer.get("slug"):
        return str(customer["slug"])
    return ctx.customer.slug


def _check_session_unused(ctx: StepContext) -> None:
    """Delivery works in transactions of its own; on SQLite (one writer at a time) those would
    wait forever behind the step's transaction if it had already written or read."""
    if ctx.session.get_bind().dialect.name != "sqlite":
        return
    transaction = ctx.session.get_transaction()
    bind = ctx.session.get_bind()
    begun = isinstance(bind, Connection) and bind.in_transaction()  # a run phase's own
    if begun or transaction is not None and getattr(transaction, "_connections", None):
        raise StepError(
            "internal error: a sending correspondence step must not use the step's "
            "transaction before it delivers (a bug, please report)"
        )


def _sender(customer: Customer, warnings: list[str]) -> dict[str, Any]:
    """From, reply-to and postal address from the customer's settings (never the recipe:
    who a customer's e-mail comes from is theirs to set)."""
    from hunter_cli.text_hygiene import control_character

    settings = customer.settings or {}
    for key in SENDER_SETTINGS:
        # Settings written before `customers add/update` refused them (or by hand): a line
        # break would become a header of its own or the SMTP envelope's sender.
        what = control_character(str(settings.get(key) or ""))
        if what is not None:
            raise StepError(
                f"customer {customer.slug}'s {key} setting contains {what}, which would "
                "change the e-mail's headers: nothing was queued; fix it with `hunter "
                f"customers update {customer.slug} --{key.replace('_', '-')} ...`"
            )
    from_email, from_name = settings.get("from_email"), settings.get("from_name")
    sender: dict[str, Any] = {"from": None, "reply_to": settings.get("reply_to") or None}
    checked = check_email(from_email)
    if from_email and checked.error is None:
        sender["from"] = formataddr((str(from_name or ""), checked.value))
    else:
        warning = (
            f"customer {customer.slug} has no valid from_email setting: its "
            "e-mails could not be delivered"
        )
        if warning not in warnings:
            warnings.append(warning)
    if settings.get("postal_address"):
        sender["postal_address"] = settings["postal_address"]
    return sender


def _payload(
    channel: str,
    data: Any,
    topic: str | None,
    link: str | None,
    sender: dict[str, Any],
    to_name: str | None,
    params: dict[str, Any],
) -> dict[str, Any]:
    """What the channel's delivery will need besides subject and body."""
    payload: dict[str, Any] = {}
    if channel == "email":
        payload.update(sender)
        if to_name:
            payload["to_name"] = to_name
    elif channel == "webhook":
        payload["method"] = "POST"
        if topic:
            payload["event"] = topic
    elif channel == "push":
        payload["topic"] = topic
        if link:
            payload["url"] = link
        for name in ("priority", "tags"):  # ntfy headers; [channels.push] gives defaults
            if params.get(name) not in (None, "", []):
                payload[name] = to_plain_json(params[name])
    if data is not None:
        payload["json" if channel == "webhook" else "data"] = data
    return payload
