"""The subscription step's charge is part of what a run costs: in its plan, its hold and what
it is charged (before, it was taken beside the run and reported as 0 used), on SQLite and
PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from hunter_cli import ledger
from hunter_cli.config import load_settings
from hunter_cli.db.models import AuditLog, CreditTransaction, Execution
from hunter_cli.engine.runner import Runner, RunOptions
from hunter_cli.errors import InsufficientCreditsError
from tests.engine import plugins
from tests.engine.test_runner import available, write_recipe

FEE = {"id": "fee", "type": "subscription", "operation": "charge", "reason": "setup fee"}


def _run(db, path, inputs=None, plan=False):
    settings = load_settings(database_url=db.url, actor="tester", environ={})
    options = RunOptions(plan_only=plan)
    return Runner(db, settings).run(plugins.load(path), "acme", inputs or {}, options)


def _kinds(db) -> list[tuple[str, Decimal]]:
    with db.session() as session:
        rows = session.scalars(select(CreditTransaction)).all()
        return sorted((row.kind, row.amount) for row in rows if row.execution_id is not None)


def test_a_literal_charge_is_planned_held_and_charged_with_the_run(seeded, tmp_path):
    path = write_recipe(tmp_path, [{**FEE, "amount": 0.5}, {"id": "b", "type": "state", "set": {}}])
    plan = _run(seeded, path, plan=True)
    assert plan.credits_reserved == Decimal("0.52")
    assert plan.plan[0]["credits"] == "0.5100"

    before = available(seeded)
    result = _run(seeded, path)
    assert result.status == "success"
    assert (result.credits_reserved, result.credits_used) == (Decimal("0.52"), Decimal("0.52"))
    assert result.steps[0].credits == Decimal("0.51")
    assert result.steps[0].output["charged"] == "0.5000"
    assert result.steps[0].output["reason"] == "setup fee"
    with seeded.session() as session:
        (entry,) = session.scalars(select(AuditLog).where(AuditLog.action == "credits.charge"))
        assert entry.details == {"step": "fee", "amount": "0.5000", "reason": "setup fee"}
    assert before - available(seeded) == Decimal("0.52")
    assert _kinds(seeded) == [("capture", Decimal("0.52")), ("reserve", Decimal("0.52"))]
    with seeded.session() as session:
        assert ledger.check_ledger(session) == []
        assert session.scalars(select(Execution)).one().credits_used == Decimal("0.52")


def test_a_charge_the_balance_cannot_cover_stops_the_run_before_anything(seeded, tmp_path):
    path = write_recipe(
        tmp_path, [{"id": "a", "type": "state", "set": {}}, {**FEE, "amount": 5000}]
    )
    with pytest.raises(InsufficientCreditsError):
        _run(seeded, path)
    with seeded.session() as session:
        assert session.scalars(select(Execution)).all() == []


def test_a_step_the_inputs_make_false_is_not_held_or_planned(seeded, tmp_path):
    """Regression: a 5,000-credit charge behind `if: inputs.go` (false) refused the run for
    credits it could never use; a literal `if: false` step was held and planned too."""
    inputs = {
        "type": "object",
        "properties": {"go": {"type": "boolean", "default": False}},
    }
    steps = [
        {**FEE, "amount": 5000, "if": "{{ inputs.go }}"},
        {"id": "never", "type": "state", "set": {}, "if": False},
        {"id": "b", "type": "state", "set": {"x": 1}},
        # Reads state: what it will be is not known before the run, so it is held for.
        {"id": "maybe", "type": "state", "set": {}, "if": "{{ state.x == 2 }}"},
    ]
    path = write_recipe(tmp_path, steps, inputs=inputs)
    plan = _run(seeded, path, plan=True)
    assert plan.credits_reserved == Decimal("0.02")
    assert [(e["id"], e.get("skipped"), e["credits"]) for e in plan.plan] == [
        ("fee", True, "0.0000"),
        ("never", True, "0.0000"),
        ("b", None, "0.0100"),
        ("maybe", None, "0.0100"),
    ]
    result = _run(seeded, path)
    assert result.status == "success"
    assert (result.credits_reserved, result.credits_used) == (Decimal("0.02"), Decimal("0.01"))
    assert [s.status for s in result.steps] == ["skipped", "skipped", "ok", "skipped"]
    # With go=true the charge is held and taken as before: 5000 is more than acme has.
    with pytest.raises(InsufficientCreditsError):
        _run(seeded, path, {"go": True})
    with seeded.session() as session:
        assert ledger.check_ledger(session) == []


@pytest.mark.parametrize(
    "condition", ["{{ [true, false] | random }}", "{{ inputs.go or ([0, 1] | random) }}"]
)
def test_a_condition_that_can_change_is_held_for(seeded, tmp_path, condition):
    """Regression: `if: "{{ [true, false] | random }}"` reads no names, so the hold decided
    it once (false: not held) and the run again (true): the capture then exceeded the hold,
    the run failed and was left running with its credits held."""
    inputs = {"type": "object", "properties": {"go": {"type": "boolean", "default": False}}}
    steps = [{**FEE, "amount": 0.5, "if": condition}, {"id": "b", "type": "state", "set": {}}]
    path = write_recipe(tmp_path, steps, inputs=inputs)
    plan = _run(seeded, path, plan=True)
    assert plan.credits_reserved == Decimal("0.52")
    assert "skipped" not in plan.plan[0]
    for _ in range(6):
        result = _run(seeded, path)
        assert result.status == "success"
        assert result.credits_reserved == Decimal("0.52")
    with seeded.session() as session:
        assert ledger.check_ledger(session) == []


class _ShrinkingHoldRunner(Runner):
    """Releases the run's hold before its last step, as a bug in a hold could: the run then
    uses more than it holds when it closes its books."""

    def _run_step(self, step, run, options):  # type: ignore[no-untyped-def]
        if step["id"] == "last":
            from hunter_cli.db.engine import run_phase

            with run_phase(run.session):
                ledger.release_credits(run.session, run.execution_id, actor="test")
        return super()._run_step(step, run, options)


def test_a_run_that_used_more_than_it_held_still_closes_and_charges_no_more(seeded, tmp_path):
    """Defence in depth: when the capture exceeded the hold (it did through a `random` if),
    the run failed with exit 1 and stayed `running` with its credits held."""
    path = write_recipe(
        tmp_path,
        [{"id": "first", "type": "state", "set": {}}, {"id": "last", "type": "state", "set": {}}],
    )
    settings = load_settings(database_url=seeded.url, actor="tester", environ={})
    before = available(seeded)
    result = _ShrinkingHoldRunner(seeded, settings).run(plugins.load(path), "acme", {})
    assert result.status == "success"
    assert result.credits_used == Decimal("0")  # the hold was gone: nothing more is taken
    assert any("held only 0.0000" in w and "a bug in hunter" in w for w in result.warnings)
    with seeded.session() as session:
        execution = session.scalars(select(Execution)).one()
        assert execution.status == "success" and execution.credits_used == Decimal("0")
        assert ledger.check_ledger(session) == []
    assert available(seeded) == before
