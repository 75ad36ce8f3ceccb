"""Real delivery through the runner and `hunter_cli.delivery` against loopback servers, on
SQLite and PostgreSQL: exactly once (retried steps, repeated delivery, a crash left in
`sending`, two processes at once), suppression at queue time and again before delivery,
daily caps, failures, an unreachable server, and no secret in any row or log."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select, text, update

from hunter_cli import suppression
from hunter_cli.audit import verify_chain
from hunter_cli.components import get_component
from hunter_cli.components.base import StepContext, StepError
from hunter_cli.config import Settings, load_settings, send_requested
from hunter_cli.customers import resolve_customer
from hunter_cli.db.models import AuditLog, Execution, OutboxMessage, Suppression
from hunter_cli.db.types import utcnow
from hunter_cli.delivery import (
    Deliverer,
    daily_cap,
    sent_today,
    session_transaction,
)
from hunter_cli.engine.runner import Runner, RunOptions
from hunter_cli.errors import ConfigError
from hunter_cli.outbox import queued_ids, waiting_messages
from hunter_cli.recipe import load_and_validate
from hunter_cli.recipe.templates import evaluate_expression, render_value
from tests import channel_servers, servers
from tests.channel_servers import (
    NTFY_TOKEN,
    SMTP_PASSWORD,
    SMTP_USER,
    TWILIO_SID,
    TWILIO_TOKEN,
    WEBHOOK_SECRET,
    SmtpServer,
)
from tests.servers import Reply

# Fixtures used here (assigned, not imported, so they read as used).
http_server = servers.http_server
smtp_server = channel_servers.smtp_server
twilio = channel_servers.twilio
ntfy = channel_servers.ntfy
webhook_receiver = channel_servers.webhook_receiver

SECRETS = (SMTP_PASSWORD, TWILIO_TOKEN, WEBHOOK_SECRET, WEBHOOK_SECRET[6:], NTFY_TOKEN)
LEADS = [
    {"name": "Ann", "email": "ann@example.com", "phone": "+4930111111"},
    {"name": "Bob", "email": "bob@mail.example.org", "phone": "+4930222222"},
    {"name": "Cy", "email": "cy@example.net", "phone": "+4930333333"},
]


@pytest.fixture(autouse=True)
def secrets_in_env(monkeypatch):
    for name, value in {
        "SMTP_USERNAME": SMTP_USER,
        "SMTP_PASSWORD": SMTP_PASSWORD,
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "NTFY_TOKEN": NTFY_TOKEN,
    }.items():
        monkeypatch.setenv(name, value)


def email_config(server: SmtpServer, **extra: Any) -> str:
    lines = [
        "[channels.email]",
        f'host = "{server.host}"',
        f"port = {server.port}",
        'security = "none"',
        "timeout = 5",
        'unsubscribe_mailto = "unsubscribe@acme.example"',
        'unsubscribe_url = "https://acme.example/u?e={email}"',
    ]
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def settings_for(db, tmp_path: Path, toml: str) -> Settings:
    path = tmp_path / "hunter.toml"
    path.write_text('[workspace]\ndefault_customer = "acme"\n' + toml)
    return load_settings(config=path, database_url=db.url, actor="tester", environ={})


def mail_step(**extra: Any) -> dict[str, Any]:
    return {
        "id": "mail",
        "type": "correspondence",
        "channel": "email",
        "items": "{{ inputs.leads }}",
        "to": "{{ item.email }}",
        "subject": "Hello {{ item.name }}",
        "body": "Dear {{ item.name }},\nquick question.",
        **extra,
    }


def run(db, settings: Settings, tmp_path: Path, steps: list[dict], *, send=True, leads=LEADS):
    recipe = {
        "slug": "sender",
        "name": "Sender",
        "version": 1,
        "inputs": {"type": "object", "properties": {"leads": {"type": "array"}}},
        "steps": steps,
    }
    path = tmp_path / f"sender-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return Runner(db, settings).run(
        load_and_validate(path), "acme", {"leads": leads}, RunOptions(send=send)
    )


def rows(db, **where: Any) -> list[OutboxMessage]:
    with db.session() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.recipient)
        for key, value in where.items():
            query = query.where(getattr(OutboxMessage, key) == value)
        return list(session.scalars(query))


def audit(db, prefix: str) -> list[tuple[str, dict]]:
    with db.session() as session:
        found = session.scalars(
            select(AuditLog).where(AuditLog.action.like(prefix + "%")).order_by(AuditLog.seq)
        )
        return [(a.action, a.details) for a in found]


def deliverer(db, settings: Settings) -> Deliverer:
    return Deliverer(session_transaction(db.engine), settings, actor="tester")


# --- the happy path --------------------------------------------------------------------------


def test_send_delivers_each_message_once_and_records_it(seeded, tmp_path, smtp_server):
    settings = settings_for(seeded, tmp_path, email_config(smtp_server))
    result = run(seeded, settings, tmp_path, [mail_step()])

    assert result.status == "success", result.error
    output = result.steps[0].output
    assert (output["sent"], output["queued"], output["failed"], output["dry_run"]) == (
        3,
        0,
        0,
        False,
    )
    assert sorted(m.rcpt_tos[0] for m in smtp_server.received) == [
        "ann@example.com",
        "bob@mail.example.org",
        "cy@example.net",
    ]
    sent = rows(seeded)
    assert {r.status for r in sent} == {"sent"}
    by_to = {m.rcpt_tos[0]: m.message for m in smtp_server.received}
    for row in sent:
        assert row.provider == "smtp" and row.attempts == 1
        assert row.provider_message_id == by_to[row.recipient]["Message-ID"].strip()
        assert row.sending_at <= row.sent_at
    assert {m["status"] for m in output["messages"]} == {"sent"}
    assert output["messages"][0]["provider_message_id"].endswith("@acme.example>")

    actions = [a for a, _ in audit(seeded, "correspondence.") + audit(seeded, "delivery.")]
    assert actions.count("correspondence.queued") == 3
    assert actions.count("delivery.sending") == 3 and actions.count("delivery.sent") == 3
    sent_audit = [d for a, d in audit(seeded, "delivery.sent")]
    assert sent_audit[0]["provider"] == "smtp" and sent_audit[0]["step"] == "mail"
    assert all("Dear" not in json.dumps(d) for _, d in audit(seeded, ""))
    with seeded.session() as session:
        assert verify_chain(session).ok
        execution = session.get(Execution, result.execution_id)
        assert execution.status == "success"


def test_without_send_nothing_leaves_and_send_true_in_hunter_toml_sends(
    seeded, tmp_path, smtp_server
):
    settings = settings_for(seeded, tmp_path, email_config(smtp_server))
    dry = run(seeded, settings, tmp_path, [mail_step()], send=False)
    assert dry.steps[0].output["queued"] == 3 and dry.steps[0].output["dry_run"] is True
    assert smtp_server.received == []

    configured = settings_for(
        seeded, tmp_path, email_config(smtp_server) + "[customers.acme]\nsend = true\n"
    )
    assert send_requested(configured, "acme") and not send_requested(configured, "global")
    sent = run(seeded, configured, tmp_path, [mail_step()], send=False)
    assert sent.steps[0].output["sent"] == 3 and len(smtp_server.received) == 3
    # It delivered, and says so (it said "send": false).
    assert sent.send is True and sent.to_dict()["send"] is True
    with seeded.session() as session:
        assert session.get(Execution, sent.execution_id).send is True
        assert session.get(Execution, dry.execution_id).send is False
    # The messages the dry run queued are the ones delivered: no second message each.
    assert {r.status for r in rows(seeded, execution_id=dry.execution_id)} == {"sent"}
    assert rows(seeded, execution_id=sent.execution_id) == []
    again = run(seeded, configured, tmp_path, [mail_step()], send=False)
    assert again.steps[0].output["duplicates"] == 3 and len(smtp_server.received) == 3

    # Refused as hunter.toml is read, before any run could take it for "do not send".
    with pytest.raises(ConfigError, match=r"\[customers.acme\] send must be true or false"):
        settings_for(seeded, tmp_path, '[customers.acme]\nsend = "yes"\n')


def test_once_per_recipient_false_sends_again_but_never_doubles_a_waiting_draft(
    seeded, tmp_path, smtp_server
):
    settings = settings_for(seeded, tmp_path, email_config(smtp_server))
    again = mail_step(once_per_recipient=False)
    dry = run(seeded, settings, tmp_path, [again], send=False)
    assert dry.steps[0].output["queued"] == 3
    # A second dry run does not stack a second draft per person...
    second = run(seeded, settings, tmp_path, [again], send=False)
    assert (second.steps[0].output["queued"], second.steps[0].output["duplicates"]) == (0, 3)
    # ...and --send delivers the drafts waiting, not new messages beside them.
    sent = run(seeded, settings, tmp_path, [again], send=True)
    assert sent.steps[0].output["sent"] == 3 and len(smtp_server.received) == 3
    assert {r.status for r in rows(seeded, execution_id=dry.execution_id)} == {"sent"}
    assert [r for r in rows(seeded) if r.status == "queued"] == []
    # Once sent, false means what it says: the same people are written to again.
    resent = run(seeded, settings, tmp_path, [again], send=True)
    assert resent.steps[0].output["sent"] == 3 and len(smtp_server.received) == 6


def test_sms_webhook_and_push_through_the_step(seeded, tmp_path, twilio, webhook_receiver, ntfy):
    ntfy.topic("leads-acme")
    toml = (
        f'[channels.sms]\nfrom = "+15005550006"\nbase_url = "{twilio.url}"\nbackoff = 0\n'
        "[channels.webhook]\nbackoff = 0\n"
        f'[channels.push]\nserver = "{ntfy.url}"\ntags = ["hunter"]\n'
    )
    settings = settings_for(seeded, tmp_path, toml)
    steps = [
        {
            "id": "text",
            "type": "correspondence",
            "channel": "sms",
            "items": "{{ inputs.leads }}",
            "to": "{{ item.phone }}",
            "body": "Hi {{ item.name }}",
        },
        {
            "id": "hook",
            "type": "correspondence",
            "channel": "webhook",
            "url": webhook_receiver.url + "?token=t0k",
            "topic": "leads.found",
            "payload": {"count": "{{ inputs.leads | length }}"},
        },
        {
            "id": "notify",
            "type": "correspondence",
            "channel": "push",
            "topic": "leads-acme",
            "subject": "Leads",
            "body": "{{ inputs.leads | length }} new leads",
            "priority": "high",
        },
    ]
    result = run(seeded, settings, tmp_path, steps)
    assert result.status == "success", result.error
    assert [s.output["sent"] for s in result.steps] == [3, 1, 1]
    assert sorted(f["To"] for f in twilio.sent) == ["+4930111111", "+4930222222", "+4930333333"]
    assert webhook_receiver.verified == [{"count": 3}]
    assert ntfy.published[0].headers["priority"] == "high"
    assert ntfy.published[0].headers["tags"] == "hunter"
    ids = {r.channel: r.provider_message_id for r in rows(seeded)}
    assert ids["sms"].startswith("SM") and ids["webhook"].startswith("msg_")
    assert ids["push"] == "ntfy0001"


# --- compliance ------------------------------------------------------------------------------


def test_suppressed_recipients_are_skipped_at_queue_time(seeded, tmp_path, smtp_server, twilio):
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        suppression.add_suppression(session, acme, "ann@example.com", reason="asked", actor="t")
        suppression.add_suppression(session, acme, "example.org", actor="t")  # bob@mail.…
        suppression.add_suppression(session, acme, "+4930333333", actor="t")
    toml = email_config(smtp_server) + (
        f'[channels.sms]\nfrom = "+15005550006"\nbase_url = "{twilio.url}"\nbackoff = 0\n'
    )
    settings = settings_for(seeded, tmp_path, toml)
    sms_step = {
        "id": "text",
        "type": "correspondence",
        "channel": "sms",
        "items": "{{ inputs.leads }}",
        "to": "{{ item.phone }}",
        "body": "Hi",
    }
    result = run(seeded, settings, tmp_path, [mail_step(), sms_step])

    mail, text_ = (s.output for s in result.steps)
    assert (mail["sent"], mail["skipped"]) == (1, 2)
    assert (text_["sent"], text_["skipped"]) == (2, 1)
    assert [m.rcpt_tos for m in smtp_server.received] == [["cy@example.net"]]
    assert "+4930333333" not in [f["To"] for f in twilio.sent]
    skipped = {r.recipient: r.error for r in rows(seeded, status="skipped")}
    assert skipped == {
        "ann@example.com": "suppressed: ann@example.com is on the suppression list (asked)",
        "bob@mail.example.org": "suppressed: domain example.org is on the suppression list",
        "+4930333333": "suppressed: +4930333333 is on the suppression list",
    }
    reasons = [d["reason"] for _, d in audit(seeded, "correspondence.skipped")]
    assert sorted(reasons) == sorted(skipped.values())
    assert any("2 email message(s) skipped" in w for w in result.warnings)


def test_suppression_is_checked_again_right_before_delivery(seeded, tmp_path, smtp_server):
    settings = settings_for(seeded, tmp_path, email_config(smtp_server))
    dry = run(seeded, settings, tmp_path, [mail_step()], send=False)
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        suppression.add_suppression(session, acme, "example.net", reason="late", actor="t")
        ids = queued_ids(session, acme, execution_id=dry.execution_id)

    with deliverer(seeded, settings) as sender:
        outcomes = sender.deliver(ids)
    by_to = {o.recipient: o for o in outcomes}
    assert by_to["cy@example.net"].status == "skipped"
    assert by_to["cy@example.net"].reason == (
        "suppressed: domain example.net is on the suppression list (late)"
    )
    assert sorted(m.rcpt_tos[0] for m in smtp_server.received) == [
        "ann@example.com",
        "bob@mail.example.org",
    ]
    (row,) = rows(seeded, recipient="cy@example.net")
    assert (row.status, row.attempts, row.sending_at) == ("skipped", 0, None)
    assert [d["recipient"] for _, d in audit(seeded, "delivery.skipped")] == ["cy@example.net"]


def test_a_suppressed_address_covers_its_plus_addressed_forms_when_sending(
    seeded, tmp_path, smtp_server
):
    """Regression: `suppress add bob@x.example`, then bob+promo@x.example was e-mailed."""
    settings = settings_for(seeded, tmp_path, email_config(smtp_server))
    leads = [{"name": "Ann", "email": "ann+promo@example.com"}, *LEADS[1:]]
    dry = run(seeded, settings, tmp_path, [mail_step()], send=False, leads=leads)
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        suppression.add_suppression(session, acme, "ann@example.com", reason="asked", actor="t")
        ids = queued_ids(session, acme, execution_id=dry.execution_id)
    with deliverer(seeded, settings) as sender:
        outcomes = {o.recipient: o for o in sender.deliver(ids)}
    assert (outcomes["ann+promo@example.com"].status, outcomes["ann+promo@example.com"].reason) == (
        "skipped",
        "suppressed: ann@example.com is on the suppression list (asked)",
    )
    assert "ann+promo@example.com" not in [m.rcpt_tos[0] for m in smtp_server.received]
    # And at queue time, for the next run of another recipe step.
    again = run(seeded, settings, tmp_path, [mail_step(id="again")], leads=leads[:1])
    assert again.steps[0].output["skipped"] == 1 and len(smtp_server.received) == 2


def test_the_daily_cap_keeps_the_rest_queued_until_another_day(seeded, tmp_path, smtp_server):
    toml = (
        email_config(smtp_server)
        + "[limits.daily_caps]\nemail = 1\nsms = 10\n"
        + "[customers.acme.daily_caps]\nemail = 2\n"
    )
    settings = settings_for(seeded, tmp_path, toml)
    assert daily_cap(settings, "acme", "email") == 2
    assert daily_cap(settings, "global", "email") == 1
    assert daily_cap(settings, "acme", "sms") == 10 and daily_cap(settings, "acme", "push") is None

    result = run(seeded, settings, tmp_path, [mail_step()])
    output = result.steps[0].output
    assert (output["sent"], output["queued"]) == (2, 1)
    left = next(m for m in output["messages"] if m["status"] == "queued")
    assert left["reason"].startswith("daily cap reached: 2 email message(s) a day for acme")
    assert any("1 email message(s) left queued: daily cap reached" in w for w in result.warnings)
    assert len(smtp_server.received) == 2
    assert [a for a, _ in audit(seeded, "delivery.deferred")] == ["delivery.deferred"]
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        assert sent_today(session, acme.id, "email") == 2

    # Later the same day: still capped.
    with deliverer(seeded, settings) as sender:
        outcomes = sender.deliver([uuid.UUID(left["id"])])
    assert outcomes[0].status == "queued" and len(smtp_server.received) == 2

    # The next UTC day (moved back here): the queued one goes.
    with seeded.session() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "sent")
            .values(sent_at=utcnow() - timedelta(days=1), sending_at=utcnow() - timedelta(days=1))
        )
    with deliverer(seeded, settings) as sender:
        outcomes = sender.deliver([uuid.UUID(left["id"])])
    assert outcomes[0].status == "sent" and len(smtp_server.received) == 3

    with pytest.raises(ConfigError, match=r"\[limits.daily_caps\] email must be a whole number"):
        settings_for(seeded, tmp_path, "[limits.daily_caps]\nemail = -1\n")


# --- exactly once ----------------------------------------------------------------------------


def _context(session, settings, execution_id, step_id="mail", send=True) -> StepContext:
    acme = resolve_customer(session, "acme")
    return StepContext(
        session=session,
        settings=settings,
        customer_id=acme.id,
        execution_id=execution_id,
        step_id=step_id,
        actor="tester",
        template_context={"inputs": {"leads": LEADS}, "customer": {"slug": "acme"}},
        render_fn=render_value,
        evaluate_fn=evaluate_expression,
        meta={"send": send},
    )


def _run_step(db, settings, execution_id, params):
    """One attempt of a step as the runner makes it: a fresh session per attempt, untouched
    before the component runs."""
    component = get_component("correspondence")
    with db.sessions() as probe:
        ctx = _context(probe, settings, execution_id)
        probe.rollback()
    with db.session() as session:
        ctx.session = session
        return component.run(params, ctx)


def test_running_the_same_step_twice_sends_nothing_twice(seeded, tmp_path, smtp_server):
    settings = settings_for(seeded, tmp_path, email_config(smtp_server))
    with seeded.session() as session:
        execution = Execution(
            customer_id=resolve_customer(session, "acme").id, recipe_slug="t", status="running"
        )
        session.add(execution)
    params = {key: value for key, value in mail_step().items() if key not in ("id", "type")}
    params["items"] = LEADS

    first = _run_step(seeded, settings, execution.id, params)
    again = _run_step(seeded, settings, execution.id, params)
    assert first["sent"] == 3
    assert (again["sent"], again["duplicates"]) == (0, 3)
    assert again["messages"][0]["reason"] == "already sent by an earlier attempt of this step"
    assert len(smtp_server.received) == 3

    # Delivering the same messages again does nothing either.
    with deliverer(seeded, settings) as sender:
        outcomes = sender.deliver([r.id for r in rows(seeded)])
    assert {o.status for o in outcomes} == {"not_deliverable"}
    assert outcomes[0].reason == "already sent"
    assert len(smtp_server.received) == 3


def test_a_retried_step_delivers_what_its_failed_attempt_left_queued(seeded, tmp_path):
    server = SmtpServer()  # its port is chosen, but nothing listens yet
    settings = settings_for(seeded, tmp_path, email_config(server))
    step = mail_step(retry={"attempts": 1})
    failed = run(seeded, settings, tmp_path, [step])
    assert failed.status == "failed"
    assert "email delivery stopped: cannot reach the SMTP server" in failed.error
    assert "3 message(s) left queued" in failed.error
    queued = rows(seeded, execution_id=failed.execution_id)
    assert {r.status for r in queued} == {"queued"}
    assert [r.attempts for r in queued].count(1) == 1  # one tried, the rest never attempted
    assert next(r for r in queued if r.attempts).error.startswith("cannot reach the SMTP")

    server.start()
    try:
        params = {k: v for k, v in step.items() if k not in ("id", "type", "retry")}
        params["items"] = LEADS
        output = _run_step(seeded, settings, failed.execution_id, params)
        assert output["sent"] == 3 and len(server.received) == 3
        assert {r.status for r in rows(seeded, execution_id=failed.execution_id)} == {"sent"}
    finally:
        server.stop()


def test_a_send_run_resumed_without_send_delivers_and_counts_its_cut_off_message_unknown(
    seeded, tmp_path
):
    server = SmtpServer()  # its port is chosen, but nothing listens yet
    settings = settings_for(seeded, tmp_path, email_config(server))
    failed = run(seeded, settings, tmp_path, [mail_step()], send=True)
    assert failed.status == "failed" and "3 message(s) left queued" in failed.error
    with seeded.session() as session:
        assert session.get(Execution, failed.execution_id).send is True
    # As if the process had died while delivering the first: it is left in `sending`.
    cut_off, *waiting = rows(seeded, execution_id=failed.execution_id)
    with seeded.session() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == cut_off.id)
            .values(status="sending", sending_at=utcnow(), attempts=1)
        )

    server.start()
    try:
        resumed = Runner(seeded, settings).resume(str(failed.execution_id))  # no --send
    finally:
        server.stop()
    assert (resumed.status, resumed.send) == ("partial", True), resumed.error
    assert resumed.error == ("step 'mail': 1 email message(s) not delivered (1 of unknown outcome)")
    output = resumed.steps[0].output
    assert (output["sent"], output["unknown"], output["duplicates"]) == (2, 1, 0)
    (unknown,) = [m for m in output["messages"] if m["status"] == "unknown"]
    assert unknown["id"] == str(cut_off.id)
    assert unknown["reason"].startswith("left in `sending` by an earlier attempt of this step")
    unsure = "1 email message(s) may or may not have been delivered"
    assert any(unsure in w for w in resumed.warnings)
    assert sorted(m.rcpt_tos[0] for m in server.received) == sorted(r.recipient for r in waiting)
    assert [d.get("send") for _, d in audit(seeded, "execution.resume")] == [True]


def test_a_dry_run_resumed_with_send_delivers_and_is_recorded_so(seeded, tmp_path, smtp_server):
    settings = settings_for(seeded, tmp_path, email_config(smtp_server))
    dry = run(seeded, settings, tmp_path, [mail_step()], send=False)
    assert dry.steps[0].output["queued"] == 3 and dry.send is False
    with seeded.session() as session:
        execution = session.get(Execution, dry.execution_id)
        assert execution.send is False
        # As if it had stopped before recording its step (its messages are committed).
        execution.status, execution.steps = "interrupted", []
    resumed = Runner(seeded, settings).resume(str(dry.execution_id), RunOptions(send=True))
    assert (resumed.status, resumed.send) == ("success", True), resumed.error
    assert resumed.steps[0].output["sent"] == 3 and len(smtp_server.received) == 3
    with seeded.session() as session:
        assert session.get(Execution, dry.execution_id).send is True


def test_a_message_left_in_sending_is_never_sent_again_automatically(seeded, tmp_path, smtp_server):
    settings = settings_for(seeded, tmp_path, email_config(smtp_server))
    dry = run(seeded, settings, tmp_path, [mail_step()], send=False)
    crashed, *others = rows(seeded, execution_id=dry.execution_id)
    # A crash between claiming the message and recording the provider's answer.
    with seeded.session() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == crashed.id)
            .values(status="sending", sending_at=utcnow(), attempts=1)
        )
    with deliverer(seeded, settings) as sender:
        outcomes = sender.deliver([crashed.id, *(o.id for o in others)])
    assert [o.status for o in outcomes] == ["not_deliverable", "sent", "sent"]
    assert "--force-unknown" in outcomes[0].reason
    assert crashed.recipient not in [m.rcpt_tos[0] for m in smtp_server.received]
    with seeded.session() as session:
        assert queued_ids(session) == []  # `outbox send --all-queued` will not pick it up

    with deliverer(seeded, settings) as sender:
        forced = sender.deliver([crashed.id], force_unknown=True)
    assert forced[0].status == "sent"
    assert [m.rcpt_tos[0] for m in smtp_server.received].count(crashed.recipient) == 1
    (row,) = rows(seeded, id=crashed.id)
    assert (row.status, row.attempts) == ("sent", 2)
    sending = [d for _, d in audit(seeded, "delivery.sending") if d["message_id"] == str(row.id)]
    assert sending == [
        {
            "channel": "email",
            "recipient": crashed.recipient,
            "message_id": str(row.id),
            "step": "mail",
            "provider": "smtp",
            "previous_status": "sending",
        }
    ]


def test_two_deliverers_at_once_send_each_message_once(seeded, tmp_path, smtp_server):
    settings = settings_for(seeded, tmp_path, email_config(smtp_server))
    many = [{"name": f"L{i}", "email": f"lead{i}@example.com"} for i in range(8)]
    dry = run(seeded, settings, tmp_path, [mail_step()], send=False, leads=many)
    with seeded.session() as session:
        ids = queued_ids(session, execution_id=dry.execution_id)
    results: list[list[str]] = []
    start = threading.Barrier(2)

    def worker(order: list[uuid.UUID]) -> None:
        start.wait()
        with deliverer(seeded, settings) as sender:
            seen = dict.fromkeys(order, "queued")  # as each listed them
            results.append([o.status for o in sender.deliver(order, seen=seen)])

    threads = [
        threading.Thread(target=worker, args=(ids,)),
        threading.Thread(target=worker, args=(list(reversed(ids)),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 2
    statuses = results[0] + results[1]
    assert statuses.count("sent") == 8
    # What the other claimed first is `taken` (theirs to deliver), never a failure.
    assert set(statuses) <= {"sent", "taken"}
    assert statuses.count("taken") == 8
    assert sorted(m.rcpt_tos[0] for m in smtp_server.received) == sorted(m["email"] for m in many)


def test_two_force_unknowns_of_one_message_at_once_deliver_it_once(seeded, tmp_path, smtp_server):
    """Regression: the claim of a message in `sending` moved it from `sending` to `sending`,
    so two `outbox send ID --force-unknown` at once both won it and both delivered."""
    settings = settings_for(seeded, tmp_path, email_config(smtp_server))
    run(seeded, settings, tmp_path, [mail_step()], send=False, leads=LEADS[:1])
    (crashed,) = rows(seeded)
    with seeded.session() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == crashed.id)
            .values(status="sending", sending_at=utcnow(), attempts=1)
        )
    results: list[tuple[str, str | None]] = []
    start = threading.Barrier(2)

    def worker() -> None:
        # As `outbox send ID --force-unknown` lists it: in `sending`, after one attempt.
        seen, attempts = {crashed.id: "sending"}, {crashed.id: 1}
        start.wait()
        with deliverer(seeded, settings) as sender:
            (outcome,) = sender.deliver(
                [crashed.id], force_unknown=True, seen=seen, seen_attempts=attempts
            )
            results.append((outcome.status, outcome.reason))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(status for status, _ in results) == ["sent", "taken"], results
    taken = next(reason for status, reason in results if status == "taken")
    # Which, depends on when the loser looked: after the winner's claim, or at the same time.
    assert taken in (
        "being sent by another process",
        "sent by another process",
        "another process took it first",
    )
    assert len(smtp_server.received) == 1
    (row,) = rows(seeded, id=crashed.id)
    assert (row.status, row.attempts) == ("sent", 2)
    assert len(audit(seeded, "delivery.sending")) == 1


# --- failures --------------------------------------------------------------------------------


def test_a_refused_recipient_fails_alone_and_can_be_retried(seeded, tmp_path, smtp_server):
    smtp_server.refuse.add("bob@mail.example.org")
    settings = settings_for(seeded, tmp_path, email_config(smtp_server))
    result = run(seeded, settings, tmp_path, [mail_step()])
    # A message not delivered makes the run partial (exit 5), never a plain success.
    assert result.status == "partial"
    assert result.error == ("step 'mail': 1 email message(s) not delivered (1 failed)")
    assert result.steps[0].status == "ok"
    output = result.steps[0].output
    assert (output["sent"], output["failed"]) == (2, 1)
    assert any("1 email message(s) failed" in w for w in result.warnings)
    (bob,) = rows(seeded, recipient="bob@mail.example.org")
    assert bob.status == "failed" and "550" in bob.error
    assert [d["reason"] for _, d in audit(seeded, "delivery.failed")] == [bob.error]

    with deliverer(seeded, settings) as sender:
        assert sender.deliver([bob.id])[0].status == "not_deliverable"
        smtp_server.refuse.clear()
        assert sender.deliver([bob.id], retry_failed=True)[0].status == "sent"
    assert len(smtp_server.received) == 3


def test_a_failed_message_is_not_retried_once_a_later_run_reached_the_person(
    seeded, tmp_path, smtp_server
):
    """Regression: ann's message failed (550), the next run of the step wrote to her again
    and it went; `outbox send --all-queued --retry-failed` then sent her the first as well."""
    smtp_server.refuse.add("ann@example.com")
    settings = settings_for(seeded, tmp_path, email_config(smtp_server))
    first = run(seeded, settings, tmp_path, [mail_step()])
    assert first.status == "partial"
    (failed,) = rows(seeded, status="failed")
    smtp_server.refuse.clear()
    second = run(seeded, settings, tmp_path, [mail_step()])  # a failed message is no contact
    output = second.steps[0].output
    assert (output["sent"], output["duplicates"]) == (1, 2), output
    (later,) = rows(seeded, execution_id=second.execution_id)
    assert (later.recipient, later.status) == ("ann@example.com", "sent")

    with seeded.session() as session:
        waiting = list(waiting_messages(session, include_failed=True))
    assert waiting == [failed.id]
    with deliverer(seeded, settings) as sender:
        (outcome,) = sender.deliver(waiting, retry_failed=True)
    reason = (
        "duplicate: already sent to this recipient by a later run of this step "
        f"(message {str(later.id)[:8]})"
    )
    assert (outcome.status, outcome.reason) == ("duplicate", reason)
    assert [m.rcpt_tos[0] for m in smtp_server.received].count("ann@example.com") == 1
    (row,) = rows(seeded, id=failed.id)
    assert (row.status, row.error, row.attempts) == ("skipped", reason, 1)
    assert [d["reason"] for _, d in audit(seeded, "delivery.skipped")] == [reason]


def test_a_draft_is_not_delivered_once_its_recipient_got_the_step_s_retried_message(
    seeded, tmp_path, smtp_server
):
    """The other order: the failed message is retried first and goes; the draft a later dry
    run queued for the same person is then a duplicate, not a second e-mail."""
    smtp_server.refuse.add("ann@example.com")
    settings = settings_for(seeded, tmp_path, email_config(smtp_server))
    run(seeded, settings, tmp_path, [mail_step()])
    (failed,) = rows(seeded, status="failed")
    smtp_server.refuse.clear()
    dry = run(seeded, settings, tmp_path, [mail_step()], send=False)
    (draft,) = rows(seeded, execution_id=dry.execution_id, status="queued")
    assert draft.recipient == "ann@example.com"

    with seeded.session() as session:
        waiting = waiting_messages(session, include_failed=True)
    assert list(waiting) == [failed.id, draft.id]
    with deliverer(seeded, settings) as sender:
        outcomes = sender.deliver(list(waiting), retry_failed=True, seen=waiting)
    assert [o.status for o in outcomes] == ["sent", "duplicate"]
    assert outcomes[1].reason == (
        "duplicate: already sent to this recipient by another run of this step "
        f"(message {str(failed.id)[:8]})"
    )
    assert [m.rcpt_tos[0] for m in smtp_server.received].count("ann@example.com") == 1


def test_two_senders_of_one_person_s_twin_messages_at_once_deliver_one(
    seeded, tmp_path, smtp_server
):
    """A retried failed message and another run's draft to the same person, each taken by
    its own sender at the same moment: one goes, the other is a duplicate."""
    smtp_server.refuse.add("ann@example.com")
    settings = settings_for(seeded, tmp_path, email_config(smtp_server))
    run(seeded, settings, tmp_path, [mail_step()])
    (failed,) = rows(seeded, status="failed")
    smtp_server.refuse.clear()
    dry = run(seeded, settings, tmp_path, [mail_step()], send=False)
    (draft,) = rows(seeded, execution_id=dry.execution_id, status="queued")
    start = threading.Barrier(2)
    results: list[str] = []

    def worker(message_id: uuid.UUID) -> None:
        start.wait()
        with deliverer(seeded, settings) as sender:
            results.extend(o.status for o in sender.deliver([message_id], retry_failed=True))

    threads = [threading.Thread(target=worker, args=(i,)) for i in (failed.id, draft.id)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results) == ["duplicate", "sent"]
    assert [m.rcpt_tos[0] for m in smtp_server.received].count("ann@example.com") == 1


def test_a_temporary_smtp_refusal_leaves_the_message_queued_not_failed(
    seeded, tmp_path, smtp_server
):
    smtp_server.rcpt_try_later["bob@mail.example.org"] = 99
    settings = settings_for(seeded, tmp_path, email_config(smtp_server, backoff=0))
    result = run(seeded, settings, tmp_path, [mail_step()])
    assert result.status == "partial", result.error
    assert result.error == "step 'mail': 1 email message(s) not delivered (1 left queued)"
    output = result.steps[0].output
    assert (output["sent"], output["queued"], output["failed"]) == (2, 1, 0)
    (left,) = [m for m in output["messages"] if m["status"] == "queued"]
    assert left["reason"].startswith("the SMTP server refused it for now: 451 4.3.0 try later")
    assert any(
        "1 email message(s) left queued: the SMTP server refused it for now" in w
        for w in result.warnings
    )
    (bob,) = rows(seeded, recipient="bob@mail.example.org")
    assert (bob.status, bob.error, bob.attempts) == ("queued", left["reason"], 1)
    assert [d["reason"] for _, d in audit(seeded, "delivery.deferred")] == [left["reason"]]
    assert audit(seeded, "delivery.failed") == []

    # A later send delivers it once the server takes it.
    smtp_server.rcpt_try_later.clear()
    with seeded.session() as session:
        waiting = queued_ids(session)
    with deliverer(seeded, settings) as sender:
        assert [o.status for o in sender.deliver(waiting)] == ["sent"]
    assert sorted(m.rcpt_tos[0] for m in smtp_server.received) == sorted(
        lead["email"] for lead in LEADS
    )


def test_a_configuration_problem_fails_the_step_before_anything_is_queued(seeded, tmp_path):
    settings = settings_for(seeded, tmp_path, "")
    result = run(seeded, settings, tmp_path, [mail_step()])
    assert result.status == "failed"
    assert "needs [channels.email] host" in result.error
    assert rows(seeded) == []


def test_an_unanswered_sms_stays_sending_with_its_outcome_unknown(seeded, tmp_path, http_server):
    path = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    http_server.route("POST", path, Reply(status=201, json={"sid": "SM1"}, delay=0.5))
    toml = (
        f'[channels.sms]\nfrom = "+15005550006"\nbase_url = "{http_server.url}"\n'
        "timeout = 0.1\nbackoff = 0\n"
    )
    settings = settings_for(seeded, tmp_path, toml)
    step = {
        "id": "text",
        "type": "correspondence",
        "channel": "sms",
        "to": "+4930111111",
        "body": "Hi",
    }
    result = run(seeded, settings, tmp_path, [step])
    assert result.status == "partial"  # not known to be delivered: a script must look
    assert result.steps[0].output["unknown"] == 1
    (row,) = rows(seeded)
    assert row.status == "sending" and row.error.startswith("outcome unknown: no answer")
    with deliverer(seeded, settings) as sender:
        assert sender.deliver([row.id])[0].status == "not_deliverable"
    assert len(http_server.requests) == 1
    assert [a for a, _ in audit(seeded, "delivery.unknown")] == ["delivery.unknown"]


def test_a_502_from_twilio_or_ntfy_leaves_the_message_sending_never_resent(
    seeded, tmp_path, http_server
):
    """Regression: SMS and push were retried on 502/504 and went out two or three times;
    neither API can tell a repeat, and a 5xx other than 503 may come after it was taken."""
    path = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    http_server.route("POST", path, Reply(status=502), Reply(status=201, json={"sid": "SM1"}))
    http_server.route("POST", "/leads", Reply(status=504), Reply(json={"id": "n1"}))
    toml = (
        f'[channels.sms]\nfrom = "+15005550006"\nbase_url = "{http_server.url}"\nbackoff = 0\n'
        f'[channels.push]\nserver = "{http_server.url}"\nbackoff = 0\n'
    )
    settings = settings_for(seeded, tmp_path, toml)
    steps = [
        {
            "id": "text",
            "type": "correspondence",
            "channel": "sms",
            "to": "+4930111111",
            "body": "Hi",
        },
        {"id": "ping", "type": "correspondence", "channel": "push", "topic": "leads", "body": "x"},
    ]
    result = run(seeded, settings, tmp_path, steps)
    assert result.status == "partial", result.error
    assert [s.output["unknown"] for s in result.steps] == [1, 1]
    assert len(http_server.requests) == 2  # one each: never tried again
    by_channel = {r.channel: r for r in rows(seeded)}
    assert by_channel["sms"].status == by_channel["push"].status == "sending"
    assert by_channel["sms"].error == (
        "outcome unknown: Twilio answered 502 (Bad Gateway): it may or may not have taken the "
        "message"
    )
    with deliverer(seeded, settings) as sender:
        again = sender.deliver([r.id for r in by_channel.values()])
    assert {o.status for o in again} == {"not_deliverable"}
    assert len(http_server.requests) == 2


def test_a_touched_step_session_on_sqlite_is_refused_not_deadlocked(seeded, tmp_path, smtp_server):
    if seeded.backend != "sqlite":
        pytest.skip("only SQLite has a single writer")
    settings = settings_for(seeded, tmp_path, email_config(smtp_server))
    with seeded.session() as session:
        ctx = _context(session, settings, uuid.uuid4())  # resolve_customer used the session
        with pytest.raises(StepError, match="must not use the step's transaction"):
            get_component("correspondence").run({**mail_step(), "items": LEADS}, ctx)


# --- secrets ---------------------------------------------------------------------------------


def test_no_secret_reaches_a_row_an_audit_entry_or_a_log(
    seeded, tmp_path, smtp_server, twilio, webhook_receiver, ntfy, caplog
):
    caplog.set_level(logging.DEBUG)
    ntfy.topic("leads-acme")
    toml = email_config(smtp_server) + (
        f'[channels.sms]\nfrom = "+15005550006"\nbase_url = "{twilio.url}"\nbackoff = 0\n'
        f'[channels.push]\nserver = "{ntfy.url}"\n'
    )
    settings = settings_for(seeded, tmp_path, toml)
    steps = [
        mail_step(),
        {
            "id": "text",
            "type": "correspondence",
            "channel": "sms",
            "to": "+4930111111",
            "body": "Hi",
        },
        {
            "id": "hook",
            "type": "correspondence",
            "channel": "webhook",
            "url": webhook_receiver.url,
            "payload": {"n": 1},
        },
        {
            "id": "push",
            "type": "correspondence",
            "channel": "push",
            "topic": "leads-acme",
            "body": "x",
        },
    ]
    result = run(seeded, settings, tmp_path, steps)
    assert result.status == "success", result.error
    # And failures, whose messages are the likeliest place for a secret to slip into.
    monkey_env = {"SMTP_USERNAME": SMTP_USER, "SMTP_PASSWORD": "bad" + SMTP_PASSWORD}
    with Deliverer(
        session_transaction(seeded.engine), settings, actor="t", environ=monkey_env
    ) as sender:
        again = mail_step(once_per_recipient=False)  # the same people once more, on purpose
        failed = run(seeded, settings, tmp_path, [again], send=False)
        with seeded.session() as session:
            ids = queued_ids(session, execution_id=failed.execution_id)
        sender.deliver(ids)

    dump = [json.dumps(result.to_dict(), default=str), caplog.text]
    with seeded.session() as session:
        for table in ("outbox_messages", "audit_logs", "executions", "suppressions"):
            dump += [str(tuple(r)) for r in session.execute(text(f"SELECT * FROM {table}"))]
    everything = "\n".join(dump)
    assert "refused the login" in everything  # the failure was recorded...
    for secret in SECRETS:
        assert secret not in everything  # ...without the password


# --- internationalised addresses -------------------------------------------------------------


def test_an_address_beyond_ascii_goes_out_with_smtputf8(seeded, tmp_path, smtp_server):
    """Regression: import took josé.nuñez@acme-test.com and sending refused it as invalid,
    so a third of a batch was skipped at every outreach with nothing said at import. Both
    now take it; it goes out with SMTPUTF8 (RFC 6531), and a server that does not offer it
    fails that message, saying why."""
    people = [{"name": "José", "email": "josé.nuñez@acme-test.com"}, LEADS[0]]
    settings = settings_for(seeded, tmp_path, email_config(smtp_server))
    result = run(seeded, settings, tmp_path, [mail_step()], leads=people)
    assert result.status == "success", result.error
    assert sorted(m.rcpt_tos[0] for m in smtp_server.received) == [
        "ann@example.com",
        "josé.nuñez@acme-test.com",
    ]

    plain = channel_servers.SmtpServer(smtputf8=False).start()
    try:
        settings = settings_for(seeded, tmp_path, email_config(plain))
        people = [{"name": "Zoë", "email": "zoë@acme-test.com"}]
        result = run(seeded, settings, tmp_path, [mail_step()], leads=people)
    finally:
        plain.stop()
    assert result.status == "partial"
    (message,) = result.steps[0].output["messages"]
    assert message["status"] == "failed"
    assert message["reason"] == (
        "the SMTP server does not accept internationalised addresses (it offers no SMTPUTF8), "
        "and zoë@acme-test.com is one"
    )
    assert plain.received == []


def test_look_alike_addresses_are_still_refused(seeded, tmp_path, smtp_server):
    people = [
        {"name": "Bob", "email": "ｂｏｂ@x.example"},
        {"name": "Eve", "email": "eve@ｘ.example"},
    ]
    settings = settings_for(seeded, tmp_path, email_config(smtp_server))
    result = run(seeded, settings, tmp_path, [mail_step()], leads=people)
    reasons = [m["reason"] for m in result.steps[0].output["messages"]]
    assert reasons == [
        "invalid email address 'ｂｏｂ@x.example' (a look-alike (full-width or compatibility) "
        "character)",
        "invalid email address 'eve@ｘ.example' (a look-alike (full-width or compatibility) "
        "character)",
    ]
    assert smtp_server.received == []


def test_an_idn_domain_is_one_mailbox_in_either_form(seeded, tmp_path):
    """Regression: a suppression written with the domain in punycode did not cover the
    address written in Unicode (nor the other way round), so an opted-out person was mailed;
    `straße.example` was suppressed as strasse.example (IDNA 2003), another domain; and an
    ASCII address at an IDN domain needed SMTPUTF8. Addresses are kept with A-labels."""
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        suppression.add_suppression(session, acme, "kim@xn--bcher-kva.example", actor="t")
        suppression.add_suppression(session, acme, "LEE@BÜCHER.example", actor="t")
        suppression.add_suppression(session, acme, "straße.example", actor="t")
        # As an entry from before A-labels holds it: a Unicode domain.
        session.add(Suppression(customer_id=acme.id, kind="email", value="old@bücher.example"))
        values = sorted(s.value for s in session.scalars(select(Suppression)))
    assert "xn--strae-oqa.example" in values and "strasse.example" not in values
    assert "lee@xn--bcher-kva.example" in values
    plain = channel_servers.SmtpServer(smtputf8=False).start()  # ASCII names need no more
    try:
        settings = settings_for(seeded, tmp_path, email_config(plain))
        people = [
            {"name": "Kim", "email": "kim@bücher.example"},
            {"name": "Lee", "email": "lee@xn--bcher-kva.example"},
            {"name": "Old", "email": "old@xn--bcher-kva.example"},
            {"name": "Ann", "email": "ann@straße.example"},
            {"name": "Max", "email": "max@müller.example"},
        ]
        result = run(seeded, settings, tmp_path, [mail_step()], leads=people)
    finally:
        plain.stop()
    by_status = {m["recipient"]: m["status"] for m in result.steps[0].output["messages"]}
    assert by_status == {
        "kim@xn--bcher-kva.example": "skipped",
        "lee@xn--bcher-kva.example": "skipped",
        "old@xn--bcher-kva.example": "skipped",
        "ann@xn--strae-oqa.example": "skipped",
        "max@xn--mller-kva.example": "sent",
    }
    assert [m.rcpt_tos for m in plain.received] == [["max@xn--mller-kva.example"]]


def test_a_resumed_step_counts_its_skipped_messages_as_skipped(seeded, tmp_path):
    """Regression: a resumed step reported the messages its first attempt skipped (a
    suppressed recipient) as duplicates: 3,209 skipped became `duplicates: 3524`."""
    with seeded.session() as session:
        acme = resolve_customer(session, "acme")
        suppression.add_suppression(session, acme, "ann@example.com", reason="asked", actor="t")
    server = SmtpServer()  # nothing listens yet: the first attempt fails, its queue kept
    settings = settings_for(seeded, tmp_path, email_config(server))
    failed = run(seeded, settings, tmp_path, [mail_step()], send=True)
    assert failed.status == "failed"
    server.start()
    try:
        resumed = Runner(seeded, settings).resume(str(failed.execution_id))
    finally:
        server.stop()
    output = resumed.steps[0].output
    assert (output["sent"], output["skipped"], output["duplicates"]) == (2, 1, 0)
    (skipped,) = [m for m in output["messages"] if m["status"] == "skipped"]
    assert skipped["recipient"] == "ann@example.com" and "asked" in skipped["reason"]
