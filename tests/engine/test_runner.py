"""The runner's lifecycle and step controls, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from hunter_cli import ledger
from hunter_cli.audit import verify_chain
from hunter_cli.config import load_settings
from hunter_cli.customers import resolve_customer
from hunter_cli.db.models import AuditLog, CreditTransaction, Execution
from hunter_cli.engine.runner import Runner
from hunter_cli.errors import InsufficientCreditsError, ValidationError
from tests.engine import plugins


def write_recipe(tmp_path: Path, steps: list[dict], **extra) -> Path:
    recipe = {
        "slug": "t",
        "name": "T",
        "version": 1,
        "description": "test",
        "inputs": extra.pop("inputs", {"type": "object", "properties": {}}),
        "steps": steps,
        **extra,
    }
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def run(db, path: Path, inputs=None, customer="acme"):
    settings = load_settings(database_url=db.url, actor="tester", environ={})
    return Runner(db, settings).run(plugins.load(path), customer, inputs or {})


def available(db, slug="acme") -> Decimal:
    with db.session() as session:
        return ledger.active_subscription(
            session, resolve_customer(session, slug)
        ).credits_available


def test_success_captures_exactly_what_ran(seeded, tmp_path):
    before = available(seeded)
    path = write_recipe(
        tmp_path,
        [
            {"id": "a", "type": "state", "set": {"x": 1}, "credits": 0.25},
            {"id": "b", "type": "state", "set": {"y": "{{ steps.a.output.x + 1 }}"}},
            {"id": "c", "type": "state", "set": {"z": 3}, "if": "state.x > 5", "credits": 1},
        ],
        outputs={"y": "{{ state.y }}"},
    )
    result = run(seeded, path)
    assert result.status == "success"
    assert [s.status for s in result.steps] == ["ok", "ok", "skipped"]
    assert result.outputs == {"y": 2}
    assert result.credits_reserved == Decimal("1.26")
    assert result.credits_used == Decimal("0.26")  # the skipped step costs nothing
    assert available(seeded) == before - Decimal("0.26")
    with seeded.session() as session:
        assert ledger.check_ledger(session) == []
        assert verify_chain(session).ok
        kinds = session.scalars(
            select(CreditTransaction.kind).where(
                CreditTransaction.execution_id == result.execution_id
            )
        ).all()
        assert sorted(kinds) == ["capture", "release", "reserve"]
        actions = session.scalars(
            select(AuditLog.action)
            .where(AuditLog.execution_id == result.execution_id)
            .order_by(AuditLog.seq)
        ).all()
        assert actions[0] == "execution.start" and actions[-1] == "execution.success"
        assert "credits.reserve" in actions and "step.skipped" in actions


def test_on_error_continue_gives_partial_and_fail_stops(seeded, tmp_path):
    counter = tmp_path / "n"
    path = write_recipe(
        tmp_path,
        [
            {
                "id": "bad",
                "type": "flaky",
                "counter": str(counter),
                "permanent": True,
                "on_error": "continue",
            },
            {"id": "after", "type": "state", "set": {"ran": True}},
        ],
    )
    result = run(seeded, path)
    assert result.status == "partial"
    assert [s.status for s in result.steps] == ["failed", "ok"]
    assert result.steps[0].error == "permanent failure"
    # Regression: a partial run's error was empty (the CLI said just "run partial").
    assert result.error == "step 'bad' failed: permanent failure"
    with seeded.session() as session:
        assert session.get(Execution, result.execution_id).error == result.error
    assert result.credits_used == Decimal("0.01")  # the failed step is not charged

    path = write_recipe(
        tmp_path,
        [
            {"id": "bad", "type": "flaky", "counter": str(counter), "permanent": True},
            {"id": "after", "type": "state", "set": {"ran": True}},
        ],
    )
    result = run(seeded, path)
    assert result.status == "failed"
    assert [s.id for s in result.steps] == ["bad"]
    assert result.credits_used == 0
    with seeded.session() as session:
        execution = session.get(Execution, result.execution_id)
        assert execution.status == "failed"
        assert "step 'bad' failed" in execution.error
        assert ledger.check_ledger(session) == []


def test_retry_transient_errors(seeded, tmp_path):
    counter = tmp_path / "n"
    path = write_recipe(
        tmp_path,
        [
            {
                "id": "f",
                "type": "flaky",
                "counter": str(counter),
                "fail_times": 2,
                "retry": {"attempts": 3, "backoff": 0},
            },
        ],
    )
    result = run(seeded, path)
    assert result.status == "success"
    assert result.steps[0].attempts == 3
    assert result.steps[0].output == {"value": "ok", "calls": 3}

    counter.unlink()
    path = write_recipe(
        tmp_path,
        [
            {
                "id": "f",
                "type": "flaky",
                "counter": str(counter),
                "fail_times": 5,
                "retry": {"attempts": 2, "backoff": 0},
            },
        ],
    )
    result = run(seeded, path)
    assert result.status == "failed"
    assert result.steps[0].attempts == 2
    assert result.steps[0].error == "transient failure 2"


def test_permanent_errors_are_not_retried(seeded, tmp_path):
    counter = tmp_path / "n"
    path = write_recipe(
        tmp_path,
        [
            {
                "id": "f",
                "type": "flaky",
                "counter": str(counter),
                "permanent": True,
                "retry": {"attempts": 3, "backoff": 0},
            },
        ],
    )
    result = run(seeded, path)
    assert result.steps[0].attempts == 1
    assert counter.read_text() == "1"


def test_timeout_fails_the_step(seeded, tmp_path):
    path = write_recipe(tmp_path, [{"id": "slow", "type": "sleep", "seconds": 5, "timeout": 0.2}])
    result = run(seeded, path)
    assert result.status == "failed"
    assert "timed out after 0.2 s" in result.steps[0].error
    assert result.steps[0].duration_ms < 2000


def test_output_schema_mismatch_fails_before_next_step(seeded, tmp_path):
    path = write_recipe(
        tmp_path,
        [
            {
                "id": "a",
                "type": "state",
                "set": {"x": "not a number"},
                "output_schema": {"type": "object", "properties": {"x": {"type": "integer"}}},
            },
            {"id": "b", "type": "state", "set": {"y": "{{ steps.a.output.x }}"}},
        ],
    )
    result = run(seeded, path)
    assert result.status == "failed"
    assert result.steps[0].error.startswith("output does not match output_schema at x:")
    assert len(result.steps) == 1
    # Regression: the output that did not match was thrown away (output: null).
    assert result.steps[0].output is None  # nothing flows on to later steps
    assert result.steps[0].meta == {"rejected_output": {"x": "not a number"}}
    assert result.steps[0].error.endswith(
        f"; the output is kept: hunter executions show {str(result.execution_id)[:8]} --step a"
    )


def test_output_schema_description_of_the_failing_part_is_in_the_message(seeded, tmp_path):
    schema = {
        "type": "object",
        "properties": {"x": {"type": "array", "minItems": 1, "description": "nobody found"}},
    }
    path = write_recipe(
        tmp_path, [{"id": "a", "type": "state", "set": {"x": []}, "output_schema": schema}]
    )
    result = run(seeded, path)
    assert result.steps[0].error.startswith(
        "output does not match output_schema at x: [] should be non-empty (minItems: 1) "
        "(nobody found); "
    )


def test_an_output_schema_error_does_not_quote_a_long_value_whole(seeded, tmp_path):
    """Regression: `minItems: 50` on 5 leads put all 5 (about 4 KB) in the error, the run
    table and the audit trail; the value is kept on the step's record instead."""
    rows = [{"name": f"lead {n}", "note": "x" * 300} for n in range(5)]
    schema = {"type": "object", "properties": {"rows": {"type": "array", "minItems": 50}}}
    path = write_recipe(
        tmp_path, [{"id": "a", "type": "state", "set": {"rows": rows}, "output_schema": schema}]
    )
    result = run(seeded, path)
    error = result.steps[0].error
    # Described, not cut in two (which spliced one lead's start to another's end).
    assert error.startswith(
        "output does not match output_schema at rows: a list of 5 is too short (minItems: 50);"
    )
    assert error.endswith("--step a")
    assert result.steps[0].meta["rejected_output"]["rows"] == rows


def test_an_output_schema_error_spells_a_short_value_as_json(seeded, tmp_path):
    schema = {"type": "object", "properties": {"ok": {"type": "string"}}}
    path = write_recipe(
        tmp_path, [{"id": "a", "type": "state", "set": {"ok": True}, "output_schema": schema}]
    )
    error = run(seeded, path).steps[0].error
    assert error.startswith("output does not match output_schema at ok: true is not of type ")


def test_output_schema_ref_to_nowhere_fails_the_step_clearly(seeded, tmp_path):
    from hunter_cli.recipe import load_recipe_file

    path = write_recipe(
        tmp_path,
        [{"id": "a", "type": "state", "set": {"x": 1}, "output_schema": {"$ref": "#/nowhere"}}],
    )
    settings = load_settings(database_url=seeded.url, actor="tester", environ={})
    # Loaded without validation, as a recipe that skipped `recipes validate` would be.
    result = Runner(seeded, settings).run(load_recipe_file(path), "acme", {})
    assert result.status == "failed"
    assert result.steps[0].error == (
        "output_schema has a $ref that cannot be resolved: there is nothing at '#/nowhere' "
        "in this schema (`hunter recipes validate` shows where)"
    )


def test_bug_in_a_step_fails_the_run_and_keeps_the_books(seeded, tmp_path):
    path = write_recipe(tmp_path, [{"id": "b", "type": "boom"}])
    result = run(seeded, path)
    assert result.status == "failed"
    assert "RuntimeError: kaboom" in result.steps[0].error
    with seeded.session() as session:
        assert ledger.check_ledger(session) == []
        sub = ledger.active_subscription(session, resolve_customer(session, "acme"))
        assert sub.credits_held == 0


def test_template_error_in_params_fails_step_with_message(seeded, tmp_path):
    path = write_recipe(
        tmp_path,
        [{"id": "a", "type": "state", "set": {"x": "{{ inputs.nothere }}"}}],
        inputs={"type": "object", "properties": {"nothere": {"type": "string"}}},
    )
    result = run(seeded, path)
    assert result.status == "failed"
    assert "nothere" in result.steps[0].error


def test_insufficient_credits_does_nothing(seeded, tmp_path):
    path = write_recipe(
        tmp_path, [{"id": "a", "type": "state", "set": {"x": 1}, "credits": 100000}]
    )
    with seeded.session() as session:
        executions_before = len(session.scalars(select(Execution.id)).all())
    with pytest.raises(InsufficientCreditsError):
        run(seeded, path)
    with seeded.session() as session:
        assert len(session.scalars(select(Execution.id)).all()) == executions_before
        refused = session.scalars(
            select(AuditLog).where(AuditLog.action == "execution.refused")
        ).all()
        assert len(refused) == 1
        assert verify_chain(session).ok


def test_inputs_are_converted_defaulted_and_checked(seeded, tmp_path):
    path = write_recipe(
        tmp_path,
        [{"id": "a", "type": "state", "set": {"n": "{{ inputs.limit + 1 }}"}}],
        inputs={
            "type": "object",
            "required": ["query"],
            "properties": {
                "query": {"type": "string"},
                "limit": {"type": "integer", "default": 5},
                "dry": {"type": "boolean", "default": False},
            },
        },
        outputs={"n": "{{ state.n }}"},
    )
    assert run(seeded, path, {"query": "x"}).outputs == {"n": 6}
    assert run(seeded, path, {"query": "x", "limit": "9"}).outputs == {"n": 10}
    with pytest.raises(ValidationError) as info:
        run(seeded, path, {"limit": "many"})
    assert "missing input 'query'" in info.value.message
    assert "input 'limit': 'many' is not of type 'integer'" in info.value.message


def test_plan_has_no_side_effects(seeded, tmp_path):
    path = write_recipe(
        tmp_path,
        [
            {"id": "a", "type": "state", "set": {"x": 1}},
            {"id": "b", "type": "sleep", "seconds": 10},
        ],
    )
    settings = load_settings(database_url=seeded.url, actor="tester", environ={})
    with seeded.session() as session:
        audit_before = len(session.scalars(select(AuditLog.id)).all())
    from hunter_cli.engine.runner import RunOptions

    result = Runner(seeded, settings).run(
        plugins.load(path), "acme", {}, RunOptions(plan_only=True)
    )
    assert result.status == "planned"
    assert [p["id"] for p in result.plan] == ["a", "b"]
    assert result.credits_reserved == Decimal("0.02")
    with seeded.session() as session:
        assert len(session.scalars(select(AuditLog.id)).all()) == audit_before
        assert session.scalars(select(Execution.id)).all() == []


def test_each_step_record_is_stored_as_its_step_finishes(seeded, tmp_path):
    """Records are appended by the database (not the whole list rewritten per step): the
    stored list is the run's records, in order, each whole, with text that is not ASCII."""
    path = write_recipe(
        tmp_path,
        [
            {"id": "a", "type": "state", "set": {"name": "Zoë"}},
            {"id": "b", "type": "state", "set": {"n": 2}, "if": "false"},
            {"id": "c", "type": "state", "set": {"items": [{"k": 1}, {"k": 2}]}},
        ],
    )
    result = run(seeded, path)
    assert result.status == "success"
    with seeded.session() as session:
        stored = session.get(Execution, result.execution_id).steps
    assert stored == [r.to_dict() for r in result.steps]
    assert [(r["id"], r["status"]) for r in stored] == [("a", "ok"), ("b", "skipped"), ("c", "ok")]


def test_a_record_appended_where_there_is_no_list_starts_one(db, make_customer, make_execution):
    """A steps value that is not a list (JSON null here, written by something else) is
    taken as empty: the record is kept, not lost."""
    from sqlalchemy import update

    from hunter_cli.db.engine import run_phase
    from hunter_cli.engine.runner import _STEPS_APPEND

    execution_id = make_execution(db, make_customer(db, "acme"))
    with db.session() as session:
        session.execute(update(Execution).where(Execution.id == execution_id).values(steps=None))
    with db.run_session() as session, run_phase(session):
        append = _STEPS_APPEND[db.backend]
        append.execute(session, {"eid": execution_id, "record": {"id": "a", "status": "ok"}})
    with db.session() as session:
        assert session.get(Execution, execution_id).steps == [{"id": "a", "status": "ok"}]


def test_an_output_that_cannot_be_rendered_is_null_and_the_others_are_kept(seeded, tmp_path):
    path = write_recipe(
        tmp_path,
        [{"id": "a", "type": "state", "set": {"x": 1}}],
        outputs={"good": "{{ steps.a.output.x }}", "bad": "{{ steps.a.output.nope }}"},
    )
    result = run(seeded, path)
    assert result.status == "success"
    assert result.outputs == {"good": 1, "bad": None}
    assert [w for w in result.warnings if "output 'bad' could not be rendered" in w]


def test_progress_names_each_step_as_it_starts_and_as_it_ends(seeded, tmp_path):
    path = write_recipe(
        tmp_path,
        [{"id": "a", "type": "state", "set": {"x": 1}}, {"id": "b", "type": "state", "set": {}}],
    )
    seen: list[tuple[str, str]] = []
    settings = load_settings(database_url=seeded.url, actor="tester", environ={})
    runner = Runner(seeded, settings, progress=lambda step, status: seen.append((step, status)))
    runner.run(plugins.load(path), "acme", {})
    assert seen == [("a", "running"), ("a", "ok"), ("b", "running"), ("b", "ok")]


def test_a_per_token_rate_finer_than_the_ledger_is_rounded_once_at_the_end():
    from types import SimpleNamespace

    from hunter_cli.components import estimate_step_credits
    from hunter_cli.engine.runner import _step_cost

    controls = {"credits": {"per_1k_tokens": 0.00015}}  # $0.15 per million tokens
    step = {"type": "ai", "max_tokens": 100_000, **controls}
    price = estimate_step_credits(step)
    assert price == Decimal("0.0150")
    used = SimpleNamespace(credits_used=None, meta={"usage": {"total_tokens": 70_000}})
    assert _step_cost(controls, used, price) == Decimal("0.0105")  # not 0.0002 x 70


def test_a_list_template_with_whitespace_around_it_stays_a_list(seeded, tmp_path):
    # `items: >` (a folded block ends in a newline) or a stray space once made the list its
    # text: "items must be a list, got a string".
    text = """\
slug: t
name: T
version: 1
steps:
  - {id: a, type: state, set: {names: [x, y, z]}}
  - id: first
    type: action
    action: data_processing
    operation: limit
    items: >
      {{ steps.a.output.names }}
    count: " {{ 2 }}"
outputs:
  first: "{{ steps.first.output.items }}"
"""
    path = tmp_path / "t.yaml"
    path.write_text(text)
    result = run(seeded, path)
    assert result.status == "success", [s.error for s in result.steps]
    assert result.outputs == {"first": ["x", "y"]}


def test_a_plan_after_the_period_ended_counts_the_renewed_balance(db, tmp_path, make_customer):
    """Regression: after a period had ended, `--plan` used the old period's leftover and
    promised a refusal (exit 4) that the run, which renews first, did not make. The plan
    renews as the run would, and writes nothing."""
    from datetime import timedelta

    from hunter_cli.db.models import CreditTransaction, Subscription
    from hunter_cli.db.types import utcnow
    from hunter_cli.engine.runner import RunOptions

    cid = make_customer(db, "renewing", "2", monthly="10")
    with db.session() as session:
        sub = session.scalars(select(Subscription).where(Subscription.customer_id == cid)).one()
        sub.period_end = utcnow() - timedelta(hours=1)
        sub.period_start = ledger.add_months(sub.period_end, -1)
    path = write_recipe(tmp_path, [{"id": "a", "type": "state", "set": {"x": 1}, "credits": 5}])
    with db.session() as session:
        before = session.scalar(select(func.count()).select_from(CreditTransaction))
    settings = load_settings(database_url=db.url, actor="tester", environ={})
    plan = Runner(db, settings).run(plugins.load(path), "renewing", {}, RunOptions(plan_only=True))
    assert plan.credits_available == Decimal("10.0000")  # the new period's, not the old 2
    with db.session() as session:  # nothing written: the renewal was rolled back
        assert session.scalar(select(func.count()).select_from(CreditTransaction)) == before
    assert run(db, path, customer="renewing").status == "success"
