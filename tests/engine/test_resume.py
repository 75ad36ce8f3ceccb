"""Resuming a failed or interrupted execution in place, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from hunter_cli import ledger
from hunter_cli.audit import verify_chain
from hunter_cli.config import load_settings
from hunter_cli.db.models import AuditLog, CreditTransaction, Execution, OutboxMessage
from hunter_cli.engine.runner import Runner
from hunter_cli.errors import InsufficientCreditsError, UsageError
from tests.engine.test_runner import available, run, write_recipe


def resume(db, ref) -> object:
    settings = load_settings(database_url=db.url, actor="tester", environ={})
    return Runner(db, settings).resume(str(ref))


def calls(counter: Path) -> int:
    return int(counter.read_text()) if counter.exists() else 0


def three_steps(tmp_path: Path) -> tuple[Path, Path, Path]:
    """a (counted) -> b (fails once) -> c (counted); each costs 1 credit."""
    first, flaky, last = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    path = write_recipe(
        tmp_path,
        [
            {"id": "a", "type": "flaky", "counter": str(first), "fail_times": 0, "credits": 1},
            {
                "id": "s",
                "type": "state",
                "set": {"seen": "{{ steps.a.output.calls }}"},
                "credits": 0,
            },
            {"id": "b", "type": "flaky", "counter": str(flaky), "fail_times": 1, "credits": 1},
            {
                "id": "c",
                "type": "flaky",
                "counter": str(last),
                "fail_times": 0,
                "value": "{{ state.seen }}",
                "credits": 1,
            },
        ],
        outputs={"c": "{{ steps.c.output.value }}"},
    )
    return path, first, last


def test_resume_runs_only_what_did_not_finish_and_charges_once(seeded, tmp_path):
    path, first, last = three_steps(tmp_path)
    before = available(seeded)
    failed = run(seeded, path)
    assert failed.status == "failed"
    assert [s.status for s in failed.steps] == ["ok", "ok", "failed"]
    assert failed.credits_used == Decimal("1.00")  # a ran; b failed before its work

    resumed = resume(seeded, str(failed.execution_id)[:8])
    assert resumed.status == "success"
    assert resumed.execution_id == failed.execution_id
    assert [(s.id, s.status) for s in resumed.steps] == [
        ("a", "ok"),
        ("s", "ok"),
        ("b", "ok"),
        ("c", "ok"),
    ]
    assert calls(first) == 1  # not run again
    assert calls(last) == 1
    # The kept steps' outputs and the shared state are what the later steps see.
    assert resumed.outputs == {"c": 1}
    assert resumed.credits_used == Decimal("3.00")
    assert available(seeded) == before - Decimal("3.00")

    with seeded.session() as session:
        execution = session.get(Execution, failed.execution_id)
        assert execution.status == "success"
        assert execution.error is None
        assert [r["id"] for r in execution.steps] == ["a", "s", "b", "c"]
        assert execution.credits_used == Decimal("3.00")
        assert execution.credits_reserved == Decimal("5.00")  # 3, then 2 for b and c
        assert ledger.check_ledger(session) == []
        assert verify_chain(session).ok
        kinds = session.scalars(
            select(CreditTransaction.kind).where(
                CreditTransaction.execution_id == failed.execution_id
            )
        ).all()
        assert sorted(kinds) == ["capture", "capture", "release", "reserve", "reserve"]
        actions = session.scalars(
            select(AuditLog.action)
            .where(AuditLog.execution_id == failed.execution_id)
            .order_by(AuditLog.seq)
        ).all()
        assert "execution.failed" in actions and "execution.resume" in actions
        assert actions[-1] == "execution.success"


def test_only_failed_or_interrupted_executions_resume(seeded, tmp_path):
    path, _, _ = three_steps(tmp_path)
    failed = run(seeded, path)
    assert resume(seeded, failed.execution_id).status == "success"
    with pytest.raises(UsageError, match="is success: only failed or interrupted"):
        resume(seeded, failed.execution_id)


def test_a_resume_that_cannot_be_paid_changes_nothing(seeded, tmp_path):
    path, _, _ = three_steps(tmp_path)
    failed = run(seeded, path, customer="techstartup")
    with seeded.session() as session:
        from hunter_cli.customers import resolve_customer

        customer = resolve_customer(session, "techstartup")
        sub = ledger.active_subscription(session, customer, lock=True)
        spend = sub.credits_available - Decimal("0.5")
        ledger.reserve_credits(session, customer, spend, execution_id=None, actor="tester")
    with pytest.raises(InsufficientCreditsError):
        resume(seeded, failed.execution_id)
    with seeded.session() as session:
        assert session.get(Execution, failed.execution_id).status == "failed"
        assert ledger.check_ledger(session) == []


def test_a_step_that_queued_messages_is_not_run_again(seeded, tmp_path):
    """The point of resuming in place: what was queued for someone stays queued once."""
    flaky = tmp_path / "b"
    path = write_recipe(
        tmp_path,
        [
            {
                "id": "mail",
                "type": "correspondence",
                "channel": "email",
                "to": "ada@example.com",
                "subject": "Hello",
                "body": "Hi Ada",
            },
            {"id": "b", "type": "flaky", "counter": str(flaky), "fail_times": 1},
        ],
    )
    failed = run(seeded, path)
    assert failed.status == "failed"
    assert resume(seeded, failed.execution_id).status == "success"
    with seeded.session() as session:
        queued = session.scalars(
            select(OutboxMessage).where(OutboxMessage.execution_id == failed.execution_id)
        ).all()
        assert len(queued) == 1


def test_a_run_from_before_send_was_recorded_says_so_when_resumed(seeded, tmp_path):
    """Regression: migration 0007 marked every older execution `send: false`, so a killed
    `--send` run of the old version resumed as a dry run without a word."""
    path, _first, _last = three_steps(tmp_path)
    failed = run(seeded, path)
    with seeded.session() as session:
        session.get(Execution, failed.execution_id).send = None  # as migrated
    resumed = resume(seeded, failed.execution_id)
    assert resumed.status == "success"
    assert any(
        "started before hunter recorded whether a run delivers" in w for w in resumed.warnings
    )


def _mark_running(db, execution_id, *, host: str, pid: int) -> None:
    with db.session() as session:
        execution = session.get(Execution, execution_id)
        execution.status, execution.host, execution.pid = "running", host, pid


def test_a_run_whose_process_is_alive_is_not_resumed(seeded, tmp_path):
    import os
    import socket

    path, _, _ = three_steps(tmp_path)
    failed = run(seeded, path)
    _mark_running(seeded, failed.execution_id, host=socket.gethostname(), pid=os.getpid())
    with pytest.raises(UsageError, match=r"is still running \(process \d+ on "):
        resume(seeded, failed.execution_id)


def test_force_does_not_resume_a_run_whose_hunter_process_is_alive(seeded, tmp_path):
    """Regression: `resume --force` beside the live run ran a step twice and left the
    execution's record disagreeing with the ledger. --force is for a process id that now
    belongs to another program, not for a hunter process under way."""
    import socket
    import subprocess
    import sys

    path, _, _ = three_steps(tmp_path)
    failed = run(seeded, path)
    code = "import time; time.sleep(60)"
    hunter_like = subprocess.Popen([sys.executable, "-c", code, "hunter", "run"])
    other = subprocess.Popen([sys.executable, "-c", code])
    try:
        _mark_running(seeded, failed.execution_id, host=socket.gethostname(), pid=hunter_like.pid)
        with pytest.raises(UsageError, match=r"a hunter process\): --force cannot resume"):
            Runner(seeded, _settings(seeded)).resume(str(failed.execution_id), force=True)
        # The id reused by another program: --force goes ahead, as it always did.
        _mark_running(seeded, failed.execution_id, host=socket.gethostname(), pid=other.pid)
        result = Runner(seeded, _settings(seeded)).resume(str(failed.execution_id), force=True)
        assert result.status == "success"
    finally:
        for process in (hunter_like, other):
            process.kill()
            process.wait()


def _settings(db):
    return load_settings(database_url=db.url, actor="tester", environ={})


def test_a_run_marked_running_elsewhere_needs_force(seeded, tmp_path):
    path, _, _ = three_steps(tmp_path)
    failed = run(seeded, path)
    _mark_running(seeded, failed.execution_id, host="elsewhere.example", pid=4242)
    with pytest.raises(UsageError, match="cannot be checked from here.*--force"):
        resume(seeded, failed.execution_id)
    settings = load_settings(database_url=seeded.url, actor="tester", environ={})
    result = Runner(seeded, settings).resume(str(failed.execution_id), force=True)
    assert result.status == "success"
    assert result.credits_used == Decimal("3.00")  # the books were already closed: once
    with seeded.session() as session:
        assert ledger.check_ledger(session) == []
        assert verify_chain(session).ok


def test_a_killed_but_unreaped_process_counts_as_gone():
    """kill(pid, 0) still finds a zombie; /proc tells it apart (Linux)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from hunter_cli.executions import HOST, process_alive

    assert process_alive(HOST, os.getpid()) is True
    assert process_alive("elsewhere.example", os.getpid()) is None
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert process_alive(HOST, child.pid) is True
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while process_alive(HOST, child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)  # not reaped: a zombie until wait() below
        if os.path.exists(f"/proc/{child.pid}/stat"):
            assert process_alive(HOST, child.pid) is False
    finally:
        child.kill()
        child.wait()
    assert process_alive(HOST, child.pid) is False
