"""The `correspondence` step: one outbox message per item, bad recipients skipped with a
reason, exactly-once keys, and a full recipe through the runner; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from hunter_cli.audit import verify_chain
from hunter_cli.components import get_component
from hunter_cli.components.base import StepContext, StepError
from hunter_cli.config import load_settings
from hunter_cli.customers import resolve_customer
from hunter_cli.db.models import AuditLog, Execution, OutboxMessage
from hunter_cli.engine.runner import Runner
from hunter_cli.recipe import load_and_validate, validate_recipe
from hunter_cli.recipe.loader import load_recipe_text
from hunter_cli.recipe.templates import evaluate_expression, render_value

LEADS = [
    {"name": "Ann", "email": "ann@example.com", "company": "Acme Dental"},
    {"name": "Bob", "email": "bob@example.org", "company": "Bright Smiles"},
    {"name": "Cy", "email": "cy@example.net", "company": "Canine Care"},
]


def _settings(db, tmp_path: Path):
    return load_settings(database_url=db.url, actor="tester", cwd=tmp_path, environ={})


def _execution(db, slug: str = "acme") -> uuid.UUID:
    with db.session() as session:
        customer = resolve_customer(session, slug)
        execution = Execution(customer_id=customer.id, recipe_slug="test", status="running")
        session.add(execution)
        session.flush()
        return execution.id


def _run(
    db,
    tmp_path,
    params: dict[str, Any],
    execution_id: uuid.UUID,
    *,
    step_id="mail",
    plan_only=False,
    meta=None,
    context=None,
) -> tuple[Any, StepContext]:
    """Run the step in its own transaction, as the runner does."""
    component = get_component("correspondence")
    with db.session() as session:
        ctx = StepContext(
            session=session,
            settings=_settings(db, tmp_path),
            customer_id=resolve_customer(session, "acme").id,
            execution_id=execution_id,
            step_id=step_id,
            actor="tester",
            template_context=context or {"inputs": {}, "steps": {}, "state": {}},
            render_fn=render_value,
            evaluate_fn=evaluate_expression,
            plan_only=plan_only,
            meta=dict(meta or {}),
        )
        if plan_only:
            return component.plan(params, ctx), ctx
        return component.run(params, ctx), ctx


def _messages(db, execution_id: uuid.UUID | None = None) -> list[OutboxMessage]:
    with db.session() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.recipient)
        if execution_id is not None:
            query = query.where(OutboxMessage.execution_id == execution_id)
        return list(session.scalars(query))


def _audit(db, action: str) -> list[dict]:
    with db.session() as session:
        rows = session.scalars(
            select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.seq)
        )
        return [row.details for row in rows]


def _email(**extra) -> dict[str, Any]:
    return {
        "channel": "email",
        "items": LEADS,
        "to": "{{ item.email }}",
        "subject": "Hello {{ item.company }}",
        "body": "Dear {{ item.name }}, lead {{ index }}.",
        **extra,
    }


def test_one_message_per_item_with_templated_fields(seeded, tmp_path):
    execution_id = _execution(seeded)
    output, ctx = _run(seeded, tmp_path, _email(html="<p>Hi {{ item.name }}</p>"), execution_id)

    assert (output["channel"], output["queued"], output["skipped"], output["duplicates"]) == (
        "email",
        3,
        0,
        0,
    )
    assert output["dry_run"] is True
    assert [(m["recipient"], m["status"], m["index"]) for m in output["messages"]] == [
        ("ann@example.com", "queued", 0),
        ("bob@example.org", "queued", 1),
        ("cy@example.net", "queued", 2),
    ]
    json.dumps(output)  # JSON-like, as step outputs must be

    rows = {m.recipient: m for m in _messages(seeded, execution_id)}
    assert set(rows) == {"ann@example.com", "bob@example.org", "cy@example.net"}
    bob = rows["bob@example.org"]
    assert (bob.subject, bob.body, bob.html) == (
        "Hello Bright Smiles",
        "Dear Bob, lead 1.",
        "<p>Hi Bob</p>",
    )
    assert bob.status == "queued" and bob.sent_at is None
    assert bob.message_key == f"{execution_id}:mail:email:bob@example.org"
    assert (bob.step_id, bob.channel) == ("mail", "email")
    # The sender comes from the customer's settings, not the recipe.
    assert bob.payload["from"] == "Acme Growth <growth@acme.example>"
    assert bob.payload["reply_to"] == "hello@acme.example"
    assert bob.payload["postal_address"].startswith("Acme Corp")
    assert {m["id"] for m in output["messages"]} == {str(m.id) for m in rows.values()}

    queued = _audit(seeded, "correspondence.queued")
    assert [a["recipient"] for a in queued] == [
        "ann@example.com",
        "bob@example.org",
        "cy@example.net",
    ]
    assert queued[1]["subject"] == "Hello Bright Smiles"
    assert queued[1]["channel"] == "email" and queued[1]["step"] == "mail"
    assert all("body" not in a and "Dear" not in json.dumps(a) for a in queued)


def test_without_items_renders_once_and_a_list_of_recipients_fans_out(seeded, tmp_path):
    execution_id = _execution(seeded)
    params = {
        "channel": "email",
        "to": ["{{ inputs.boss }}", "ops@example.com"],
        "subject": "Report for {{ inputs.city }}",
        "body": "Done.",
    }
    context = {
        "inputs": {"boss": "Boss <Boss@Example.com>", "city": "Berlin"},
        "steps": {},
        "state": {},
    }
    output, _ = _run(seeded, tmp_path, params, execution_id, context=context)
    assert output["queued"] == 2
    assert "index" not in output["messages"][0]
    rows = {m.recipient: m for m in _messages(seeded, execution_id)}
    assert set(rows) == {"boss@example.com", "ops@example.com"}
    assert rows["boss@example.com"].payload["to_name"] == "Boss"
    assert rows["ops@example.com"].subject == "Report for Berlin"


def test_invalid_recipients_are_skipped_with_reasons(seeded, tmp_path):
    execution_id = _execution(seeded)
    items = [
        {"name": "Ann", "email": "ann@example.com"},
        {"name": "Bob", "email": "bob@"},
        {"name": "Eve", "email": "not an address"},
        {"name": "Nomail"},
        # Not sent to the first alone (it was, and the second was never written to).
        {"name": "Two", "email": "vu@imp.example, tu@imp.example"},
    ]
    output, ctx = _run(seeded, tmp_path, _email(items=items, subject="Hi"), execution_id)

    assert (output["queued"], output["skipped"], output["duplicates"]) == (1, 4, 0)
    reasons = [m["reason"] for m in output["messages"]]
    assert reasons[0] is None
    assert reasons[1] == "invalid email address 'bob@' (nothing before or after the @)"
    assert reasons[2] == "invalid email address 'not an address'"
    assert reasons[3].startswith("cannot render to:") and "'email' is undefined" in reasons[3]
    assert reasons[4] == (
        "invalid email address 'vu@imp.example, tu@imp.example': it has more than one address"
    )
    assert any("4 email message(s) skipped" in w for w in ctx.warnings)

    rows = {m.recipient: m for m in _messages(seeded, execution_id)}
    assert rows["bob@"].status == "skipped"
    assert rows["bob@"].error == "invalid email address 'bob@' (nothing before or after the @)"
    assert rows["ann@example.com"].status == "queued"
    skipped = _audit(seeded, "correspondence.skipped")
    assert [a["reason"] for a in skipped] == reasons[1:]
    assert skipped[0]["recipient"] == "bob@" and skipped[0]["message_id"] == str(rows["bob@"].id)


def test_sms_numbers_are_normalised_to_e164_and_bad_ones_skipped(seeded, tmp_path):
    execution_id = _execution(seeded)
    params = {
        "channel": "sms",
        "items": ["+49 30 1234-5678", "0044 20 7946 0958", "12345", "+0123456789", "(030) 123"],
        "to": "{{ item }}",
        "body": "Your code is {{ index }}",
    }
    output, _ = _run(seeded, tmp_path, params, execution_id)
    assert [(m["recipient"], m["status"]) for m in output["messages"]] == [
        ("+493012345678", "queued"),
        ("+442079460958", "queued"),
        ("12345", "skipped"),
        ("+0123456789", "skipped"),
        ("(030) 123", "skipped"),
    ]
    assert output["messages"][2]["reason"].startswith("invalid phone number '12345'")
    assert {m.message_key for m in _messages(seeded, execution_id) if m.status == "queued"} == {
        f"{execution_id}:mail:sms:+493012345678",
        f"{execution_id}:mail:sms:+442079460958",
    }


def test_every_message_invalid_still_succeeds_with_zero_queued(seeded, tmp_path):
    execution_id = _execution(seeded)
    items = [{"phone": "nope"}, {"phone": "555"}]
    params = {"channel": "sms", "items": items, "to": "{{ item.phone }}", "body": "Hi"}
    output, _ = _run(seeded, tmp_path, params, execution_id)
    assert (output["queued"], output["skipped"]) == (0, 2)
    assert "no new messages queued" in output["note"]

    empty, _ = _run(seeded, tmp_path, {**params, "items": []}, execution_id, step_id="none")
    assert (empty["queued"], empty["messages"]) == (0, [])
    assert empty["note"] == "nothing to send: no items"


def test_duplicate_recipients_in_one_step_make_one_message(seeded, tmp_path):
    execution_id = _execution(seeded)
    items = [
        {"email": "ann@example.com"},
        {"email": "ANN@Example.com "},
        {"email": "bob@example.com"},
        {"email": "bob@"},
        {"email": "bob@"},
    ]
    output, _ = _run(seeded, tmp_path, _email(items=items, subject="Hi", body="x"), execution_id)
    assert (output["queued"], output["skipped"], output["duplicates"]) == (2, 1, 2)
    first, second = output["messages"][0], output["messages"][1]
    assert second["status"] == "duplicate" and second["id"] == first["id"]
    assert second["reason"] == "same recipient as an earlier message of this step"
    assert len(_messages(seeded, execution_id)) == 3


def test_running_the_same_step_twice_in_one_execution_queues_nothing_new(seeded, tmp_path):
    execution_id = _execution(seeded)
    items = [*LEADS, {"email": "bad@"}]
    first, _ = _run(seeded, tmp_path, _email(items=items), execution_id)
    assert (first["queued"], first["skipped"]) == (3, 1)
    audit_before = len(_audit(seeded, "correspondence.queued"))

    again, _ = _run(seeded, tmp_path, _email(items=items), execution_id)
    # The one skipped (bad@) is still counted skipped, with its reason, not as a duplicate.
    assert (again["queued"], again["skipped"], again["duplicates"]) == (0, 1, 3)
    assert [m["id"] for m in again["messages"]] == [m["id"] for m in first["messages"]]
    assert again["messages"][0]["reason"] == "already queued by an earlier attempt of this step"
    assert len(_messages(seeded, execution_id)) == 4
    assert len(_audit(seeded, "correspondence.queued")) == audit_before

    # Another step is another send.
    renamed, _ = _run(seeded, tmp_path, _email(), execution_id, step_id="mail_again")
    assert renamed["queued"] == 3


def test_another_run_of_the_recipe_does_not_write_to_the_same_people_again(seeded, tmp_path):
    first, _ = _run(seeded, tmp_path, _email(), _execution(seeded))
    assert first["queued"] == 3

    again, _ = _run(seeded, tmp_path, _email(), rerun := _execution(seeded))
    assert (again["queued"], again["duplicates"]) == (0, 3)
    assert [m["id"] for m in again["messages"]] == [m["id"] for m in first["messages"]]
    assert again["messages"][0]["reason"] == (
        "already queued to this recipient by an earlier run of this step (once_per_recipient)"
    )
    assert _messages(seeded, rerun) == []

    # once_per_recipient: false writes again to people already written to, but a message
    # still waiting in the outbox is never doubled.
    waiting, _ = _run(seeded, tmp_path, _email(once_per_recipient=False), _execution(seeded))
    assert (waiting["queued"], waiting["duplicates"]) == (0, 3)
    with seeded.session() as session:
        for message in session.scalars(select(OutboxMessage)):
            message.status = "sent"
    resend, _ = _run(seeded, tmp_path, _email(once_per_recipient=False), _execution(seeded))
    assert resend["queued"] == 3
    # And another recipe is another send.
    with seeded.session() as session:
        other = Execution(
            customer_id=resolve_customer(session, "acme").id, recipe_slug="other", status="running"
        )
        session.add(other)
        session.flush()
        other_id = other.id
    elsewhere, _ = _run(seeded, tmp_path, _email(), other_id)
    assert elsewhere["queued"] == 3


def test_two_runs_at_once_write_to_each_recipient_once(seeded, tmp_path):
    """The second run's step waits for the first's to commit, then finds its messages."""
    import threading
    import time

    component = get_component("correspondence")
    first, second = _execution(seeded), _execution(seeded)

    def step(session, execution_id):
        ctx = StepContext(
            session=session,
            settings=_settings(seeded, tmp_path),
            customer_id=resolve_customer(session, "acme").id,
            execution_id=execution_id,
            step_id="mail",
            actor="tester",
            template_context={"inputs": {}, "steps": {}, "state": {}},
            render_fn=render_value,
            evaluate_fn=evaluate_expression,
        )
        return component.run(_email(), ctx)

    outputs: dict[str, Any] = {}

    def later() -> None:
        with seeded.session() as session:
            outputs["second"] = step(session, second)

    with seeded.session() as session:
        outputs["first"] = step(session, first)
        racer = threading.Thread(target=later)
        racer.start()
        time.sleep(0.5)
        assert racer.is_alive()  # waiting for the first step's transaction
    racer.join(30)
    assert outputs["first"]["queued"] == 3
    assert (outputs["second"]["queued"], outputs["second"]["duplicates"]) == (0, 3)
    assert len(_messages(seeded)) == 3


def test_a_body_no_item_can_render_fails_the_step_and_one_that_some_can_skips_those(
    seeded, tmp_path
):
    execution_id = _execution(seeded)
    with pytest.raises(StepError) as failed:
        _run(seeded, tmp_path, _email(body="Hello {{ item.data.nosuch }}"), execution_id)
    assert str(failed.value).startswith("no message could be rendered: cannot render body: ")
    assert _messages(seeded, execution_id) == []

    items = [{**LEADS[0], "data": {"city": "Oslo"}}, LEADS[1]]
    output, _ = _run(
        seeded, tmp_path, _email(items=items, body="In {{ item.data.city }}"), execution_id
    )
    assert (output["queued"], output["skipped"]) == (1, 1)
    assert output["messages"][1]["reason"].startswith("cannot render body: ")

    items = [{**LEADS[0], "data": {"email": "ann@example.com"}}, LEADS[1]]
    output, _ = _run(
        seeded,
        tmp_path,
        _email(items=items, to="{{ item.data.email }}"),
        execution_id,
        step_id="to",
    )
    assert (output["queued"], output["skipped"]) == (1, 1)
    assert output["messages"][1]["reason"].startswith("cannot render to: ")


def test_webhook_per_item_to_one_endpoint_and_push(seeded, tmp_path):
    execution_id = _execution(seeded)
    url = "https://hooks.example.com/crm?token=s3cr3t-token"
    params = {
        "channel": "webhook",
        "items": [{"id": 1}, {"id": 2}, {"id": 1}],
        "url": url,
        "topic": "lead.found",
        "payload": {"lead": "{{ item.id }}", "n": "{{ index + 0 }}"},
    }
    output, _ = _run(seeded, tmp_path, params, execution_id)
    # Different payloads to one URL are different messages (index differs for all three).
    assert output["queued"] == 3
    assert all(m["recipient"] == "https://hooks.example.com/crm?…" for m in output["messages"])
    assert "s3cr3t" not in json.dumps(output)
    assert "s3cr3t" not in json.dumps(_audit(seeded, "correspondence.queued"))
    rows = _messages(seeded, execution_id)
    assert {r.recipient for r in rows} == {url}  # delivery will need the whole URL
    assert sorted(r.payload["json"]["lead"] for r in rows) == [1, 1, 2]
    assert all(r.payload["event"] == "lead.found" for r in rows)

    same = {**params, "payload": {"lead": "{{ item.id }}"}}
    output, _ = _run(seeded, tmp_path, same, execution_id, step_id="hook2")
    assert (output["queued"], output["duplicates"]) == (2, 1)

    bad = {"channel": "webhook", "url": "ftp://example.com/x", "body": "hi"}
    output, _ = _run(seeded, tmp_path, bad, execution_id, step_id="hook3")
    assert output["skipped"] == 1
    assert "invalid webhook url" in output["messages"][0]["reason"]

    push = {
        "channel": "push",
        "items": ["a", "b"],
        "topic": "leads-{{ item }}",
        "subject": "New lead",
        "body": "Lead {{ item }}",
        "url": "https://app.example",
    }
    output, _ = _run(seeded, tmp_path, push, execution_id, step_id="notify")
    assert [m["recipient"] for m in output["messages"]] == ["leads-a", "leads-b"]
    row = next(m for m in _messages(seeded, execution_id) if m.recipient == "leads-a")
    assert (row.channel, row.subject, row.body) == ("push", "New lead", "Lead a")
    assert row.payload == {"topic": "leads-a", "url": "https://app.example"}


def test_empty_content_skips_and_missing_parameters_fail_the_step(seeded, tmp_path):
    execution_id = _execution(seeded)
    params = {
        "channel": "sms",
        "items": [{"p": "+4930123456", "t": ""}],
        "to": "{{ item.p }}",
        "body": "{{ item.t }}",
    }
    output, _ = _run(seeded, tmp_path, params, execution_id)
    assert output["messages"][0]["reason"] == "empty body"

    with pytest.raises(StepError, match="channel sms needs 'body'"):
        _run(seeded, tmp_path, {"channel": "sms", "to": "+4930123456"}, execution_id)
    with pytest.raises(StepError, match="channel email needs the parameter 'to'"):
        _run(seeded, tmp_path, {"channel": "email", "subject": "x"}, execution_id)
    with pytest.raises(StepError, match="unknown channel 'fax'"):
        _run(seeded, tmp_path, {"channel": "fax", "to": "x"}, execution_id)
    with pytest.raises(StepError, match="items must be a list, not dict"):
        _run(seeded, tmp_path, _email(items={"a": 1}), execution_id)


def test_plan_counts_sends_and_names_recipients_it_can_render(seeded, tmp_path):
    plan, _ = _run(seeded, tmp_path, _email(), uuid.UUID(int=0), plan_only=True)
    assert plan == {
        "provider": "outbox:email",
        "dry_run": True,
        "channel": "email",
        "sends": 3,
        "recipients": ["ann@example.com", "bob@example.org", "cy@example.net"],
        "subject": "Hello Acme Dental",  # the first item's
    }

    later = _email(items="{{ steps.search.output.leads }}")
    plan, _ = _run(seeded, tmp_path, later, uuid.UUID(int=0), plan_only=True)
    assert plan == {
        "provider": "outbox:email",
        "dry_run": True,
        "channel": "email",
        "sends": "per item",
        "subject": "Hello {{ item.company }}",  # as written: known when the step runs
    }

    single = {"channel": "sms", "to": "{{ steps.x.output.phone }}", "body": "Hi"}
    plan, _ = _run(seeded, tmp_path, single, uuid.UUID(int=0), plan_only=True)
    assert plan == {"provider": "outbox:sms", "dry_run": True, "channel": "sms", "sends": 1}
    assert _messages(seeded) == []


def _write(tmp_path: Path, steps: list[dict], **extra) -> Path:
    recipe = {
        "slug": "mailer",
        "name": "Mailer",
        "version": 1,
        "inputs": {
            "type": "object",
            "properties": {"to": {"type": "string"}, "leads": {"type": "array"}},
        },
        "steps": steps,
        **extra,
    }
    path = tmp_path / "mailer.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def test_a_recipe_through_the_runner_with_items_from_state_and_inputs(seeded, tmp_path):
    path = _write(
        tmp_path,
        [
            {"id": "remember", "type": "state", "set": {"leads": LEADS}},
            {
                "id": "mail",
                "type": "correspondence",
                "channel": "email",
                "items": "{{ state.leads }}",
                "to": "{{ item.email }}",
                "subject": "Hello {{ item.company }}",
                "body": "Dear {{ item.name }}",
            },
            {
                "id": "text",
                "type": "correspondence",
                "channel": "sms",
                "items": "{{ inputs.leads }}",
                "to": "{{ item.phone }}",
                "body": "Hi {{ item.name }}",
            },
            {
                "id": "boss",
                "type": "correspondence",
                "channel": "email",
                "to": "{{ inputs.to }}",
                "subject": "{{ steps.mail.output.queued }} mails queued",
            },
        ],
        outputs={
            "queued": "{{ steps.mail.output.queued }}",
            "skipped": "{{ steps.text.output.skipped }}",
        },
    )
    inputs = {
        "to": "boss@example.com",
        "leads": [{"name": "Ann", "phone": "+4930111111"}, {"name": "Bob", "phone": "x"}],
    }
    result = Runner(seeded, _settings(seeded, tmp_path)).run(
        load_and_validate(path), "acme", inputs
    )

    assert result.status == "success", result.error
    assert result.outputs == {"queued": 3, "skipped": 1}
    assert any("1 sms message(s) skipped" in w for w in result.warnings)
    rows = _messages(seeded, result.execution_id)
    assert sorted((r.step_id, r.recipient, r.status) for r in rows) == [
        ("boss", "boss@example.com", "queued"),
        ("mail", "ann@example.com", "queued"),
        ("mail", "bob@example.org", "queued"),
        ("mail", "cy@example.net", "queued"),
        ("text", "+4930111111", "queued"),
        ("text", "x", "skipped"),
    ]
    assert next(r for r in rows if r.step_id == "boss").subject == "3 mails queued"
    with seeded.session() as session:
        assert verify_chain(session).ok
    # --plan queues nothing and says how many sends each step would make.
    planned = Runner(seeded, _settings(seeded, tmp_path)).run(
        load_and_validate(path), "acme", inputs, _plan()
    )
    by_step = {p["id"]: p for p in planned.plan}
    assert by_step["mail"]["sends"] == "per item"
    # "x" is skipped by the run, and so by the plan: not among the sends; nor is the number
    # whose draft the run above left queued (a dry run again writes it no second one).
    assert by_step["text"]["sends"] == 0 and by_step["text"]["skips"] == 2
    skipped = {s["recipient"]: s["reason"] for s in by_step["text"]["skipped_recipients"]}
    assert skipped["x"].startswith("invalid phone number")
    assert skipped["+4930111111"] == (
        "a draft to this recipient is already queued by an earlier run"
    )
    assert by_step["boss"]["skipped_recipients"][0]["recipient"] == "boss@example.com"
    assert len(_messages(seeded)) == 6


def _plan():
    from hunter_cli.engine.runner import RunOptions

    return RunOptions(plan_only=True)


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        (
            {"channel": "webhook", "to": "x@example.com", "url": "https://x.example", "body": "b"},
            "steps[0].to: parameter 'to' is not valid",
        ),
        ({"channel": "email", "subject": "s"}, "steps[0]: missing required parameter 'to'"),
        ({"channel": "push", "body": "b"}, "steps[0]: missing required parameter 'topic'"),
        (
            {"channel": "sms", "to": "+4930123456", "body": "b", "html": "<b>"},
            "steps[0].html: parameter 'html' is not valid",
        ),
    ],
)
def test_recipes_are_checked_per_channel_before_they_run(step, problem):
    text = yaml.safe_dump(
        {
            "slug": "x",
            "name": "X",
            "version": 1,
            "steps": [{"id": "m", "type": "correspondence", **step}],
        }
    )
    problems = [str(p) for p in validate_recipe(load_recipe_text(text, "x.yaml"))]
    assert any(problem in p for p in problems), problems
