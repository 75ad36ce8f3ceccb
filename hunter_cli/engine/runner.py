"""The sequential runner: one execution of a recipe for a customer, from reserving credits
to capturing what was used, with every phase in the audit trail.

Each step runs in its own transaction together with its step record and audit entry, so a
failed or interrupted step leaves nothing half-written and finished steps are never lost.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, case, func, insert, select, update
from sqlalchemy.orm import Session

from hunter_cli import ledger
from hunter_cli.audit import append_audit, to_plain_json
from hunter_cli.components import estimate_step_credits, get_component
from hunter_cli.components.actions.lead_search import preflight_lead_providers
from hunter_cli.components.ai import require_ai_ready
from hunter_cli.components.base import StepContext, StepError, StepTimeout, TransientStepError
from hunter_cli.config import Settings, check_channel_keys
from hunter_cli.customers import CustomerRef, find_customer, resolve_customer
from hunter_cli.db.engine import Database, run_phase
from hunter_cli.db.models import CreditTransaction, Customer, Execution, table_of
from hunter_cli.db.prepared import Prepared
from hunter_cli.db.types import JSONType, to_credits, utcnow
from hunter_cli.engine.inputs import prepare_inputs
from hunter_cli.engine.recipes import store_recipe_version
from hunter_cli.errors import (
    HunterError,
    InsufficientCreditsError,
    NotFoundError,
    UsageError,
    ValidationError,
)
from hunter_cli.executions import HOST, process_alive, runs_hunter
from hunter_cli.interrupts import CLOSING as _CLOSING
from hunter_cli.interrupts import Stopped
from hunter_cli.recipe import LoadedRecipe, split_step
from hunter_cli.recipe.templates import (
    TemplateError,
    evaluate_condition,
    is_deterministic,
    referenced_names,
    render_value,
)

ZERO = Decimal("0.0000")


@dataclass(frozen=True)
class RunOptions:
    plan_only: bool = False
    no_cache: bool = False
    send: bool = False


@dataclass
class StepResult:
    id: str
    type: str
    status: str  # ok | skipped | failed
    output: Any = None
    error: str | None = None
    attempts: int = 0
    duration_ms: int = 0
    credits: Decimal = ZERO
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "status": self.status,
            "output": self.output,
            "error": self.error,
            "attempts": self.attempts,
            "duration_ms": self.duration_ms,
            "credits": str(self.credits),
            "meta": self.meta,
        }


@dataclass
class RunResult:
    execution_id: uuid.UUID | None
    recipe: str
    recipe_version: int | None
    customer: str
    status: str  # success | partial | failed | interrupted | planned
    steps: list[StepResult]
    outputs: Any
    credits_reserved: Decimal
    credits_used: Decimal
    credits_available: Decimal | None
    warnings: list[str]
    error: str | None = None
    plan: list[dict[str, Any]] | None = None
    # Messages were delivered, not only queued (--send, or the resumed run had it).
    send: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "execution_id": str(self.execution_id) if self.execution_id else None,
            "recipe": self.recipe,
            "recipe_version": self.recipe_version,
            "customer": self.customer,
            "status": self.status,
            "steps": [s.to_dict() for s in self.steps],
            "outputs": self.outputs,
            "credits": {
                "reserved": str(self.credits_reserved),
                "used": str(self.credits_used),
                "available": None
                if self.credits_available is None
                else str(self.credits_available),
            },
            "warnings": self.warnings,
            "error": self.error,
            "send": self.send,
            **({"plan": self.plan} if self.plan is not None else {}),
        }


def skipped_by_inputs(step: dict[str, Any], inputs: dict[str, Any] | None) -> bool:
    """Whether the step's `if` reads nothing but the run's inputs and is false for them: then
    it is certain to be skipped, and is neither held for nor planned as a cost. Inputs never
    change during a run; anything else an `if` may read (steps, state, the customer's
    settings) might, so such a step is held for."""
    condition = step.get("if")
    if condition is None or inputs is None:
        return False
    if isinstance(condition, bool):
        return not condition
    try:
        if not set(referenced_names(str(condition), expression=True)) <= {"inputs"}:
            return False
        # `{{ [true, false] | random }}` reads nothing, yet the run may find it true when
        # the hold found it false: only a condition that always gives the same is decided.
        if not is_deterministic(str(condition), expression=True):
            return False
        return not evaluate_condition(condition, {"inputs": inputs})
    except TemplateError:  # fails at the step, with the usual message
        return False


def max_cost(
    steps: list[dict[str, Any]],
    inputs: dict[str, Any] | None = None,
    known: dict[str, int] | None = None,
) -> Decimal:
    """The most a run can cost: every step's price, as if none were skipped, but for those
    whose `if` the inputs already make false; a step priced per token that calls once per
    item, for as many items as the inputs already give it (see items_known; `known` is its
    answer when the caller has it already)."""
    counts = items_known(steps, inputs) if known is None else known
    return sum(
        (
            estimate_step_credits(step) * counts.get(step["id"], 1)
            for step in steps
            if not skipped_by_inputs(step, inputs)
        ),
        ZERO,
    )


def items_known(steps: list[dict[str, Any]], inputs: dict[str, Any] | None) -> dict[str, int]:
    """For each step priced per token that calls its provider once per item, and whose items
    the inputs alone give (`items: "{{ inputs.things }}"`): how many. Their calls are held
    with the run, so a run that cannot pay for them is refused (exit 4) before anything is
    done, as `--plan` says; items only known later are held as the step starts."""
    counts: dict[str, int] = {}
    for step in steps:
        credits = step.get("credits")
        if not (isinstance(credits, dict) and "per_1k_tokens" in credits):
            continue  # the common case, and cheap: nothing else is looked at
        per_item = getattr(get_component(step["type"]), "per_item_calls", None)
        if per_item is None or per_item not in step:
            continue
        try:
            items = render_value(step[per_item], {"inputs": inputs or {}})
        except TemplateError:
            continue  # it reads what only the run makes
        if isinstance(items, list) and len(items) > 1:
            counts[step["id"]] = len(items)
    return counts


def _customer_context(customer: Customer | CustomerRef) -> dict[str, Any]:
    from hunter_cli.audit import redact

    return {
        "id": str(customer.id),
        "slug": customer.slug,
        "name": customer.name,
        "email": customer.email,
        "settings": redact(customer.settings or {}),
    }


@contextlib.contextmanager
def _alarm(seconds: float | None) -> Iterator[None]:
    """Interrupt a step that overruns its timeout (main thread only; elsewhere components
    still honour ctx.deadline cooperatively)."""
    usable = (
        seconds
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def _on_alarm(_signum, _frame):
        raise StepTimeout(f"timed out after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, _on_alarm)
    assert seconds is not None
    signal.setitimer(signal.ITIMER_REAL, float(seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _retry_policy(controls: dict[str, Any]) -> tuple[int, float, float]:
    retry = controls.get("retry")
    if retry is None:
        return 1, 0.0, 0.0
    if isinstance(retry, int):
        return max(1, retry), 0.5, 30.0
    return (
        max(1, int(retry.get("attempts", 1))),
        float(retry.get("backoff", 0.5)),
        float(retry.get("max_backoff", 30.0)),
    )


# Built once: it runs after every step, and building it costs more than running it.
_EXECUTIONS = table_of(Execution)
# A step's record is appended to the execution's list by the database: rewriting the whole
# list after every step made a long run's bookkeeping grow with the square of its output.
_RECORD = bindparam("record", type_=JSONType())
_STEPS = _EXECUTIONS.c.steps
_STEPS_APPEND = {
    # '$[#]' is one past the end of the array (SQLite 3.31 and later). A list that is not
    # there, or not a list (a row written by something else), is taken as empty: the
    # record must not be lost.
    "sqlite": Prepared(
        update(_EXECUTIONS)
        .where(_EXECUTIONS.c.id == bindparam("eid"))
        .values(
            steps=func.json_insert(
                # The first character, not json_type(), which would parse the whole list.
                case((func.substr(_STEPS, 1, 1) == "[", _STEPS), else_=func.json_array()),
                "$[#]",
                func.json(_RECORD),
            )
        )
    ),
    "postgresql": Prepared(
        update(_EXECUTIONS)
        .where(_EXECUTIONS.c.id == bindparam("eid"))
        .values(
            steps=case(
                (func.jsonb_typeof(_STEPS) == "array", _STEPS), else_=func.jsonb_build_array()
            ).op("||")(func.jsonb_build_array(_RECORD))
        )
    ),
}
_EXECUTION_INSERT = Prepared(
    insert(_EXECUTIONS),
    columns=(
        "id",
        "customer_id",
        "recipe_id",
        "recipe_slug",
        "recipe_version",
        "recipe_hash",
        "status",
        "inputs",
        "steps",
        "warnings",
        "credits_reserved",
        "credits_used",
        "actor",
        "host",
        "pid",
        "send",
        "created_at",
        "started_at",
    ),
)
_EXECUTION_FINISH = Prepared(
    update(_EXECUTIONS)
    .where(_EXECUTIONS.c.id == bindparam("eid"))
    .values(
        {
            name: bindparam(name)
            for name in ("status", "error", "outputs", "credits_used", "warnings", "finished_at")
        }
    )
)


@dataclass(frozen=True)
class _StoredRecipe:
    id: uuid.UUID
    slug: str
    version: int
    content_hash: str


@dataclass
class _Run:
    """What one execution carries from step to step. Its session lives as long as the run
    (a new Session and pool checkout per phase cost about 0.1 ms each, five or more times a
    run); each phase is still its own transaction, `with run_phase(session)`, committed as it
    ends, and what it loaded expires then (see Database.run_session)."""

    session: Session
    execution_id: uuid.UUID
    customer_id: uuid.UUID
    customer_slug: str
    recipe_version: int | None
    context: dict[str, Any]
    capture_key: str
    reserved_total: Decimal
    results: list[StepResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # A resumed execution: how many results were kept from before, and what they cost.
    kept: int = 0
    used_before: Decimal = ZERO
    send: bool = False  # correspondence steps deliver (recorded on the execution)
    # Steps whose calls per item the run's hold already covers (see items_known).
    preheld: dict[str, int] = field(default_factory=dict)


class Runner:
    """Runs one loaded recipe. `progress` is called with (step_id, status) for people."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        progress: Callable[[str, str], None] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.progress = progress or (lambda _step, _status: None)
        self._recipes: dict[tuple[str, str], _StoredRecipe] = {}
        self._steps: dict[int, tuple[dict[str, Any], dict[str, Any], dict[str, Any], Decimal]] = {}

    # -- the whole run ----------------------------------------------------------------------
    def run(
        self,
        loaded: LoadedRecipe,
        customer_ref: str | None,
        given: dict[str, Any],
        options: RunOptions = RunOptions(),
    ) -> RunResult:
        recipe = loaded.data
        inputs = prepare_inputs(recipe.get("inputs"), given)
        steps: list[dict[str, Any]] = recipe["steps"]
        known = items_known(steps, inputs)  # held with the run (see _hold_per_item)
        reserve = max_cost(steps, inputs, known)
        if options.plan_only:
            return self._plan(loaded, customer_ref, inputs, reserve, options, known)

        # A configured AI provider without its key stops here: before any hold or record.
        require_ai_ready(steps, self.settings)
        preflight_lead_providers(steps, inputs, self.settings)
        _check_channels(steps, self.settings)
        # One session for the whole run, one transaction per phase (see _Run.session).
        with self.db.run_session() as session:
            run = self._start(session, loaded, customer_ref, inputs, reserve, send=options.send)
            run.preheld = known
            # Delivering because of `send = true` for the customer is delivering too.
            return self._execute(run, recipe, steps, replace(options, send=run.send))

    def resume(
        self, execution_ref: str, options: RunOptions = RunOptions(), *, force: bool = False
    ) -> RunResult:
        """Continue a failed or interrupted execution in place, from its first unfinished
        step. Finished steps are kept: not run again, not charged again. The rest run under a
        new hold. The execution id stays the same, so a correspondence step finds what it
        already queued or sent by its message key and does not send it twice.

        An execution still marked running whose process is gone (killed, crashed, rebooted)
        is first closed as interrupted: what its finished steps used is captured and the
        rest of its hold released. One whose process is alive is refused; one run on another
        host, where that cannot be checked, only with `force`.

        A run started with --send resumes delivering, with or without `options.send`: its
        messages still queued are the ones it was asked to deliver."""
        with self.db.run_session() as session:
            run, recipe, remaining = self._restart(
                session, execution_ref, force=force, send=options.send
            )
            return self._execute(run, recipe, remaining, replace(options, send=run.send))

    def close(self, execution_ref: str, *, force: bool = False) -> dict[str, Any]:
        """Close the books of a run whose process died, without running the rest: what its
        finished steps used is captured, the rest of its hold released, and it is marked
        interrupted (so it can still be resumed). For a cron job that will run the recipe
        again anyway and only wants the credits back. Returns the execution as a dict."""
        from hunter_cli.executions import execution_to_dict, get_execution

        with self.db.run_session() as session, run_phase(session):
            execution = get_execution(session, execution_ref)
            session.refresh(execution, with_for_update=True)  # against a resume at once
            if execution.status != "running":
                raise UsageError(
                    f"execution {execution.id} is {execution.status}: only a run still "
                    "marked running (its process died) has books to close"
                )
            self._close_abandoned(session, execution, force=force, verb="close")
            customer = session.get(Customer, execution.customer_id)
            return execution_to_dict(execution, customer.slug if customer else None)

    def _execute(
        self,
        run: _Run,
        recipe: dict[str, Any],
        steps: list[dict[str, Any]],
        options: RunOptions,
    ) -> RunResult:
        """Run `steps` in order, then capture what they used and release the rest."""
        # A kept step that failed with on_error: continue still makes the run partial.
        status = "partial" if any(r.status == "failed" for r in run.results) else "success"
        error: str | None = None
        during = ""  # the step a stop cut short, named in the run's error
        try:
            for step in steps:
                during = f" during step '{step['id']}'"
                self.progress(step["id"], "running")  # people see the step being worked on
                result = self._run_step(step, run, options)
                run.context["steps"][step["id"]] = {
                    "output": result.output,
                    "status": result.status,
                    "error": result.error,
                }
                self.progress(step["id"], result.status)
                if result.status == "failed":
                    if step.get("on_error", "fail") == "continue":
                        status = "partial"
                    else:
                        status = "failed"
                        error = f"step '{step['id']}' failed: {result.error}"
                        break
            during = ""
        except Stopped:
            status, error = "interrupted", f"stopped by SIGTERM{during}"
        except KeyboardInterrupt:
            status, error = "interrupted", f"interrupted by the user (Ctrl-C){during}"
        finally:
            _CLOSING.set()  # from here a SIGTERM waits until the books are closed
        if status == "interrupted" and options.send:
            # The step cut short has no record: say what it had delivered so far.
            said = self._messages_so_far(run)
            if said:
                run.warnings.append(said)
        # A run that was to deliver messages and left some undelivered is partial too: a
        # script reading exit 0 would take the outreach for done.
        undelivered = [r for r in run.results if r.status == "ok" and r.meta.get("undelivered")]
        if status == "success" and undelivered:
            status = "partial"
        if status == "partial":  # said as a failed run says it, for each step that failed
            error = "; ".join(
                [f"step '{r.id}' failed: {r.error}" for r in run.results if r.status == "failed"]
                + [f"step '{r.id}': {r.meta['undelivered']}" for r in undelivered]
            )
        try:
            outputs = None
            if status in ("success", "partial"):
                outputs = self._outputs(recipe.get("outputs") or {}, run)
            # What this run (or this resumption) used; kept steps were paid for before.
            used = sum((r.credits for r in run.results[run.kept :]), ZERO)
            available, used = self._finish(run, status, error, outputs, used)
        finally:
            _CLOSING.clear()
        return RunResult(
            run.execution_id,
            recipe["slug"],
            run.recipe_version,
            run.customer_slug,
            status,
            run.results,
            outputs,
            run.reserved_total,
            run.used_before + used,
            available,
            run.warnings,
            error,
            send=options.send,
        )

    def _start(
        self,
        session: Session,
        loaded: LoadedRecipe,
        customer_ref: str | None,
        inputs: dict[str, Any],
        reserve: Decimal,
        *,
        send: bool = False,
    ) -> _Run:
        """Create the execution and hold the credits, in one transaction: a run that cannot
        pay leaves no execution behind, only an audit entry saying it was refused."""
        from hunter_cli.config import send_requested

        recipe = loaded.data
        actor = self.settings.actor
        execution_id = uuid.uuid4()
        try:
            with run_phase(session):
                customer = find_customer(session, customer_ref)
                # What the run will do, recorded as such: --send, or `send = true` for the
                # customer in hunter.toml (its correspondence steps deliver either way).
                send = send_requested(self.settings, customer.slug, send)
                stored = self._recipe_version(session, loaded)
                # The balance's row lock before the audit's append lock, in the order a
                # capture takes them: two processes taking them in opposite orders deadlock.
                balance = ledger.lock_active_balance(session, customer)
                if reserve > ledger.MAX_CREDITS:  # more than any balance can hold (or store)
                    raise InsufficientCreditsError(
                        f"insufficient credits: this run can cost {reserve}, more than any "
                        f"balance holds ({ledger.MAX_CREDITS})",
                        details={
                            "needed": str(reserve),
                            "available": str(balance.credits_available),
                        },
                    )
                now = utcnow()
                plain_inputs = to_plain_json(inputs)
                _EXECUTION_INSERT.execute(
                    session,
                    {
                        "id": execution_id,
                        "customer_id": customer.id,
                        "recipe_id": stored.id,
                        "recipe_slug": stored.slug,
                        "recipe_version": stored.version,
                        "recipe_hash": stored.content_hash,
                        "status": "running",
                        "inputs": plain_inputs,
                        "steps": [],
                        "warnings": [],
                        "credits_reserved": reserve,
                        "credits_used": ZERO,
                        "actor": actor,
                        "host": HOST,
                        "pid": os.getpid(),
                        "send": send,
                        "created_at": now,
                        "started_at": now,
                    },
                )
                append_audit(
                    session,
                    "execution.start",
                    actor=actor,
                    customer_id=customer.id,
                    execution_id=execution_id,
                    details={
                        "recipe": stored.slug,
                        "version": stored.version,
                        "content_hash": stored.content_hash,
                        "inputs": plain_inputs,
                        "max_cost": str(reserve),
                        **({"send": True} if send else {}),
                    },
                )
                ledger.reserve_credits(
                    session,
                    customer,
                    reserve,
                    execution_id=execution_id,
                    actor=actor,
                    idempotency_key=f"exec:{execution_id}:reserve",
                    reason=f"hold for {stored.slug} v{stored.version}",
                    locked=balance,
                    new_key=True,  # the execution was inserted just above
                )
                context = {
                    "inputs": inputs,
                    "steps": {},
                    "state": {},
                    "customer": _customer_context(customer),
                    "execution": {
                        "id": str(execution_id),
                        "recipe": stored.slug,
                        "version": stored.version,
                    },
                }
                return _Run(
                    session,
                    execution_id,
                    customer.id,
                    customer.slug,
                    stored.version,
                    context,
                    capture_key=f"exec:{execution_id}:capture",
                    reserved_total=reserve,
                    send=send,
                )
        except InsufficientCreditsError as refused:
            with run_phase(session):
                customer = find_customer(session, customer_ref)
                append_audit(
                    session,
                    "execution.refused",
                    actor=actor,
                    customer_id=customer.id,
                    details={
                        "recipe": recipe["slug"],
                        "reason": refused.message,
                        "max_cost": str(reserve),
                    },
                )
            raise

    def _restart(
        self, session: Session, execution_ref: str, *, force: bool = False, send: bool = False
    ) -> tuple[_Run, dict[str, Any], list[dict[str, Any]]]:
        """Set a failed or interrupted execution running again, in one transaction: the
        recipe as it was run, the steps still to do, a hold for them, and the context the
        finished steps left (their outputs and the shared state). It delivers if it was
        run with --send before or `send` asks now (and then records that it does)."""
        from hunter_cli.executions import get_execution

        actor = self.settings.actor
        with run_phase(session):
            execution = get_execution(session, execution_ref)
            # Locked: two resumptions of one execution must not both start.
            session.refresh(execution, with_for_update=True)
            if execution.status == "running":
                self._close_abandoned(session, execution, force=force)
            if execution.status not in RESUMABLE:
                raise UsageError(
                    f"execution {execution.id} is {execution.status}: only failed or "
                    "interrupted executions can be resumed"
                )
            loaded = _stored_recipe(session, execution)
            recipe = loaded.data
            steps: list[dict[str, Any]] = recipe["steps"]
            records = {r["id"]: r for r in execution.steps or [] if isinstance(r, dict)}
            start = next(
                (i for i, step in enumerate(steps) if _unfinished(records.get(step["id"]), step)),
                None,
            )
            if start is None:
                raise UsageError(
                    f"every step of execution {execution.id} has finished: nothing to resume"
                )
            kept = [_result_from_record(records[step["id"]]) for step in steps[:start]]
            remaining = steps[start:]
            inputs = dict(execution.inputs or {})
            # As for a new run: a missing key stops here, before anything is held.
            require_ai_ready(remaining, self.settings)
            preflight_lead_providers(remaining, inputs, self.settings)
            _check_channels(remaining, self.settings)
            customer = session.get(Customer, execution.customer_id)
            assert customer is not None
            known = items_known(remaining, inputs)
            reserve = max_cost(remaining, inputs, known)
            rounds = session.scalar(_RESERVE_COUNT, {"eid": execution.id}) or 0
            ledger.reserve_credits(
                session,
                customer,
                reserve,
                execution_id=execution.id,
                actor=actor,
                idempotency_key=f"exec:{execution.id}:resume{rounds}:reserve",
                reason=f"hold for resuming {execution.recipe_slug} v{execution.recipe_version}",
            )
            execution.status = "running"
            execution.error = None
            execution.finished_at = None
            from hunter_cli.config import send_requested

            # This resumption delivers with --send, or with `send = true` for the customer.
            send = send_requested(self.settings, customer.slug, send)
            # None: run before hunter recorded --send (migration 0007): it may have been one.
            send_unknown = execution.send is None and not send
            send = execution.send = bool(execution.send or send)
            # The kept steps' records; the steps still to do append theirs as they finish.
            execution.steps = [records[step["id"]] for step in steps[:start]]
            # This process runs it now: another resume must find it alive, not abandoned.
            execution.host, execution.pid = HOST, os.getpid()
            execution.credits_reserved = execution.credits_reserved + reserve
            append_audit(
                session,
                "execution.resume",
                actor=actor,
                customer_id=customer.id,
                execution_id=execution.id,
                details={
                    "recipe": execution.recipe_slug,
                    "version": execution.recipe_version,
                    "from_step": remaining[0]["id"],
                    "kept_steps": [r.id for r in kept],
                    "max_cost": str(reserve),
                    **({"send": True} if send else {}),
                },
            )
            context = {
                "inputs": inputs,
                "steps": {
                    r.id: {"output": r.output, "status": r.status, "error": r.error} for r in kept
                },
                "state": _state_left_by(kept),
                "customer": _customer_context(customer),
                "execution": {
                    "id": str(execution.id),
                    "recipe": execution.recipe_slug,
                    "version": execution.recipe_version,
                },
            }
            run = _Run(
                session,
                execution.id,
                customer.id,
                customer.slug,
                execution.recipe_version,
                context,
                capture_key=f"exec:{execution.id}:resume{rounds}:capture",
                reserved_total=execution.credits_reserved,
                results=kept,
                # Not what a stop said of its messages: the resumption delivers them now.
                warnings=[
                    w for w in execution.warnings or [] if not w.startswith(_STOPPED_MESSAGES)
                ],
                kept=len(kept),
                used_before=execution.credits_used,
                send=send,
                preheld=known,
            )
            if send_unknown:
                run.warnings.append(
                    f"execution {str(execution.id)[:8]} was started before hunter recorded "
                    "whether a run delivers (--send): it resumes queuing messages. If it was "
                    "run with --send, resume it with --send to deliver them."
                )
        return run, recipe, remaining

    def _close_abandoned(
        self, session: Session, execution: Execution, *, force: bool, verb: str = "resume"
    ) -> None:
        """Close the books of a run whose process died, as Ctrl-C would have: capture what
        its recorded steps used (each record committed with its step's work), release the
        rest of the hold, and mark it interrupted."""
        alive = process_alive(execution.host, execution.pid)
        where = f"process {execution.pid or '?'} on {execution.host or 'an unknown host'}"
        if alive and not force:
            raise UsageError(
                f"execution {execution.id} is still running ({where}): {verb} it once that "
                "process has stopped (--force if you are sure it has, and the id was reused)"
            )
        if alive and force and runs_hunter(execution.pid):
            # Not a reused id: the run is under way, and resuming it would run its steps twice.
            raise UsageError(
                f"execution {execution.id} is still running ({where}, a hunter process): "
                f"--force cannot {verb} a run under way; wait for it, or stop it (kill "
                f"{execution.pid}: it closes the run as interrupted)"
            )
        if alive is None and not force:
            raise UsageError(
                f"execution {execution.id} is marked running by {where}, which cannot be "
                f"checked from here; if that process has stopped, {verb} with --force"
            )
        try:
            _, held = ledger.outstanding_hold(session, execution.id)
        except NotFoundError:  # it never got as far as holding anything
            held = ZERO
        recorded = sum((to_credits(r.get("credits") or 0) for r in execution.steps or []), ZERO)
        used = min(max(recorded - execution.credits_used, ZERO), held)
        if held > 0:
            rounds = session.scalar(_RESERVE_COUNT, {"eid": execution.id}) or 0
            ledger.capture_credits(
                session,
                execution.id,
                used,
                actor=self.settings.actor,
                idempotency_key=f"exec:{execution.id}:abandoned{rounds}:capture",
            )
            execution.credits_used = execution.credits_used + used
        error = f"{where} stopped before the run finished"
        execution.status = "interrupted"
        execution.error = error
        execution.finished_at = utcnow()
        append_audit(
            session,
            "execution.interrupted",
            actor=self.settings.actor,
            customer_id=execution.customer_id,
            execution_id=execution.id,
            details={
                "status": "interrupted",
                "error": error,
                "credits_used": str(execution.credits_used),
                "forced": force,
            },
        )

    def _recipe_version(self, session, loaded: LoadedRecipe) -> _StoredRecipe:
        """The stored version of this exact content; remembered, since a batch of runs
        of one recipe would otherwise look it up every time."""
        recipe = loaded.data
        key = (recipe["slug"], loaded.content_hash)
        if key not in self._recipes:
            stored, _ = store_recipe_version(
                session,
                slug=recipe["slug"],
                name=recipe.get("name", recipe["slug"]),
                description=recipe.get("description"),
                content=loaded.text,
                content_hash=loaded.content_hash,
                source_path=loaded.source,
            )
            self._recipes[key] = _StoredRecipe(
                stored.id, stored.slug, stored.version, stored.content_hash
            )
        return self._recipes[key]

    @staticmethod
    def _outputs(declared: dict[str, Any], run: _Run) -> dict[str, Any]:
        """The run's outputs, each rendered on its own: one that cannot be rendered is null,
        with a warning naming it, and the others are still returned."""
        outputs: dict[str, Any] = {}
        for name, template in declared.items():
            try:
                outputs[name] = to_plain_json(render_value(template, run.context))
            except TemplateError as exc:
                outputs[name] = None
                run.warnings.append(f"output '{name}' could not be rendered: {exc.message}")
        return outputs

    def _finish(
        self, run: _Run, status: str, error: str | None, outputs: Any, used: Decimal
    ) -> tuple[Decimal, Decimal]:
        """Capture what the run used and release the rest, and record how it ended; returns
        the credits available after it, and what was charged."""
        # A second Ctrl-C here must not leave the hold in place: finish first.
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
        try:
            session = run.session
            with run_phase(session):
                capture_credits = functools.partial(
                    ledger.capture_credits,
                    session,
                    run.execution_id,
                    actor=self.settings.actor,
                    idempotency_key=run.capture_key,
                )
                try:
                    capture, release = capture_credits(used)
                except ledger.HoldExceeded as exceeded:
                    # A bug, if it ever happens: the books still close (else the run stays
                    # `running` with its hold), and never for more than was held.
                    used = exceeded.held
                    run.warnings.append(
                        f"this run used {exceeded.wanted} credits but held only "
                        f"{exceeded.held}; {exceeded.held} were charged (a bug in hunter: "
                        "please report it)"
                    )
                    capture, release = capture_credits(used)
                _EXECUTION_FINISH.execute(
                    session,
                    {
                        "eid": run.execution_id,
                        "status": status,
                        "error": error,
                        "outputs": outputs,
                        "credits_used": run.used_before + used,
                        "warnings": list(run.warnings),
                        "finished_at": utcnow(),
                    },
                )
                append_audit(
                    session,
                    f"execution.{status}",
                    actor=self.settings.actor,
                    customer_id=run.customer_id,
                    execution_id=run.execution_id,
                    details={
                        "status": status,
                        "error": error,
                        "credits_used": str(run.used_before + used),
                        "steps": {r.id: r.status for r in run.results},
                    },
                )
                last = release or capture
                if last is not None:
                    return last.balance_after, used
                customer = session.get(Customer, run.customer_id)
                assert customer is not None
                return ledger.active_subscription(session, customer).credits_available, used
        finally:
            if in_main and previous is not None:  # None: not set from Python, none to restore
                signal.signal(signal.SIGINT, previous)

    # -- one step ---------------------------------------------------------------------------
    def _step_parts(self, step: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], Decimal]:
        """A step's controls, parameters and price, worked out once per loaded step: a batch
        of runs of one recipe would otherwise split and price every step on every run. The
        step itself is kept with them, so its id cannot be reused while it is cached."""
        cached = self._steps.get(id(step))
        if cached is None or cached[0] is not step:
            controls, params = split_step(step)
            cached = self._steps[id(step)] = (step, controls, params, estimate_step_credits(step))
        return cached[1], cached[2], cached[3]

    def _run_step(self, step: dict[str, Any], run: _Run, options: RunOptions) -> StepResult:
        controls, params, price = self._step_parts(step)
        step_id, step_type = step["id"], step["type"]
        component = get_component(step_type)
        started = time.monotonic()
        result = StepResult(step_id, step_type, "ok")
        context = run.context

        condition = controls.get("if")
        if condition is not None:
            try:
                should_run = evaluate_condition(condition, context)
            except TemplateError as exc:
                return self._record_failure(result, run, started, f"if: {exc.message}")
            if not should_run:
                result.status = "skipped"
                with run_phase(run.session):
                    self._record(result, run, started, run.session)
                run.results.append(result)
                return result

        cap = price  # the most its work is charged: what is held for it
        per_item = getattr(component, "per_item_calls", None)
        if per_item in params and _per_token(controls):
            try:
                cap = self._hold_per_item(step_id, params[per_item], price, run)
            except TemplateError:
                pass  # the attempt renders it again and fails with the usual message
            except InsufficientCreditsError as exc:
                message = f"cannot hold one call's worth of credits per item: {exc.message}"
                return self._record_failure(result, run, started, message)

        attempts, backoff, max_backoff = _retry_policy(controls)
        timeout = controls.get("timeout")
        last_error = "unknown error"
        paid = ZERO
        memo: dict[str, Any] = {}  # the step's, across its attempts (StepContext.memo)
        for attempt in range(1, attempts + 1):
            result.attempts = attempt
            ctx = None
            try:
                session = run.session
                with run_phase(session), _alarm(timeout):
                    lazy = component.lazy_params
                    rendered = {
                        k: (v if k in lazy else render_value(v, context)) for k, v in params.items()
                    }
                    ctx = StepContext(
                        session=session,
                        settings=self.settings,
                        customer_id=run.customer_id,
                        execution_id=run.execution_id,
                        step_id=step_id,
                        actor=self.settings.actor,
                        template_context=context,
                        render_fn=render_value,
                        evaluate_fn=_evaluate,
                        no_cache=options.no_cache,
                        deadline=(time.monotonic() + timeout) if timeout else None,
                        output_schema=controls.get("output_schema"),
                        progress_fn=self._item_progress(step_id),
                        memo=memo,
                    )
                    if options.send:
                        ctx.meta["send"] = True  # correspondence delivers instead of queuing
                    output = to_plain_json(component.run(rendered, ctx))
                    if "output_schema" in controls:
                        try:
                            _check_output(output, controls["output_schema"])
                        except _OutputMismatch as exc:
                            # Kept on the failed step's record: what did not match is what
                            # the author needs to see.
                            result.meta = {"rejected_output": output}
                            raise StepError(
                                f"{exc.message}; the output is kept: hunter executions show "
                                f"{str(run.execution_id)[:8]} --step {step_id}"
                            ) from None
                    result.output = output
                    result.meta = to_plain_json(ctx.meta)
                    # Work paid for by failed transient attempts is charged too.
                    result.credits = _step_cost(controls, ctx, cap) + paid
                    if ctx.warnings:  # on the step's record too: `executions show --step`
                        result.meta["warnings"] = list(ctx.warnings)
                    for warning in ctx.warnings:
                        if warning not in run.warnings:
                            run.warnings.append(warning)
                    self._record(result, run, started, session)
                run.results.append(result)  # only once its transaction has committed
                return result
            except TransientStepError as exc:
                self._keep_after_failure(ctx, run)
                last_error = exc.message
                paid = min(cap, paid + _attempt_cost(controls, ctx, exc, cap))
                _keep_meta(result, ctx)
                if attempt < attempts:
                    # A server's Retry-After wins over our own backoff; one asking for longer
                    # than max_backoff would only be refused again sooner: stop asking.
                    wait = getattr(exc, "retry_after", None)
                    if wait is not None and float(wait) > max_backoff:
                        from hunter_cli.providers.retry_after import describe_wait

                        last_error += (
                            f"; the server asks to wait {describe_wait(float(wait))}, more than "
                            f"this step's max_backoff ({max_backoff:g} s), so it was not asked "
                            "again"
                        )
                        break
                    if wait is None:
                        wait = backoff * (2 ** (attempt - 1))
                    time.sleep(min(max_backoff, float(wait)))
                    continue
            except StepError as exc:
                self._keep_after_failure(ctx, run)
                last_error = exc.message
                paid = min(cap, paid + _attempt_cost(controls, ctx, exc, cap))
                _keep_meta(result, ctx)
                break
            except (TemplateError, HunterError) as exc:
                self._keep_after_failure(ctx, run)
                last_error = exc.message
                break
            except KeyboardInterrupt:
                # Ctrl-C or SIGTERM mid-step: its transaction rolled back, but what it paid
                # for (the AI answers of 1,000 items) is kept, so a resume does not pay again.
                self._keep_after_failure(ctx, run)
                raise
            except Exception as exc:  # a bug in a component: fail the step, keep the books
                import traceback

                from hunter_cli.text_hygiene import refused_character

                refused = refused_character(exc)
                if refused is not None:  # bad data that got past the checks, not a bug
                    self._keep_after_failure(ctx, run)
                    last_error = f"the step's data holds {refused}, which the database refuses"
                    break
                last_error = (
                    f"internal error in step (a bug, please report): {type(exc).__name__}: {exc}"
                )
                result.meta = {"traceback": traceback.format_exc(limit=8)}
                break
        result.credits = paid
        return self._record_failure(result, run, started, last_error)

    def _messages_so_far(self, run: _Run) -> str | None:
        """After a stop during a delivering run: how many of its messages were sent, are of
        unknown outcome or still queued, in words (None when it has none, or cannot tell)."""
        from hunter_cli.db.models import OutboxMessage

        try:
            with run_phase(run.session):
                counts = dict(
                    run.session.execute(
                        select(OutboxMessage.status, func.count())
                        .where(OutboxMessage.execution_id == run.execution_id)
                        .group_by(OutboxMessage.status)
                    ).all()
                )
        except Exception:  # noqa: BLE001 (a second stop, a lost connection: the run closes)
            return None
        if not counts:
            return None
        words = {"sent": "sent", "sending": "of unknown outcome", "queued": "still queued"}
        told = ", ".join(f"{counts[s]} {w}" for s, w in words.items() if counts.get(s))
        return (
            f"{_STOPPED_MESSAGES}: {told or 'none sent'} "
            f"(`hunter outbox list --execution {str(run.execution_id)[:8]}`)"
        )

    def _item_progress(self, step_id: str) -> Callable[[int, int], None]:
        """(done, total) from a step over items, passed on as the step's status at most ten
        times a second ("running 1018/3000"): a status line, not a log."""
        last = [0.0]

        def report(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.1 or done == total:
                last[0] = now
                self.progress(step_id, f"running {done}/{total}")

        return report

    @staticmethod
    def _keep_after_failure(ctx: StepContext | None, run: _Run) -> None:
        """What a failed attempt asked to keep (ctx.keep_on_failure), in a transaction of its
        own now that the attempt's has rolled back. Best effort: the step has failed already,
        and not keeping a cache entry only costs a repeated request."""
        if ctx is None or not ctx.keep_on_failure:
            return
        try:
            with run_phase(run.session):
                for keep in ctx.keep_on_failure:
                    keep(run.session)
        except Exception:  # noqa: BLE001 (see above)
            pass

    def _hold_per_item(self, step_id: str, items: Any, price: Decimal, run: _Run) -> Decimal:
        """A step priced per token that calls its provider once per item: the run's hold has
        one call's worth (max_tokens) for it; hold the same again for every further item,
        in a transaction of its own before any call (a step that cannot be paid for fails
        here, having cost nothing). Returns what the step may be charged at most."""
        rendered = render_value(items, run.context)
        count = len(rendered) if isinstance(rendered, list) else 1  # not a list: the step says
        held = run.preheld.get(step_id, 1)  # calls the run's hold already covers
        if count <= held or price <= 0:
            return price * max(count, 1)
        extra = price * (count - held)
        with run_phase(run.session):
            ledger.extend_hold(
                run.session,
                run.execution_id,
                extra,
                actor=self.settings.actor,
                key_prefix=f"exec:{run.execution_id}:{step_id}:items",
                reason=f"step {step_id}: {count} items at {price} each",
            )
        run.reserved_total += extra
        return price * count

    def _record_failure(
        self, result: StepResult, run: _Run, started: float, message: str
    ) -> StepResult:
        result.status, result.error, result.output = "failed", message, None
        with run_phase(run.session):
            self._record(result, run, started, run.session)
        run.results.append(result)
        return result

    def _record(self, result: StepResult, run: _Run, started: float, session) -> None:
        """The step's record and audit entry, in the transaction of the step's own work."""
        result.duration_ms = int((time.monotonic() - started) * 1000)
        append = _STEPS_APPEND[session.get_bind().dialect.name]
        append.execute(session, {"eid": run.execution_id, "record": result.to_dict()})
        append_audit(
            session,
            f"step.{result.status}",
            actor=self.settings.actor,
            customer_id=run.customer_id,
            execution_id=run.execution_id,
            details={
                "step": result.id,
                "type": result.type,
                "attempts": result.attempts,
                "credits": str(result.credits),
                "error": result.error,
            },
        )

    # -- --plan -----------------------------------------------------------------------------
    def _plan(
        self,
        loaded: LoadedRecipe,
        customer_ref: str | None,
        inputs: dict[str, Any],
        reserve: Decimal,
        options: RunOptions,
        known: dict[str, int],  # steps whose items are in `reserve` already (items_known)
    ) -> RunResult:
        recipe = loaded.data
        plan: list[dict[str, Any]] = []
        warnings: list[str] = []  # what the plan can tell will fail the run
        with self.db.sessions() as session:
            customer = resolve_customer(session, customer_ref)
            sub = ledger.active_subscription(session, customer)
            # As the run would: a period that has ended is renewed first (rolled back below).
            ledger.renew_if_due(session, sub, actor=self.settings.actor)
            available = sub.credits_available
            context = {
                "inputs": inputs,
                "steps": {},
                "state": {},
                "customer": _customer_context(customer),
                "execution": {"id": None, "recipe": recipe["slug"], "version": None},
            }
            for step in recipe["steps"]:
                controls, params = split_step(step)
                component = get_component(step["type"])
                entry: dict[str, Any] = {
                    "id": step["id"],
                    "type": step["type"],
                    "credits": str(estimate_step_credits(step)),
                }
                if "if" in controls:
                    entry["if"] = controls["if"]
                    if skipped_by_inputs(step, inputs):
                        entry["skipped"] = True  # false for these inputs: not held, costs 0
                        entry["credits"] = str(ZERO)
                rendered = {}
                for key, value in params.items():
                    try:
                        rendered[key] = (
                            value if key in component.lazy_params else render_value(value, context)
                        )
                    except TemplateError as exc:
                        rendered[key] = value  # depends on an earlier step's output, or wrong
                        if not entry.get("skipped") and _known_before_run(value):
                            # Reads only what the plan has (inputs, customer): the run fails
                            # the same way, after charging the steps before it.
                            warnings.append(
                                f"step {step['id']}: {key}: {exc.message} (a real run would fail)"
                            )
                per_item = getattr(component, "per_item_calls", None)
                if per_item in params and _per_token(controls) and not entry.get("skipped"):
                    # Held per item as the step starts (see _hold_per_item).
                    price = estimate_step_credits(step)
                    items = rendered[per_item]
                    if not isinstance(items, list):  # known only when the step starts
                        entry["credits_per_item"] = str(price)
                    elif len(items) > 1:
                        entry["credits"] = str(price * len(items))
                        if step["id"] not in known:  # not in the run's hold (max_cost)
                            reserve += price * (len(items) - 1)
                ctx = StepContext(
                    session=session,
                    settings=self.settings,
                    customer_id=customer.id,
                    execution_id=uuid.UUID(int=0),
                    step_id=step["id"],
                    actor=self.settings.actor,
                    template_context=context,
                    render_fn=render_value,
                    evaluate_fn=_evaluate,
                    plan_only=True,
                )
                if options.send:
                    ctx.meta["send"] = True  # so the plan says what would really be sent
                # What the run would hold for itself before any step: check_balance sees the
                # balance after it, as in the run.
                ctx.meta["held_by_run"] = reserve
                entry.update(component.plan(rendered, ctx))
                if entry.get("problem") and not entry.get("skipped"):
                    warnings.append(
                        f"step {step['id']}: {entry['problem']} (a real run would fail)"
                    )
                # As the request and body are shown: what the recipe wrote, secrets hidden.
                from hunter_cli.components.actions.request_display import hide_secrets

                entry["params"] = hide_secrets(to_plain_json(rendered))
                plan.append(entry)
            customer_slug = customer.slug
            session.rollback()
        return RunResult(
            None,
            recipe["slug"],
            None,
            customer_slug,
            "planned",
            [],
            None,
            reserve,
            ZERO,
            available,
            warnings,
            None,
            plan,
            send=options.send,
        )


RESUMABLE = ("failed", "interrupted")
# How a stopped delivering run's warning about its messages begins (see _messages_so_far).
_STOPPED_MESSAGES = "messages of this run when it stopped"


_RESERVE_COUNT = (
    select(func.count())
    .select_from(table_of(CreditTransaction))
    .where(
        table_of(CreditTransaction).c.execution_id == bindparam("eid"),
        table_of(CreditTransaction).c.kind == "reserve",
    )
)


def _stored_recipe(session: Session, execution: Execution) -> LoadedRecipe:
    """The recipe exactly as this execution ran it (not today's file). It was validated
    when the run started; a step it names that no longer exists fails when it is reached."""
    from hunter_cli.db.models import Recipe
    from hunter_cli.recipe import RecipeInvalid, load_recipe_text

    stored = session.get(Recipe, execution.recipe_id) if execution.recipe_id else None
    if stored is None:
        raise NotFoundError(f"the recipe execution {execution.id} ran is no longer stored")
    source = f"{stored.slug} v{stored.version} (as run)"
    try:
        return load_recipe_text(stored.content, source)
    except RecipeInvalid as invalid:
        lines = [str(p) for p in invalid.problems]
        raise ValidationError(
            f"recipe {source} cannot be read:\n  " + "\n  ".join(lines),
            details={"problems": lines},
        ) from None


def _unfinished(record: dict[str, Any] | None, step: dict[str, Any]) -> bool:
    """Where a resumption starts: a step never recorded, or the one whose failure stopped
    the run (a failure with on_error: continue did not stop it, so it is kept)."""
    if record is None:
        return True
    return record.get("status") == "failed" and step.get("on_error", "fail") != "continue"


def _result_from_record(record: dict[str, Any]) -> StepResult:
    return StepResult(
        id=record["id"],
        type=record.get("type", ""),
        status=record.get("status", "ok"),
        output=record.get("output"),
        error=record.get("error"),
        attempts=int(record.get("attempts") or 0),
        duration_ms=int(record.get("duration_ms") or 0),
        credits=to_credits(record.get("credits") or 0),
        meta=record.get("meta") or {},
    )


def _state_left_by(kept: list[StepResult]) -> dict[str, Any]:
    """The shared state as the kept steps left it: a state step's output is the whole state."""
    for result in reversed(kept):
        if result.type == "state" and result.status == "ok" and isinstance(result.output, dict):
            return dict(result.output)
    return {}


def _check_channels(steps: list[dict[str, Any]], settings: Settings) -> None:
    """A misspelt key in a [channels.NAME] table stops a run that sends messages before it
    holds anything, not at its correspondence step (see config.check_channel_keys)."""
    if any(step.get("type") == "correspondence" for step in steps):
        check_channel_keys(settings)


def _per_token(controls: dict[str, Any]) -> bool:
    credits = controls.get("credits")
    return isinstance(credits, dict) and "per_1k_tokens" in credits


def _step_cost(controls: dict[str, Any], ctx: StepContext, price: Decimal) -> Decimal:
    """What a finished step is charged: its price, or its tokens at a per-token price (never
    more than was held for it), or what the component reported."""
    if ctx.credits_used is not None:
        return to_credits(ctx.credits_used)
    credits = controls.get("credits")
    if isinstance(credits, dict) and "per_1k_tokens" in credits:
        tokens = int(ctx.meta.get("usage", {}).get("total_tokens", 0))
        rate = Decimal(str(credits["per_1k_tokens"]))  # to 8 places: rounded once, at the end
        return min(price, to_credits(rate * tokens / 1000))
    return price


def _known_before_run(value: Any) -> bool:
    """True for a template that reads nothing only the run makes (steps, state, item): its
    value, or its error, is the same in a plan as in the run."""
    from hunter_cli.recipe.templates import is_template, referenced_names

    def templates(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [t for v in node.values() for t in templates(v)]
        if isinstance(node, list):
            return [t for v in node for t in templates(v)]
        return [node] if is_template(node) else []

    found = templates(value)
    try:
        names = {name for t in found for name in referenced_names(t)}
    except TemplateError:
        return False
    return bool(found) and not names & {"steps", "state", "item", "index"}


def _attempt_cost(
    controls: dict[str, Any], ctx: StepContext | None, exc: StepError, cap: Decimal
) -> Decimal:
    """What a failed attempt is charged: what its component says it spent, or, for a step
    priced per token, the tokens its calls used (the answers were paid for, even when they
    did not pass the step's checks). Anything else that failed is not charged."""
    if exc.credits_used is not None:
        return to_credits(exc.credits_used)
    if ctx is not None and _per_token(controls):
        return _step_cost(controls, ctx, cap)
    return ZERO


def _keep_meta(result: StepResult, ctx: StepContext | None) -> None:
    """A failed attempt's meta (an AI step's conversation and the answer it rejected, its
    token usage) on the step's record, where `executions show --step` finds it; what the
    runner put there itself (rejected_output) stays."""
    if ctx is not None and ctx.meta:
        kept = {k: v for k, v in ctx.meta.items() if k != "send"}
        result.meta = {**to_plain_json(kept), **result.meta}


def _evaluate(expression: str, context: dict[str, Any]) -> Any:
    from hunter_cli.recipe.templates import evaluate_expression

    return evaluate_expression(expression, context)


class _OutputMismatch(StepError):
    """A step's output that its output_schema refuses."""


def _check_output(output: Any, schema: dict[str, Any]) -> None:
    from jsonschema import Draft202012Validator
    from referencing.exceptions import Unresolvable

    try:
        errors = sorted(Draft202012Validator(schema).iter_errors(output), key=lambda e: e.path)
    except Unresolvable as exc:
        from hunter_cli.recipe.refs import explain_unresolvable

        raise StepError(
            f"output_schema has a $ref that cannot be resolved: {explain_unresolvable(exc)} "
            "(`hunter recipes validate` shows where)"
        ) from None
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(output)"
        # A recipe author's description of the part that failed says what it means.
        described = first.schema.get("description") if isinstance(first.schema, dict) else None
        hint = f" ({described})" if isinstance(described, str) and described else ""
        raise _OutputMismatch(
            f"output does not match output_schema at {where}: {_mismatch(first)}{hint}"
        )


def _mismatch(error: Any) -> str:
    """jsonschema's message, with the value it quotes (as Python repr) spelled as JSON when
    short, and described (`a list of 7`) when long: it is kept on the record in full, and
    cutting its text in two spliced one lead's start to another's end. The schema keyword
    that failed is named with its value (`minItems: 50`)."""
    import json

    from hunter_cli.components.actions.data_processing import describe

    quoted = repr(error.instance)
    message = error.message
    if quoted in message:
        shown = json.dumps(error.instance, ensure_ascii=False, default=str)
        if len(shown) > 80:
            shown = describe(error.instance)
        message = message.replace(quoted, shown, 1)
    elif len(message) > 300:
        message = message[:297] + "..."
    keyword = json.dumps(error.validator_value, ensure_ascii=False, default=str)
    if error.validator not in ("type", "required", "additionalProperties") and len(keyword) <= 80:
        message += f" ({error.validator}: {keyword})"
    return message
