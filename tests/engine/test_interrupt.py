"""Ctrl-C during a run, in a real process: the run is recorded as interrupted, the steps
that finished are kept and paid for, and the rest of the hold is released."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml
from sqlalchemy import select

from hunter_cli import ledger
from hunter_cli.audit import verify_chain
from hunter_cli.customers import resolve_customer
from hunter_cli.db.models import Execution


class SlowHandler(BaseHTTPRequestHandler):
    arrived = threading.Event()

    def do_GET(self):  # noqa: N802 (http.server's naming)
        SlowHandler.arrived.set()
        time.sleep(20)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_sigint_marks_interrupted_and_releases_hold(seeded, tmp_path):
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
            {"id": "first", "type": "state", "set": {"x": 1}},
            {
                "id": "wait",
                "type": "action",
                "action": "api_call",
                "url": f"http://127.0.0.1:{server.server_port}/slow",
                "credits": 5,
            },
            {"id": "never", "type": "state", "set": {"y": 2}},
        ],
    }
    path = tmp_path / "slow.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    (tmp_path / "hunter.toml").write_text('[workspace]\ndefault_customer = "acme"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUNTER_")}
    env["HUNTER_DATABASE_URL"] = seeded.url
    proc = subprocess.Popen(
        [sys.executable, "-m", "hunter_cli", "run", str(path), "--json"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert SlowHandler.arrived.wait(30), "the run never reached the slow step"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        server.shutdown()
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
