"""Engine benchmarks, run by hand (not part of the test suite):

1. Runs per second of a recipe of 3 zero-latency data_processing steps, next to the raw cost
   of the same bookkeeping (the execution row, the ledger rows and the audit rows, with the
   same transactions) written with plain SQL through the database driver, as a ratio.
   Target: the engine does at least half the raw rate, on each backend.
2. Start-up: `hunter --help` and `hunter credits show` next to a bare Typer app with the
   same command names and `python -c pass`. Target: --help within 1.2x of the bare app.
3. A whole `hunter run` of the 3-step recipe as a process. Target: under 0.5 s, which is 8x
   faster than the same flow in Prefect or promptflow as whole processes (about 4 s each on
   the issue's 2-core box). Given their interpreters, the same flow is timed in both, here.

    python benchmarks/bench_engine.py [--runs 200] [--pg postgresql://postgres@127.0.0.1/postgres]
        [--prefect-python VENV/bin/python] [--promptflow-pf VENV/bin/pf]

Prefect and promptflow are not dependencies of hunter; install them in venvs of their own:
    python3 -m venv /tmp/prefect && /tmp/prefect/bin/pip install prefect
    python3 -m venv /tmp/pf && /tmp/pf/bin/pip install promptflow
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RECIPE = """\
slug: bench
name: Bench
version: 1
description: three zero-latency data_processing steps
inputs:
  type: object
  properties: {}
steps:
  - id: merge
    type: action
    action: data_processing
    operation: merge
    lists: [[{n: 3}, {n: 1}], [{n: 2}]]
  - id: sort
    type: action
    action: data_processing
    operation: sort
    items: "{{ steps.merge.output.items }}"
    by: n
  - id: top
    type: action
    action: data_processing
    operation: limit
    items: "{{ steps.sort.output.items }}"
    count: 2
outputs:
  top: "{{ steps.top.output.items }}"
"""


# -- 1. engine vs raw bookkeeping ----------------------------------------------------------
def prepare_db(url: str):
    from hunter_cli.db.engine import Database
    from hunter_cli.db.migrate import upgrade
    from hunter_cli.resources import bundled_dir
    from hunter_cli.seeding import apply_seed

    db = Database(url)
    upgrade(db)
    with db.session() as session:
        apply_seed(session, bundled_dir("seeds"), [], actor="bench")
    return db


def bench_engine(db, recipe_path: Path, runs: int) -> float:
    from hunter_cli.config import load_settings
    from hunter_cli.engine.runner import Runner
    from hunter_cli.recipe import load_and_validate

    loaded = load_and_validate(str(recipe_path))
    runner = Runner(db, load_settings(database_url=db.url, actor="bench", environ={}))
    runner.run(loaded, "global", {})  # warm caches (imports, compiled templates)
    start = time.perf_counter()
    for _ in range(runs):
        result = runner.run(loaded, "global", {})
        assert result.status == "success", result.error
    return runs / (time.perf_counter() - start)


def _h(prev: str, body: dict) -> str:
    return hashlib.sha256(
        json.dumps({**body, "prev_hash": prev}, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def bench_raw(url: str, runs: int, via: str = "driver") -> float:
    """The same rows and the same five transactions as one engine run, in plain SQL: through
    the database driver itself (via="driver"), or through SQLAlchemy's connection with
    exec_driver_sql (via="sqlalchemy"), which shows what SQLAlchemy alone costs."""
    pg = url.startswith("postgresql")
    ph = "%s" if pg else "?"
    sa_conn = None
    if via == "sqlalchemy":
        from hunter_cli.db.engine import Database

        sa_conn = Database(url).engine.connect()
    elif pg:
        import psycopg

        conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        cur = conn.cursor()
    else:
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        # The engine's connection settings (hunter_cli/db/engine.py), foreign keys included.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=60000")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        cur = conn.cursor()

    def q(sql: str, *args):
        if sa_conn is not None:
            return sa_conn.exec_driver_sql(sql.replace("?", ph), tuple(args))
        cur.execute(sql.replace("?", ph), args)
        return cur

    tail: list = []  # (seq, hash) of this transaction's last entry, as the engine keeps it

    def begin():
        tail.clear()
        if sa_conn is not None:
            sa_conn.begin()  # BEGIN IMMEDIATE on SQLite, as the engine does
        elif not pg:
            cur.execute("BEGIN IMMEDIATE")  # psycopg opens one on the first statement

    def commit():
        if sa_conn is not None:
            sa_conn.commit()
        elif pg:
            conn.commit()
        else:
            cur.execute("COMMIT")

    def uid():
        u = uuid.uuid4()
        return u if pg else u.hex

    def now():
        d = datetime.now(UTC)
        return d if pg else d.replace(tzinfo=None).isoformat(" ")

    def amount(x: str):
        from decimal import Decimal

        return Decimal(x) if pg else int(Decimal(x) * 10000)

    sub_id, cust_id = q(
        "SELECT s.id, s.customer_id FROM subscriptions s JOIN customers c ON "
        "c.id = s.customer_id WHERE c.slug = 'global'"
    ).fetchone()
    if sa_conn is not None:
        sa_conn.commit()

    def audit(action: str, exec_id):
        # The lock and the tail once per transaction; later entries chain on the one before.
        if tail:
            seq, prev = tail[0] + 1, tail[1]
        else:
            if pg:
                q("SELECT pg_advisory_xact_lock(1)")
            row = q("SELECT seq, hash FROM audit_logs ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (row[0] + 1, row[1]) if row else (1, "0" * 64)
        body = {"seq": seq, "action": action, "details": {"x": 1}}
        entry_hash = _h(prev, body)
        q(
            "INSERT INTO audit_logs (id, seq, created_at, actor, customer_id, execution_id, "
            "action, details, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
            uid(),
            seq,
            now(),
            "bench",
            cust_id,
            exec_id,
            action,
            json.dumps(body["details"]),
            prev,
            entry_hash,
        )
        tail[:] = [seq, entry_hash]

    def ledger(kind: str, exec_id, value: str):
        q(
            "SELECT credits_held FROM subscriptions WHERE id = ?" + (" FOR UPDATE" if pg else ""),
            sub_id,
        )
        q(
            "UPDATE subscriptions SET credits_held = credits_held + ? WHERE id = ?",
            amount(value),
            sub_id,
        )
        q(
            "INSERT INTO credit_transactions (id, subscription_id, customer_id, execution_id, kind,"
            " amount, balance_after, idempotency_key, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            uid(),
            sub_id,
            cust_id,
            exec_id,
            kind,
            amount(value),
            amount("1"),
            str(uuid.uuid4()),
            now(),
        )
        audit(f"credits.{kind}", exec_id)

    start = time.perf_counter()
    for _ in range(runs):
        exec_id = uid()
        begin()
        q(
            "INSERT INTO executions (id, customer_id, recipe_slug, status, inputs, steps, warnings,"
            " credits_reserved, credits_used, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            exec_id,
            cust_id,
            "bench",
            "running",
            "{}",
            "[]",
            "[]",
            amount("0.03"),
            amount("0"),
            now(),
        )
        audit("execution.start", exec_id)
        ledger("reserve", exec_id, "0.03")
        commit()
        for step in range(3):
            begin()
            q("UPDATE executions SET steps = ? WHERE id = ?", json.dumps([{"id": step}]), exec_id)
            audit("step.ok", exec_id)
            commit()
        begin()
        ledger("capture", exec_id, "-0.03")
        q(
            "UPDATE executions SET status = 'success', outputs = ?, credits_used = ? WHERE id = ?",
            "{}",
            amount("0.03"),
            exec_id,
        )
        audit("execution.success", exec_id)
        commit()
    elapsed = time.perf_counter() - start
    (sa_conn or conn).close()
    return runs / elapsed


def backend_rows(
    runs: int, rounds: int, pg_url: str | None, workdir: Path, recipe: Path
) -> list[tuple]:
    """Engine, raw driver and raw SQLAlchemy, interleaved in `rounds` rounds of runs/rounds
    runs each, so that a machine that gets busier or quieter during the benchmark moves all
    three alike; the ratio is the median of the rounds' ratios."""
    rows = []
    targets = [("SQLite", f"sqlite:///{workdir / 'engine.db'}", f"sqlite:///{workdir / 'raw.db'}")]
    with contextlib.ExitStack() as cleanup:
        if pg_url:
            targets.append(("PostgreSQL", *cleanup.enter_context(pg_databases(pg_url))))
        for target in targets:
            rows.append(_backend_row(*target, runs=runs, rounds=rounds, recipe=recipe))
    return rows


def _backend_row(
    name: str, engine_url: str, raw_url: str, *, runs: int, rounds: int, recipe: Path
) -> tuple:
    per_round = max(1, runs // rounds)
    db = prepare_db(engine_url)
    prepare_db(raw_url).dispose()
    engine, raw, sa, ratios = [], [], [], []
    for _ in range(rounds):
        engine.append(bench_engine(db, recipe, per_round))
        raw.append(bench_raw(raw_url, per_round))
        sa.append(bench_raw(raw_url, per_round, via="sqlalchemy"))
        ratios.append(engine[-1] / raw[-1])
    db.dispose()
    median = statistics.median
    return (
        name,
        median(engine),
        median(raw),
        median(ratios),
        min(ratios),
        max(ratios),
        median(sa),
    )


@contextlib.contextmanager
def pg_databases(server: str) -> Iterator[tuple[str, str]]:
    """Two new databases on the server, named for this process (two people benchmarking at
    once do not drop each other's), dropped again when done."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from hunter_cli.config import normalise_database_url

    server = normalise_database_url(server)
    admin = create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    names = [f"hunter_bench_{os.getpid()}_{suffix}" for suffix in ("engine", "raw")]
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        urls = [make_url(server).set(database=n).render_as_string(False) for n in names]
        yield urls[0], urls[1]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- 2 and 3. whole processes --------------------------------------------------------------
BARE_APP = """\
import typer
app = typer.Typer()
for group in ("recipes", "executions", "customers", "plans", "credits", "audit", "leads",
              "outbox", "db"):
    sub = typer.Typer()
    @sub.command("list")
    def _list(json_output: bool = typer.Option(False, "--json")): pass
    app.add_typer(sub, name=group)
for name in ("init", "seed", "run"):
    app.command(name)(lambda: None)
app()
"""


def time_once(argv: list[str], cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    return time.perf_counter() - start


def time_command(argv: list[str], repeat: int, cwd: Path, env: dict) -> float:
    return statistics.median(time_once(argv, cwd, env) for _ in range(repeat))


def time_commands(commands: dict[str, list[str]], repeat: int, cwd: Path, env: dict) -> dict:
    """The median of each command, timed in turn (one of each per round), so that they are
    compared under the same load."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, argv in commands.items():
            samples[name].append(time_once(argv, cwd, env))
    return {name: statistics.median(times) for name, times in samples.items()}


def process_rows(workdir: Path, repeat: int, recipe: Path) -> list[tuple]:
    hunter = str(Path(sys.executable).with_name("hunter"))
    if not Path(hunter).exists():
        hunter = shutil.which("hunter") or "hunter"
    # `pip install` byte-compiles the package; a development checkout (editable install,
    # PYTHONDONTWRITEBYTECODE set) would otherwise compile hunter_cli from source in every
    # process timed below, which no user pays.
    import compileall

    compileall.compile_dir(ROOT / "hunter_cli", quiet=1)
    ws = workdir / "ws"
    ws.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUNTER_")}
    subprocess.run([hunter, "init", str(ws)], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run([hunter, "seed"], cwd=ws, check=True, env=env, stdout=subprocess.DEVNULL)
    bare = workdir / "bare.py"
    bare.write_text(BARE_APP)
    py = sys.executable
    for argv in ([hunter, "credits", "show"], [hunter, "run", str(recipe)]):
        time_once(argv, ws, env)  # first use: SQLite file caches, the recipe's first version
    commands = {
        "python -c pass": [py, "-c", "pass"],
        "bare Typer app --help": [py, str(bare), "--help"],
        "hunter --help": [hunter, "--help"],
        "hunter credits show": [hunter, "credits", "show"],
        "hunter run (3 steps)": [hunter, "run", str(recipe)],
    }
    return list(time_commands(commands, repeat, ws, env).items())


PREFECT_FLOW = """\
from prefect import flow, task


@task
def merge(lists):
    return [item for part in lists for item in part]


@task
def sort(items, by):
    return sorted(items, key=lambda item: item[by])


@task
def limit(items, count):
    return items[:count]


@flow
def bench():
    merged = merge([[{"n": 3}, {"n": 1}], [{"n": 2}]])
    return {"top": limit(sort(merged, "n"), 2)}


if __name__ == "__main__":
    print(bench())
"""

PROMPTFLOW_DAG = """\
inputs: {}
outputs:
  top:
    type: list
    reference: ${top.output}
nodes:
- name: merge
  type: python
  source: {type: code, path: merge_step.py}
  inputs: {}
- name: sort
  type: python
  source: {type: code, path: sort_step.py}
  inputs:
    items: ${merge.output}
- name: top
  type: python
  source: {type: code, path: top_step.py}
  inputs:
    items: ${sort.output}
"""

PROMPTFLOW_TOOLS = {
    "merge_step.py": "def merge() -> list:\n"
    "    return [i for part in [[{'n': 3}, {'n': 1}], [{'n': 2}]] for i in part]\n",
    "sort_step.py": "def sort(items: list) -> list:\n"
    "    return sorted(items, key=lambda item: item['n'])\n",
    "top_step.py": "def top(items: list) -> list:\n    return items[:2]\n",
}


def competitor_rows(
    workdir: Path, repeat: int, prefect_python: str | None, pf: str | None
) -> list[tuple]:
    """The same three steps as whole processes in Prefect and promptflow, each in its own
    venv, with telemetry off and state in the temporary folder (there is no network)."""
    rows = []
    if prefect_python:
        flow_file = workdir / "prefect_flow.py"
        flow_file.write_text(PREFECT_FLOW)
        env = {
            **os.environ,
            "PREFECT_HOME": str(workdir / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        argv = [prefect_python, str(flow_file)]
        subprocess.run(argv, env=env, capture_output=True, check=True)  # creates its database
        rows.append(("Prefect flow (3 tasks)", time_command(argv, repeat, workdir, env)))
    if pf:
        flow_dir = workdir / "pf-flow"
        flow_dir.mkdir()
        (flow_dir / "flow.dag.yaml").write_text(PROMPTFLOW_DAG)
        for name, body in PROMPTFLOW_TOOLS.items():
            (flow_dir / name).write_text("from promptflow.core import tool\n\n\n@tool\n" + body)
        home = workdir / "pf-home"
        home.mkdir()
        env = {**os.environ, "HOME": str(home)}
        subprocess.run(
            [pf, "config", "set", "telemetry.enabled=false"], env=env, capture_output=True
        )
        argv = [pf, "flow", "test", "--flow", str(flow_dir)]
        try:
            subprocess.run(argv, env=env, capture_output=True, check=True)
            rows.append(("promptflow flow test", time_command(argv, repeat, workdir, env)))
        finally:
            # `pf flow test` leaves its trace service running in the background: stop it, or
            # it outlives the benchmark and loads the machine for whatever is measured next.
            subprocess.run([pf, "service", "stop"], env=env, capture_output=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="runs per backend")
    parser.add_argument("--repeat", type=int, default=15, help="process timings (median)")
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds of the throughput runs"
    )
    parser.add_argument(
        "--pg",
        default=os.environ.get("HUNTER_TEST_DATABASE_URL"),
        help="PostgreSQL server URL (default: $HUNTER_TEST_DATABASE_URL)",
    )
    parser.add_argument("--prefect-python", help="a Python with prefect installed")
    parser.add_argument("--promptflow-pf", help="the pf command of a promptflow install")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        recipe = workdir / "bench.yaml"
        recipe.write_text(RECIPE)
        print(
            f"Engine throughput, {args.runs} runs of a 3-step data_processing recipe in "
            f"{args.rounds} interleaved rounds (medians; ratio range over the rounds):"
        )
        print(
            f"  {'backend':<11} {'engine runs/s':>14} {'raw runs/s':>11} {'ratio':>6} "
            f"{'range':>11}  target   (same SQL via SQLAlchemy: runs/s, engine ratio)"
        )
        rows_ = backend_rows(args.runs, args.rounds, args.pg, workdir, recipe)
        for name, engine, raw, ratio, low, high, sa in rows_:
            verdict = "ok" if ratio >= 0.5 else "BELOW 0.5"
            print(
                f"  {name:<11} {engine:>14.1f} {raw:>11.1f} {ratio:>6.2f} "
                f"{f'{low:.2f}-{high:.2f}':>11}  >= 0.5 {verdict}"
                f"   ({sa:.1f}, {engine / sa:.2f})"
            )
        print(f"\nWhole processes, median of {args.repeat}:")
        rows = dict(process_rows(workdir, args.repeat, recipe))
        for name, seconds in rows.items():
            print(f"  {name:<24} {seconds * 1000:>7.0f} ms")
        ratio = rows["hunter --help"] / rows["bare Typer app --help"]
        print(
            f"\n  hunter --help / bare Typer app: {ratio:.2f}  (target <= 1.2: "
            f"{'ok' if ratio <= 1.2 else 'MISSED'})"
        )
        run_s = rows["hunter run (3 steps)"]
        print(
            f"  hunter run of the 3-step recipe: {run_s:.3f} s  (target < 0.5 s: "
            f"{'ok' if run_s < 0.5 else 'MISSED'})"
        )
        others = competitor_rows(
            workdir, max(3, args.repeat // 3), args.prefect_python, args.promptflow_pf
        )
        if others:
            print("\n  The same flow elsewhere, as whole processes (target: hunter 8x faster):")
        for name, seconds in others:
            speedup = seconds / run_s
            print(
                f"  {name:<24} {seconds:>7.2f} s   hunter is {speedup:.1f}x faster "
                f"({'ok' if speedup >= 8 else 'below 8x'})"
            )


if __name__ == "__main__":
    main()
