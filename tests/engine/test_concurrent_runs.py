"""Whole recipe runs in several OS processes at once, on one customer whose credits cover
only some of them: no over-spend, no double charge, one unbroken audit chain."""

from __future__ import annotations

import multiprocessing
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from hunter_cli import ledger
from hunter_cli.audit import verify_chain
from hunter_cli.db.models import Execution, Subscription
from tests.processes import START_TIMEOUT, start_together

WORKERS = 6
RUNS_EACH = 4

RECIPE = """\
slug: tally
name: Tally
version: 1
inputs: {type: object, properties: {}}
steps:
  - {id: merge, type: action, action: data_processing, operation: merge,
     lists: [[{n: 2}], [{n: 1}]]}
  - {id: sort, type: action, action: data_processing, operation: sort,
     items: "{{ steps.merge.output.items }}", by: n}
  - {id: top, type: action, action: data_processing, operation: limit,
     items: "{{ steps.sort.output.items }}", count: 1}
outputs:
  top: "{{ steps.top.output.items }}"
"""

_CTX = multiprocessing.get_context("forkserver")
_CTX.set_forkserver_preload(["hunter_cli.engine.runner", "hunter_cli.db.engine", "psycopg"])


def _runner_process(url: str, recipe: str, worker: int, barrier, results) -> None:
    """One process: load the recipe, wait at the start line, then run it RUNS_EACH times."""
    from hunter_cli.config import load_settings
    from hunter_cli.db.engine import Database
    from hunter_cli.engine.runner import Runner
    from hunter_cli.errors import InsufficientCreditsError
    from hunter_cli.recipe import load_and_validate

    db = Database(url)
    outcomes: list[str] = []
    try:
        runner = Runner(db, load_settings(database_url=url, actor=f"w{worker}", environ={}))
        loaded = load_and_validate(recipe)
        barrier.wait(timeout=START_TIMEOUT)
        for _ in range(RUNS_EACH):
            try:
                outcomes.append(runner.run(loaded, "tally", {}).status)
            except InsufficientCreditsError:
                outcomes.append("refused")
    except BaseException as exc:  # reported to the parent, which fails the test with it
        outcomes.append(f"error: {type(exc).__name__}: {exc}")
    finally:
        db.dispose()
    results.put(outcomes)


def test_runs_in_many_processes_spend_exactly_what_there_is(db, db_url, make_customer, tmp_path):
    fits = 15  # of WORKERS * RUNS_EACH = 24 runs, at 0.03 credits each
    customer_id = make_customer(db, "tally", str(Decimal("0.03") * fits))
    recipe = Path(tmp_path / "tally.yaml")
    recipe.write_text(RECIPE)

    jobs = [(db_url, str(recipe), w) for w in range(WORKERS)]
    outcomes = [o for each in start_together(_CTX, _runner_process, jobs) for o in each]

    assert set(outcomes) <= {"refused", "success"}, outcomes
    assert outcomes.count("success") == fits
    assert outcomes.count("refused") == WORKERS * RUNS_EACH - fits
    with db.session() as session:
        sub = session.scalars(
            select(Subscription).where(Subscription.customer_id == customer_id)
        ).one()
        assert (sub.credits_used, sub.credits_held, sub.credits_available) == (
            Decimal("0.45"),
            0,
            0,
        )
        executions = session.scalar(
            select(func.count()).select_from(Execution).where(Execution.status == "success")
        )
        assert executions == fits  # a refused run leaves no execution behind
        assert ledger.check_ledger(session) == []
        result = verify_chain(session)
        assert result.ok, result.problem
