"""`correspondence`: e-mail, SMS, webhook and push messages, one per item when `items` is
given. Every message goes to the outbox (a dry run: nothing leaves the machine); a bad
recipient skips that one message, never the whole step."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from email.utils import formataddr
from typing import Any, ClassVar

from hunter_cli.audit import to_plain_json
from hunter_cli.components.base import StepContext, StepError
from hunter_cli.outbox import (
    CHECKS,
    Recipient,
    check_email,
    content_digest,
    deliver_message,
    display_recipient,
    message_key,
    queue_message,
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
PLAN_RECIPIENTS = 20


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
    channel: str
    dry_run: bool
    queued: int = 0
    skipped: int = 0
    duplicates: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)

    def add(self, draft: _Draft, message_id: uuid.UUID, status: str, reason: str | None) -> None:
        if status == "queued":
            self.queued += 1
        elif status == "skipped":
            self.skipped += 1
        else:
            self.duplicates += 1
        entry: dict[str, Any] = {
            "id": str(message_id),
            "recipient": display_recipient(self.channel, draft.recipient.value),
            "status": status,
            "reason": reason,
        }
        if draft.index is not None:
            entry["index"] = draft.index
        self.messages.append(entry)

    def output(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "channel": self.channel,
            "queued": self.queued,
            "skipped": self.skipped,
            "duplicates": self.duplicates,
            "messages": self.messages,
            "dry_run": self.dry_run,
        }
        if self.queued == 0:
            if not self.messages:
                result["note"] = "nothing to send: no items"
            else:
                result["note"] = (
                    f"no new messages queued: {self.skipped} skipped, "
                    f"{self.duplicates} duplicate(s)"
                )
        return result


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
        channel = _channel(params)
        _check_params(params, channel)
        # The runner does not hand --send to steps yet; honour it once it does.
        send = bool(ctx.meta.get("send"))
        sender = _sender(ctx) if channel == "email" else {}
        tally = _Tally(channel, dry_run=not send)
        seen: dict[str, uuid.UUID] = {}
        for index, extra in _item_contexts(params):
            ctx.check_deadline()
            for draft in self._drafts(params, ctx, channel, index, extra, sender):
                key = message_key(ctx.execution_id, ctx.step_id, channel, draft.recipient_key)
                if key in seen:
                    tally.add(
                        draft,
                        seen[key],
                        "duplicate",
                        "same recipient as an earlier message of this step",
                    )
                    continue
                status = "skipped" if draft.reason else "queued"
                message, created = queue_message(
                    ctx.session,
                    customer_id=ctx.customer.id,
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
                    error=draft.reason,
                )
                seen[key] = message.id
                if not created:
                    tally.add(
                        draft,
                        message.id,
                        "duplicate",
                        f"already in the outbox ({message.status}) from an earlier "
                        "run of this step",
                    )
                    continue
                self._audit(ctx, channel, draft, message.id, status)
                tally.add(draft, message.id, status, draft.reason)
                if send and status == "queued":
                    deliver_message(message)
        if tally.skipped:
            ctx.warnings.append(
                f"step {ctx.step_id}: {tally.skipped} {channel} message(s) skipped "
                "(see `hunter outbox list --status skipped`)"
            )
        return tally.output()

    def _drafts(
        self,
        params: dict[str, Any],
        ctx: StepContext,
        channel: str,
        index: int | None,
        extra: dict[str, Any] | None,
        sender: dict[str, Any],
    ) -> list[_Draft]:
        """The messages of one item: one per recipient, each checked for its channel."""
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
                    payload=_payload(channel, data, topic, link, sender, recipient.name),
                    reason=reason,
                )
            )
        return drafts

    def _audit(
        self, ctx: StepContext, channel: str, draft: _Draft, message_id: uuid.UUID, status: str
    ) -> None:
        # Subject and recipient, never the body: bodies are personal and can be long.
        details: dict[str, Any] = {
            "channel": channel,
            "recipient": display_recipient(channel, draft.recipient.value),
            "message_id": str(message_id),
        }
        if channel in ("email", "push") and draft.subject:
            details["subject"] = draft.subject
        if draft.index is not None:
            details["index"] = draft.index
        if draft.reason:
            details["reason"] = draft.reason
        ctx.audit(f"correspondence.{status}", details)

    def plan(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        channel = params.get("channel")
        result: dict[str, Any] = {
            "provider": f"outbox:{channel}",
            "dry_run": not ctx.meta.get("send"),
        }
        items = params.get("items")
        if "items" in params and not isinstance(items, list):
            # Still a template: it depends on an earlier step's output.
            result["sends"] = "per item"
            return result
        recipients: list[str] = []
        complete = channel in CHECKS
        for _index, extra in _item_contexts(params) if complete else []:
            try:
                value = ctx.render(params.get(RECIPIENT_PARAM[channel]), extra)
            except TemplateError:  # depends on something only a real run has
                complete = False
                break
            for raw in _recipients(value):
                checked = CHECKS[channel](raw)
                recipients.append(display_recipient(channel, checked.value))
        if complete:
            result["sends"] = len(recipients)
            result["recipients"] = recipients[:PLAN_RECIPIENTS]
            if len(recipients) > PLAN_RECIPIENTS:
                result["recipients_more"] = len(recipients) - PLAN_RECIPIENTS
        else:
            result["sends"] = len(items) if isinstance(items, list) else 1
        return result


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


def _sender(ctx: StepContext) -> dict[str, Any]:
    """From, reply-to and postal address from the customer's settings (never the recipe:
    who a customer's e-mail comes from is theirs to set)."""
    settings = ctx.customer.settings or {}
    from_email, from_name = settings.get("from_email"), settings.get("from_name")
    sender: dict[str, Any] = {"from": None, "reply_to": settings.get("reply_to") or None}
    if from_email and check_email(from_email).error is None:
        sender["from"] = formataddr((str(from_name or ""), str(from_email)))
    else:
        warning = (
            f"customer {ctx.customer.slug} has no valid from_email setting: its "
            "e-mails could not be delivered"
        )
        if warning not in ctx.warnings:
            ctx.warnings.append(warning)
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
    if data is not None:
        payload["json" if channel == "webhook" else "data"] = data
    return payload
