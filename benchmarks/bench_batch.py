"""A batch through a long recipe, run by hand (not part of the test suite): ITEMS leads pass
through STEPS data_processing steps (a merge, then sorts), each step's output (the whole
list) kept in the execution's step records; with --email, a last step queues one email per
lead in the outbox (a dry run: nothing is sent). Prints the run's wall time and the size of
the stored records, on SQLite (and PostgreSQL with --pg).

    python benchmarks/bench_batch.py [--items 10000] [--steps 8] [--email] [--pg postgresql://...]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def recipe_text(steps: int, email: bool = False) -> str:
    lines = [
        "slug: batch",
        "name: Batch",
        "version: 1",
        "inputs:",
        "  type: object",
        "  properties: {leads: {type: array}}",
        "steps:",
        "  - {id: s0, type: action, action: data_processing, operation: merge,",
        '     lists: ["{{ inputs.leads }}"]}',
    ]
    for k in range(1, steps):
        lines += [
            f"  - {{id: s{k}, type: action, action: data_processing, operation: sort,",
            f'     items: "{{{{ steps.s{k - 1}.output.items }}}}", by: n}}',
        ]
    if email:
        lines += [
            "  - {id: mail, type: correspondence, channel: email,",
            f'     items: "{{{{ steps.s{steps - 1}.output.items }}}}", to: "{{{{ item.email }}}}",',
            '     subject: "Hello {{ item.company }}", body: "Hi, lead {{ item.n }}."}',
        ]
    lines += ["outputs:", f'  count: "{{{{ steps.s{steps - 1}.output.items | length }}}}"']
    return "\n".join(lines) + "\n"


def run_batch(
    url: str, items: int, steps: int, workdir: Path, email: bool = False
) -> tuple[float, int]:
    from sqlalchemy import func, select

    from hunter_cli.config import load_settings
    from hunter_cli.db.engine import Database
    from hunter_cli.db.migrate import upgrade
    from hunter_cli.db.models import Execution
    from hunter_cli.engine.runner import Runner
    from hunter_cli.recipe import load_and_validate
    from hunter_cli.resources import bundled_dir
    from hunter_cli.seeding import apply_seed

    db = Database(url)
    upgrade(db)
    with db.session() as session:
        apply_seed(session, bundled_dir("seeds"), [], actor="bench")
    path = workdir / "batch.yaml"
    path.write_text(recipe_text(steps, email))
    loaded = load_and_validate(str(path))
    leads = [
        {"email": f"p{i}@c{i % 500}.example", "company": f"Company {i % 500}", "n": i}
        for i in range(items)
    ]
    runner = Runner(db, load_settings(database_url=url, actor="bench", environ={}))
    start = time.perf_counter()
    result = runner.run(loaded, "global", {"leads": leads})
    elapsed = time.perf_counter() - start
    assert result.status == "success", result.error
    with db.session() as session:
        size = session.scalar(
            select(func.length(func.cast(Execution.steps, _text_type()))).where(
                Execution.id == result.execution_id
            )
        )
    db.dispose()
    return elapsed, int(size or 0)


def _text_type():
    from sqlalchemy import Text

    return Text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--email", action="store_true", help="end with an email step")
    parser.add_argument("--pg", help="PostgreSQL server URL (a database is made for the run)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hunter-batch-"))
    targets = [("SQLite", f"sqlite:///{workdir / 'batch.db'}")]
    what = f"{args.steps} steps" + (" and an email step (to the outbox)" if args.email else "")
    print(f"{args.items} leads through {what}, each step's output recorded:")
    with contextlib.ExitStack() as cleanup:
        if args.pg:  # databases of its own, dropped at the end
            from bench_engine import pg_databases

            targets.append(("PostgreSQL", cleanup.enter_context(pg_databases(args.pg))[0]))
        for name, url in targets:
            elapsed, size = run_batch(url, args.items, args.steps, workdir, args.email)
            print(f"  {name:<11} {elapsed:6.2f} s   step records {size / 1e6:5.1f} MB")


if __name__ == "__main__":
    main()
