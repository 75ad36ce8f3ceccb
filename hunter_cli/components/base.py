"""The contract every step type implements, and what a step is handed when it runs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from hunter_cli.config import Settings
    from hunter_cli.db.models import Customer


class StepError(Exception):
    """A step failed for a reason retrying will not fix (bad parameters, a 4xx, bad data)."""

    def __init__(self, message: str, *, credits_used: Decimal | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Work already paid for at a provider before the failure (e.g. a waterfall's calls).
        self.credits_used = credits_used


class TransientStepError(StepError):
    """A failure worth retrying: a timeout, a 429 or a 5xx."""


class StepTimeout(TransientStepError):
    pass


@dataclass
class StepContext:
    """What a component may use: the step's own transaction, who it runs for, templates.
    Components never talk to the terminal; a provider never sees this object."""

    session: Session
    settings: Settings
    customer_id: uuid.UUID
    execution_id: uuid.UUID
    step_id: str
    actor: str
    template_context: dict[str, Any]
    render_fn: Callable[[Any, dict[str, Any]], Any]
    evaluate_fn: Callable[[str, dict[str, Any]], Any]
    plan_only: bool = False
    no_cache: bool = False
    deadline: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    credits_used: Decimal | None = None  # set by a component whose cost is not fixed
    # The step's output_schema control, for a component that can ask again on a mismatch.
    output_schema: dict[str, Any] | None = None
    # Writes to keep even if the step fails (an AI answer paid for, kept in the cache so a
    # retry or resume does not pay again): the runner makes them in a transaction of their
    # own after the step's has rolled back. On success they were made in the step's.
    keep_on_failure: list[Callable[[Session], None]] = field(default_factory=list)
    # Called with (done, total) by a step over items; see report().
    progress_fn: Callable[[int, int], None] | None = None
    # Kept by the runner across the attempts of this one step (not across steps, runs or
    # resumes): work a failed attempt already paid for at a vendor (a lead provider's answered
    # pages and enrichment batches), so a retried attempt asks only for what it lacks.
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def customer(self) -> Customer:
        """Loaded on first use: most steps never need the row."""
        from hunter_cli.db.models import Customer

        found = self.session.get(Customer, self.customer_id)
        assert found is not None
        return found

    def render(self, value: Any, extra: dict[str, Any] | None = None) -> Any:
        """Render templates in value; extra names (item, index) are added to the context."""
        context = {**self.template_context, **extra} if extra else self.template_context
        return self.render_fn(value, context)

    def evaluate(self, expression: str, extra: dict[str, Any] | None = None) -> Any:
        context = {**self.template_context, **extra} if extra else self.template_context
        return self.evaluate_fn(expression, context)

    def remaining(self) -> float | None:
        """Seconds left before the step's timeout, for providers' own timeouts."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def report(self, done: int, total: int) -> None:
        """How far a step over items has got (for people watching: `run` shows it)."""
        if self.progress_fn is not None:
            self.progress_fn(done, total)

    def check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise StepTimeout("step timed out")

    def audit(self, action: str, details: dict[str, Any]) -> None:
        from hunter_cli.audit import append_audit

        append_audit(
            self.session,
            action,
            actor=self.actor,
            customer_id=self.customer_id,
            execution_id=self.execution_id,
            details={"step": self.step_id, **details},
        )


class Component(Protocol):
    """A step type. `lazy_params` are left unrendered for the component to render per item.

    A component that calls its provider once per element of a parameter names it in an
    optional `per_item_calls` class attribute (the ai step: "items"): a step priced per token
    then holds one call's worth per element as it starts (see Runner._hold_per_item)."""

    type: ClassVar[str]
    lazy_params: ClassVar[frozenset[str]]

    def run(self, params: dict[str, Any], ctx: StepContext) -> Any:
        """Do the work; return the step's output (JSON-like values)."""
        ...

    def plan(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        """What run would do, without doing it: providers called, messages sent."""
        ...
