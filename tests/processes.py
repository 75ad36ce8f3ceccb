"""Real OS processes started together: each connects first, waits at a start line, then
does its work and reports one result on a queue."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

START_TIMEOUT = 120


def start_together(ctx: Any, target: Callable[..., None], jobs: Sequence[tuple]) -> list[Any]:
    """One process per job, called as target(*job, barrier, results); all released at once.
    Returns what each one put on `results` (in the order they finished), killing any left."""
    barrier = ctx.Barrier(len(jobs) + 1)
    results = ctx.Queue()
    processes = [ctx.Process(target=target, args=(*job, barrier, results)) for job in jobs]
    for process in processes:
        process.start()
    try:
        barrier.wait(timeout=START_TIMEOUT)  # every process is ready: go
        outcomes = [results.get(timeout=START_TIMEOUT) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    assert all(p.exitcode == 0 for p in processes), [p.exitcode for p in processes]
    return outcomes
