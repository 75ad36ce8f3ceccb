"""Ctrl-C during a run, in a real process: the run is recorded as interrupted, the steps
that finished are kept and paid for, and the rest of the hold is released."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml
from sqlalchemy import select

from hunter_cli import ledger
from hunter_cli.audit import verify_chain
from hunter_cli.customers import resolve_customer
from hunter_cli.db.models import AuditLog, Execution


class SlowHandler(BaseHTTPRequestHandler):
    """Slow on the first request (the run is interrupted there), quick afterwards (so the
    resumed run gets through)."""

    arrived = threading.Event()

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if not SlowHandler.arrived.is_set():
            SlowHandler.arrived.set()
            time.sleep(20)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _start_slow_run(seeded, tmp_path, *, first: dict, json_output: bool):
    """A run in its own process whose second step waits on the slow server: the server, and
    the process once it has reached that step."""
    SlowHandler.arrived.clear()  # one event per test: the other backend's case set it
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    recipe = {
        "slug": "slow",
        "name": "Slow",
        "version": 1,
        "description": "waits on a slow API",
        "inputs": {"type": "object", "properties": {}},
        "steps": [
            {"id": "first", "type": "state", "set": {"x": 1}, **first},
            {
                "id": "wait",
                "type": "action",
                "action": "api_call",
                "url": f"http://127.0.0.1:{server.server_port}/slow",
                "credits": 5,
            },
            {"id": "last", "type": "state", "set": {"y": 2}},
        ],
    }
    path = tmp_path / "slow.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    (tmp_path / "hunter.toml").write_text('[workspace]\ndefault_customer = "acme"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUNTER_")}
    env["HUNTER_DATABASE_URL"] = seeded.url
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hunter_cli",
            "run",
            str(path),
            *(["--json"] if json_output else []),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if not SlowHandler.arrived.wait(30):
        proc.kill()
        server.shutdown()
        raise AssertionError("the run never reached the slow step")
    return server, proc


def test_sigint_marks_interrupted_and_releases_hold_then_resume_finishes(seeded, tmp_path):
    server, proc = _start_slow_run(seeded, tmp_path, first={}, json_output=True)
    try:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert '"status": "interrupted"' in out
    with seeded.session() as session:
        execution = session.scalars(select(Execution)).one()
        assert execution.status == "interrupted"
        assert [s["id"] for s in execution.steps] == ["first"]
        assert str(execution.credits_used) == "0.0100"
        sub = ledger.active_subscription(session, resolve_customer(session, "acme"))
        assert sub.credits_held == 0
        assert ledger.check_ledger(session) == []
        assert verify_chain(session).ok

    # `hunter executions resume` continues from the interrupted step; the first is kept.
    from typer.testing import CliRunner

    from hunter_cli.cli.main import app

    try:
        resumed = CliRunner().invoke(
            app,
            ["--database-url", seeded.url, "executions", "resume", str(execution.id), "--json"],
        )
    finally:
        server.shutdown()
    assert resumed.exit_code == 0, resumed.output
    document = json.loads(resumed.output)
    assert document["data"]["execution_id"] == str(execution.id)
    assert [(s["id"], s["status"]) for s in document["data"]["steps"]] == [
        ("first", "ok"),
        ("wait", "ok"),
        ("last", "ok"),
    ]
    assert document["data"]["credits"]["used"] == "5.0200"
    with seeded.session() as session:
        assert session.get(Execution, execution.id).status == "success"
        assert ledger.check_ledger(session) == []
        assert verify_chain(session).ok


def test_sigterm_is_handled_as_ctrl_c(seeded, tmp_path):
    """cron's `timeout`, `kill` and a stopping container send SIGTERM: the run is closed as
    interrupted, its finished step paid for and the rest of its hold released."""
    server, proc = _start_slow_run(seeded, tmp_path, first={}, json_output=False)
    try:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        server.shutdown()
    assert proc.returncode == 130, err
    assert "stopped by SIGTERM during step 'wait'" in err and "Traceback" not in err
    with seeded.session() as session:
        execution = session.scalars(select(Execution)).one()
        # The step it cut short is named: the steps table lists only the finished ones.
        assert (execution.status, execution.error) == (
            "interrupted",
            "stopped by SIGTERM during step 'wait'",
        )
        assert str(execution.credits_used) == "0.0100"
        sub = ledger.active_subscription(session, resolve_customer(session, "acme"))
        assert sub.credits_held == 0
        assert ledger.check_ledger(session) == []
        assert verify_chain(session).ok


def test_a_killed_run_is_closed_and_resumed(seeded, tmp_path):
    """kill -9 leaves no chance to clean up: the execution stays `running` with its hold.
    `hunter executions resume` sees the process is gone, charges what the finished steps
    used, releases the rest, and carries on from the step that was cut off."""
    server, proc = _start_slow_run(seeded, tmp_path, first={"credits": 2}, json_output=False)
    try:
        proc.kill()
        proc.wait(timeout=30)
        with seeded.session() as session:
            execution = session.scalars(select(Execution)).one()
            assert execution.status == "running"
            assert execution.pid == proc.pid
            sub = ledger.active_subscription(session, resolve_customer(session, "acme"))
            assert sub.credits_held == Decimal("7.0100")

        from typer.testing import CliRunner

        from hunter_cli.cli.main import app

        runner = CliRunner()
        listed = runner.invoke(app, ["--database-url", seeded.url, "executions", "list", "--json"])
        (row,) = json.loads(listed.output)["data"]
        assert (row["status"], row["process_alive"]) == ("running", False)
        human = runner.invoke(app, ["--database-url", seeded.url, "executions", "list"])
        words = human.output.split()  # the table folds cells at the test terminal's width
        assert "(process" in words and "gone)" in words
        resumed = runner.invoke(
            app,
            ["--database-url", seeded.url, "executions", "resume", str(execution.id), "--json"],
        )
    finally:
        server.shutdown()
    assert resumed.exit_code == 0, resumed.output
    steps = json.loads(resumed.output)["data"]["steps"]
    assert [(s["id"], s["status"]) for s in steps] == [
        ("first", "ok"),
        ("wait", "ok"),
        ("last", "ok"),
    ]
    with seeded.session() as session:
        execution = session.get(Execution, execution.id)
        assert execution.status == "success"
        assert execution.credits_used == Decimal("7.0100")  # 2 + 5 + 0.01, each once
        assert execution.pid == os.getpid()  # the resuming process took it over
        sub = ledger.active_subscription(session, resolve_customer(session, "acme"))
        assert sub.credits_held == 0
        assert ledger.check_ledger(session) == []
        assert verify_chain(session).ok
        actions = session.scalars(
            select(AuditLog.action)
            .where(AuditLog.execution_id == execution.id)
            .order_by(AuditLog.seq)
        ).all()
        assert "execution.interrupted" in actions and "execution.resume" in actions


def test_a_killed_run_can_be_closed_without_running_the_rest(seeded, tmp_path):
    """Regression: a killed run's hold blocked the customer until someone resumed it, which
    runs the rest of the recipe; a cron job that will run it again anyway only wants the
    credits back. `executions close` charges the finished steps and releases the rest."""
    from typer.testing import CliRunner

    from hunter_cli.cli.main import app

    server, proc = _start_slow_run(seeded, tmp_path, first={"credits": 2}, json_output=False)
    try:
        proc.kill()
        proc.wait(timeout=30)
    finally:
        server.shutdown()
    with seeded.session() as session:
        execution = session.scalars(select(Execution)).one()
        assert execution.status == "running"
    cli = CliRunner()
    base = ["--database-url", seeded.url, "executions", "close"]
    closed = cli.invoke(app, [*base, str(execution.id)[:8], "--json"])
    assert closed.exit_code == 0, closed.output
    data = json.loads(closed.output)["data"]
    assert (data["status"], data["credits_used"]) == ("interrupted", "2.0000")
    with seeded.session() as session:
        sub = ledger.active_subscription(session, resolve_customer(session, "acme"))
        assert sub.credits_held == 0
        assert ledger.check_ledger(session) == []
        assert verify_chain(session).ok
    again = cli.invoke(app, [*base, str(execution.id)[:8]])
    assert again.exit_code == 2
    assert "is interrupted: only a run still marked running" in " ".join(again.output.split())


def test_answers_paid_for_before_ctrl_c_are_kept_for_the_resume(seeded, tmp_path):
    """Regression: Ctrl-C (or SIGTERM) in an AI step over items rolled back the answers it
    had cached, so the resume asked the provider for every item again (4,000 calls for
    3,000 items). They are kept: the resume asks only for what was not answered."""
    from typer.testing import CliRunner

    from hunter_cli.cli.main import app
    from hunter_cli.db.models import AiResponseCache
    from tests.ai_server import Completion, FakeChatServer
    from tests.servers import LoopbackServer, Reply

    with LoopbackServer() as http:
        fake = FakeChatServer(http)
        fake.then(Completion("one"), Completion("two"), Reply(status=500, delay=20))
        recipe = {
            "slug": "subjects",
            "name": "Subjects",
            "version": 1,
            "inputs": {"type": "object", "properties": {}},
            "steps": [
                {
                    "id": "ask",
                    "type": "ai",
                    "items": ["Acme", "Globex", "Initech"],
                    "prompt": "Subject for {{ item }}",
                }
            ],
        }
        path = tmp_path / "subjects.yaml"
        path.write_text(yaml.safe_dump(recipe, sort_keys=False))
        (tmp_path / "hunter.toml").write_text(
            '[workspace]\ndefault_customer = "acme"\n\n'
            f'[ai]\nprovider = "groq"\nbase_url = "{fake.url}"\nretry_backoff = 0\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUNTER_")}
        env.update(HUNTER_DATABASE_URL=seeded.url, GROQ_API_KEY="gsk_test_key")
        proc = subprocess.Popen(
            [sys.executable, "-m", "hunter_cli", "run", str(path)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while len(fake.requests) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(fake.requests) == 3, proc.stderr.read() if proc.poll() else "slow"
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        assert proc.returncode == 130, err
        with seeded.session() as session:
            assert len(session.scalars(select(AiResponseCache)).all()) == 2
            execution = session.scalars(select(Execution)).one()
        resumed = CliRunner().invoke(
            app,
            [
                "--database-url",
                seeded.url,
                "--config",
                str(tmp_path / "hunter.toml"),
                "executions",
                "resume",
                str(execution.id),
                "--json",
            ],
            env={"GROQ_API_KEY": "gsk_test_key"},
        )
        assert resumed.exit_code == 0, resumed.output
        # One more call, for the item that was not answered; the two answered ones are cached.
        assert len(fake.requests) == 4
