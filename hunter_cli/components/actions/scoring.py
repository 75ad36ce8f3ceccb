"""`scoring`: score leads or companies with points-per-rule, clamp to 0..100, assign tiers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hunter_cli.components.actions.data_processing import (
    MISSING,
    as_number,
    clean_text,
    describe,
    is_empty,
    lookup,
    values_equal,
)
from hunter_cli.components.base import StepContext, StepError
from hunter_cli.recipe.templates import TemplateError

__all__ = ["DEFAULT_TIERS", "OPERATORS", "Scoring", "rule_matches"]

#: Used when a step gives no tiers: the usual A/B/C split of a 0..100 score.
DEFAULT_TIERS: dict[str, float] = {"A": 80, "B": 60, "C": 40}
OPERATORS = frozenset({"in", "not_in", "between", "gte", "lte", "eq", "contains", "matches"})
MIN_SCORE, MAX_SCORE = 0, 100


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_template(v) for v in value)
    return False


@dataclass(frozen=True)
class _Rule:
    position: int
    field: str
    op: str
    value: Any
    points: float
    reason: str
    templated_value: bool
    templated_reason: bool
    pattern: re.Pattern[str] | None  # compiled once unless the pattern is a template

    @property
    def label(self) -> str:
        return f"rules[{self.position}] ({self.reason})"


def _compile_pattern(pattern: Any, label: str) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise StepError(f"{label}: matches needs a regular expression, got {describe(pattern)}")
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise StepError(f"{label}: invalid regular expression {pattern!r}: {exc}") from None


def _check_value(op: str, value: Any, label: str) -> None:
    if op == "between" and not (isinstance(value, list | tuple) and len(value) == 2):
        raise StepError(f"{label}: between needs [low, high], got {describe(value)}")
    if op in ("in", "not_in") and not isinstance(value, list | tuple):
        raise StepError(f"{label}: {op} needs a list of values, got {describe(value)}")


def _parse_rules(rules: Any) -> list[_Rule]:
    if not isinstance(rules, list) or not rules:
        raise StepError(f"rules must be a non-empty list of rules, got {describe(rules)}")
    parsed = []
    for position, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            raise StepError(f"rules[{position}] must be a mapping, got {describe(rule)}")
        field, op, value = rule.get("field"), rule.get("op"), rule.get("value")
        reason = rule.get("reason") or f"{field} {op} {value}"
        label = f"rules[{position}] ({reason})"
        if not isinstance(field, str) or not field:
            raise StepError(f"{label}: field must be a dotted field name, got {describe(field)}")
        if op not in OPERATORS:
            raise StepError(f"{label}: unknown op {op!r}; known: {', '.join(sorted(OPERATORS))}")
        points = rule.get("points")
        if isinstance(points, bool) or not isinstance(points, int | float | Decimal):
            raise StepError(f"{label}: points must be a number, got {describe(points)}")
        templated = _has_template(value)
        if not templated:
            _check_value(op, value, label)
        pattern = _compile_pattern(value, label) if op == "matches" and not templated else None
        parsed.append(
            _Rule(
                position,
                field,
                op,
                value,
                float(points),
                str(reason),
                templated,
                _has_template(reason),
                pattern,
            )
        )
    return parsed


def _parse_tiers(tiers: Any) -> list[tuple[str, float]]:
    if tiers is None:
        tiers = DEFAULT_TIERS
    if not isinstance(tiers, Mapping):
        raise StepError(f"tiers must be a mapping of tier -> minimum score, got {describe(tiers)}")
    parsed = []
    for name, minimum in tiers.items():
        number = None if isinstance(minimum, bool) else as_number(minimum)
        if number is None:
            raise StepError(f"tiers.{name} must be a number, got {describe(minimum)}")
        parsed.append((str(name), number))
    # Highest threshold first: an item takes the best tier it reaches.
    return sorted(parsed, key=lambda tier: tier[1], reverse=True)


def _compare(actual: Any, bound: Any) -> int | None:
    """-1, 0 or 1 for actual against bound; None when they cannot be compared."""
    a, b = as_number(actual), as_number(bound)
    if a is None or b is None:
        if isinstance(actual, str) and isinstance(bound, str):  # e.g. ISO dates
            a_text, b_text = clean_text(actual), clean_text(bound)
            return (a_text > b_text) - (a_text < b_text)
        return None
    return (a > b) - (a < b)


def rule_matches(op: str, actual: Any, value: Any, pattern: re.Pattern[str] | None = None) -> bool:
    """Whether a field's value satisfies one rule. A missing or empty field never matches,
    not even not_in: unknown data earns no points."""
    if is_empty(actual):
        return False
    if op == "eq":
        return values_equal(actual, value)
    if op in ("in", "not_in"):
        # A list field (technologies, tags) is "in" when any of its elements is.
        candidates = actual if isinstance(actual, list) else [actual]
        hit = any(values_equal(a, v) for a in candidates for v in value)
        return hit if op == "in" else not hit
    if op == "contains":
        wanted = value if isinstance(value, list) else [value]
        if isinstance(actual, str):
            text = clean_text(actual)
            return any(clean_text(str(w)) in text for w in wanted if not is_empty(w))
        if isinstance(actual, list):
            return any(values_equal(a, w) for a in actual for w in wanted)
        if isinstance(actual, Mapping):
            return any(values_equal(k, w) for k in actual for w in wanted)
        return False
    if op == "matches":
        assert pattern is not None
        candidates = actual if isinstance(actual, list) else [actual]
        return any(pattern.search(str(a)) is not None for a in candidates)
    if op == "gte":
        order = _compare(actual, value)
        return order is not None and order >= 0
    if op == "lte":
        order = _compare(actual, value)
        return order is not None and order <= 0
    if op == "between":
        low, high = value  # inclusive; a null bound leaves that side open
        if low is not None:
            order = _compare(actual, low)
            if order is None or order < 0:
                return False
        if high is not None:
            order = _compare(actual, high)
            if order is None or order > 0:
                return False
        return True
    raise StepError(f"unknown op {op!r}")


def _tidy(score: float) -> float | int:
    return int(score) if float(score).is_integer() else round(score, 2)


class Scoring:
    """Adds `score`, `tier` and `score_reasons` to each item (copies; the input is kept)."""

    def run(self, params: dict[str, Any], ctx: StepContext) -> Any:
        items = params.get("items")
        if not isinstance(items, list):
            raise StepError(f"items must be a list, got {describe(items)}")
        rules = _parse_rules(params.get("rules"))
        tiers = _parse_tiers(params.get("tiers"))
        counts = {name: 0 for name, _ in sorted(tiers)}
        scored = []
        for index, item in enumerate(items):
            if index % 500 == 0:
                ctx.check_deadline()
            if not isinstance(item, Mapping):
                raise StepError(
                    f"items[{index}] must be a mapping (a lead or company), got {describe(item)}"
                )
            extra = {"item": item, "index": index}
            total: float = 0
            reasons = []
            for rule in rules:
                if self._applies(rule, item, extra, ctx):
                    total += rule.points
                    reason = rule.reason
                    if rule.templated_reason:
                        try:
                            reason = str(ctx.render(rule.reason, extra))
                        except TemplateError as exc:
                            raise StepError(f"{rule.label}: item {index}: {exc.message}") from None
                    reasons.append({"rule": reason, "points": _tidy(rule.points)})
            score = _tidy(min(MAX_SCORE, max(MIN_SCORE, total)))
            tier = next((name for name, minimum in tiers if score >= minimum), None)
            if tier is not None:
                counts[tier] += 1
            scored.append({**item, "score": score, "tier": tier, "score_reasons": reasons})
        return {"items": scored, "count": len(scored), "tiers": counts}

    def plan(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        return {"provider": None}

    @staticmethod
    def _applies(
        rule: _Rule, item: Mapping[str, Any], extra: dict[str, Any], ctx: StepContext
    ) -> bool:
        actual = lookup(item, rule.field)
        if actual is MISSING:
            return False
        value, pattern = rule.value, rule.pattern
        if rule.templated_value:
            try:
                value = ctx.render(value, extra)
            except TemplateError as exc:
                raise StepError(f"{rule.label}: item {extra['index']}: {exc.message}") from None
            _check_value(rule.op, value, rule.label)
            if rule.op == "matches":
                pattern = _compile_pattern(value, rule.label)
        return rule_matches(rule.op, actual, value, pattern)
