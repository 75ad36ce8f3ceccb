"""Step types that exist only for the tests, registered through the same table as the real
ones: a slow step (timeouts, Ctrl-C), a flaky one (retries) and a buggy one."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

from hunter_cli.components import COMPONENTS
from hunter_cli.components.base import StepContext, StepError, TransientStepError
from hunter_cli.recipe import DEFAULT_STEP_PARAMS, load_and_validate


class SleepStep:
    type: ClassVar[str] = "sleep"
    lazy_params: ClassVar[frozenset[str]] = frozenset()

    def run(self, params: dict[str, Any], ctx: StepContext) -> Any:
        marker = params.get("started_marker")
        if marker:
            Path(marker).write_text("started")
        time.sleep(float(params.get("seconds", 1)))
        return {"slept": params.get("seconds", 1)}

    def plan(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        return {"provider": None}


class FlakyStep:
    """Fails transiently `fail_times` times (counted in a file), then succeeds."""

    type: ClassVar[str] = "flaky"
    lazy_params: ClassVar[frozenset[str]] = frozenset()

    def run(self, params: dict[str, Any], ctx: StepContext) -> Any:
        counter = Path(params["counter"])
        seen = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(str(seen + 1))
        if params.get("permanent"):
            raise StepError("permanent failure")
        if seen < int(params.get("fail_times", 1)):
            raise TransientStepError(f"transient failure {seen + 1}")
        return {"value": params.get("value", "ok"), "calls": seen + 1}

    def plan(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        return {"provider": None}


class BoomStep:
    type: ClassVar[str] = "boom"
    lazy_params: ClassVar[frozenset[str]] = frozenset()

    def run(self, params: dict[str, Any], ctx: StepContext) -> Any:
        raise RuntimeError("kaboom")

    def plan(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        return {"provider": None}


TEST_STEP_PARAMS = {
    "sleep": {
        "type": "object",
        "properties": {"seconds": {"type": "number"}, "started_marker": {"type": "string"}},
        "additionalProperties": False,
    },
    "flaky": {
        "type": "object",
        "properties": {
            "counter": {"type": "string"},
            "fail_times": {"type": "integer"},
            "permanent": {"type": "boolean"},
            "value": {},
        },
        "additionalProperties": False,
    },
    "boom": {"type": "object", "additionalProperties": False},
}


def register() -> None:
    COMPONENTS.setdefault("sleep", "tests.engine.plugins:SleepStep")
    COMPONENTS.setdefault("flaky", "tests.engine.plugins:FlakyStep")
    COMPONENTS.setdefault("boom", "tests.engine.plugins:BoomStep")


def load(path: Path):
    register()
    return load_and_validate(str(path), step_params={**DEFAULT_STEP_PARAMS, **TEST_STEP_PARAMS})
