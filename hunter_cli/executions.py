"""Reading execution records: what ran, for whom, step by step."""

from __future__ import annotations

import os
import re
import socket
import uuid
from typing import Any

from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session, defer

from hunter_cli.db.models import Customer, Execution
from hunter_cli.errors import NotFoundError, UsageError

HOST = socket.gethostname()

# Every status an execution can have; `executions list --status` takes one of these.
STATUSES: tuple[str, ...] = ("pending", "running", "success", "partial", "failed", "interrupted")


def process_alive(host: str | None, pid: int | None) -> bool | None:
    """Whether the process that runs (ran) an execution is still there; None when that
    cannot be told here (another host, or an execution from before hosts were recorded)."""
    if not pid or host != HOST:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user's
    return not _is_zombie(pid)


def runs_hunter(pid: int | None) -> bool:
    """Whether process `pid` (on this host) runs hunter, as far as /proc tells (Linux): a
    live process id that --force may take for a reused one. False when it cannot be told."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return b"hunter" in cmdline.read().lower()
    except OSError:
        return False


def _is_zombie(pid: int) -> bool:
    """A killed process its parent has not reaped yet still answers kill(pid, 0); on Linux,
    /proc says it is a zombie. Elsewhere, it counts as alive (resume --force overrides)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            # "pid (comm) state ...": comm may hold spaces and parentheses, so split at the last ")"
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def list_executions(
    session: Session,
    *,
    customer: Customer | None = None,
    status: str | None = None,
    recipe: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> list[Execution]:
    if status is not None and status not in STATUSES:
        raise UsageError(f"unknown execution status {status!r}; choose from {', '.join(STATUSES)}")
    # A list shows no inputs, outputs or step records: a batch run's are megabytes each.
    query = (
        select(Execution)
        .options(defer(Execution.inputs), defer(Execution.outputs), defer(Execution.steps))
        # The id breaks ties, so pages (--offset) neither repeat nor skip a run.
        .order_by(Execution.created_at.desc(), Execution.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if customer is not None:
        query = query.where(Execution.customer_id == customer.id)
    if status:
        query = query.where(Execution.status == status)
    if recipe:
        query = query.where(Execution.recipe_slug == recipe)
    return list(session.scalars(query))


def get_execution(session: Session, ref: str) -> Execution:
    """By full id or a unique prefix of at least 6 hex digits, like git."""
    text = ref.strip().lower()
    try:
        as_uuid: uuid.UUID | None = uuid.UUID(text)
    except ValueError:
        as_uuid = None
    if as_uuid is not None:
        found = session.get(Execution, as_uuid)
    else:
        if not re.fullmatch(r"[0-9a-f-]{6,36}", text):
            raise UsageError(
                f"not an execution id: {ref!r}: give the id or a unique prefix of at least "
                "6 hex digits (see `hunter executions list`)"
            )
        # Uuid is stored as 32 hex chars on SQLite and as a uuid on PostgreSQL.
        bare = text.replace("-", "")
        column = cast(Execution.id, String)
        matches = session.scalars(
            select(Execution).where(column.like(f"{text}%") | column.like(f"{bare}%")).limit(2)
        ).all()
        if len(matches) > 1:
            raise UsageError(f"execution id prefix {ref!r} is ambiguous: give more digits")
        found = matches[0] if matches else None
    if found is None:
        raise NotFoundError(f"no execution {ref!r}: see `hunter executions list`")
    return found


def execution_summary(execution: Execution, customer_slug: str | None = None) -> dict[str, Any]:
    """An execution as `executions list` shows it: everything but its inputs, outputs and
    step records (`executions show` has those)."""
    duration = None
    if execution.started_at and execution.finished_at:
        duration = int((execution.finished_at - execution.started_at).total_seconds() * 1000)
    return {
        "id": str(execution.id),
        "customer": customer_slug,
        "recipe": execution.recipe_slug,
        "recipe_version": execution.recipe_version,
        "recipe_hash": execution.recipe_hash,
        "status": execution.status,
        "warnings": execution.warnings,
        "error": execution.error,
        "credits_reserved": str(execution.credits_reserved),
        "credits_used": str(execution.credits_used),
        "actor": execution.actor,
        "host": execution.host,
        "pid": execution.pid,
        # Run with --send: correspondence steps deliver, and a resumption does too.
        "send": execution.send,  # None: run before this was recorded
        # For a running execution: False when its process is gone (resume closes it).
        "process_alive": process_alive(execution.host, execution.pid)
        if execution.status == "running"
        else None,
        "created_at": execution.created_at.isoformat(),
        "started_at": execution.started_at.isoformat() if execution.started_at else None,
        "finished_at": execution.finished_at.isoformat() if execution.finished_at else None,
        "duration_ms": duration,
    }


def execution_to_dict(execution: Execution, customer_slug: str | None = None) -> dict[str, Any]:
    """An execution in full, as `executions show` gives it."""
    return {
        **execution_summary(execution, customer_slug),
        "inputs": execution.inputs,
        "outputs": execution.outputs,
        "steps": execution.steps,
    }
