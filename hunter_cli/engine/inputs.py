"""A run's input: strings from the command line converted to the types the recipe's input
schema declares, defaults applied, then checked, with one message per field."""

from __future__ import annotations

import json
from typing import Any

from hunter_cli.errors import ValidationError


def _coerce(name: str, raw: Any, schema: dict[str, Any]) -> Any:
    if not isinstance(raw, str):
        return raw
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    for option in kinds:
        try:
            if option == "integer":
                return int(raw)
            if option == "number":
                return float(raw) if any(c in raw for c in ".eE") else int(raw)
            if option == "boolean":
                lowered = raw.strip().lower()
                if lowered in ("true", "yes", "1", "on"):
                    return True
                if lowered in ("false", "no", "0", "off"):
                    return False
                continue
            if option == "array":
                text = raw.strip()
                if text.startswith("["):
                    return json.loads(text)
                item_schema = schema.get("items", {})
                return [
                    _coerce(name, part.strip(), item_schema)
                    for part in text.split(",")
                    if part.strip()
                ]
            if option == "object":
                return json.loads(raw)
            if option == "string":
                return raw
        except (ValueError, json.JSONDecodeError):
            continue
    return raw  # leave it; validation names the field and the expected type


_VALIDATORS: dict[str, Any] = {}
# The last schema object seen, with its validator: a batch of runs of one loaded recipe
# hands the same object every time, and keying it by its text cost more than validating.
_LAST: list[tuple[dict[str, Any], Any]] = []  # at most one entry


def _validator(schema: dict[str, Any]) -> Any:
    """One validator per input schema (keyed by its text): a batch of runs of one recipe
    would otherwise build it again for every run."""
    last = _LAST[0] if _LAST else None  # one read: another thread may replace it
    if last is not None and last[0] is schema:
        return last[1]
    from jsonschema import Draft202012Validator

    key = json.dumps(schema, sort_keys=True, default=repr)
    validator = _VALIDATORS.get(key)
    if validator is None:
        if len(_VALIDATORS) >= 64:
            _VALIDATORS.clear()
        validator = _VALIDATORS[key] = Draft202012Validator(
            schema, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
    _LAST[:] = [(schema, validator)]
    return validator


def prepare_inputs(schema: dict[str, Any] | None, given: dict[str, Any]) -> dict[str, Any]:
    """Coerce, default and validate; raises ValidationError listing every bad field."""
    schema = schema or {"type": "object"}
    properties: dict[str, Any] = schema.get("properties", {})
    values: dict[str, Any] = {}
    unknown = []
    for name, raw in given.items():
        key = name.replace("-", "_")
        if key not in properties and schema.get("additionalProperties") is False:
            unknown.append(key)
            continue
        values[key] = _coerce(key, raw, properties.get(key, {}))
    for name, prop in properties.items():
        if name not in values and isinstance(prop, dict) and "default" in prop:
            values[name] = prop["default"]

    problems = [
        f"unknown input '{name}'; this recipe takes: {', '.join(properties) or 'none'}"
        for name in unknown
    ]
    validator = _validator(schema)
    from referencing.exceptions import Unresolvable

    try:
        errors = sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path))
    except Unresolvable as exc:
        from hunter_cli.recipe.refs import explain_unresolvable

        raise ValidationError(
            "the recipe's inputs schema has a $ref that cannot be resolved: "
            f"{explain_unresolvable(exc)} (`hunter recipes validate` shows where)"
        ) from None
    for error in errors:
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else error.message
            hint = properties.get(missing, {}).get("description")
            problems.append(f"missing input '{missing}'" + (f": {hint}" if hint else ""))
            continue
        field = ".".join(str(p) for p in error.absolute_path) or "(input)"
        problems.append(f"input '{field}': {error.message}")
    if problems:
        raise ValidationError(
            "invalid input:\n  " + "\n  ".join(problems), details={"problems": problems}
        )
    return values
