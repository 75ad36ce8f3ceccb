"""A run's input: strings from the command line converted to the types the recipe's input
schema declares, defaults applied, then checked, with one message per field."""

from __future__ import annotations

import json
import math
from typing import Any

from hunter_cli.errors import ValidationError
from hunter_cli.recipe.inputs_schema import closed_input_names
from hunter_cli.recipe.problems import did_you_mean


class BareFlag(str):
    """An input flag given with no value (`--dry`, last on the line or before another flag):
    true for a boolean input; any other input needs a value, so it is an error there."""

    def __new__(cls) -> BareFlag:
        return super().__new__(cls, "true")


class Repeated(list):
    """One input given more than once in one place (`--tag a --tag b`): the values of an
    array input, an error for any other (the last one silently won)."""


def add_value(values: dict[str, Any], name: str, value: Any) -> None:
    """Set an input as parsed from the command line, keeping every value of one repeated."""
    if name not in values:
        values[name] = value
    elif isinstance(values[name], Repeated):
        values[name].append(value)
    else:
        values[name] = Repeated([values[name], value])


# hunter's global options, as input names: given after the command they reach the recipe.
GLOBAL_OPTIONS = {"config": "--config", "database_url": "--database-url", "actor": "--actor"}


# Python type of an enum/const value -> its JSON type (bool before int: True is an int).
_JSON_TYPES: tuple[tuple[type, str], ...] = (
    *((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")),
    *((list, "array"), (dict, "object")),
)


def _resolve(schema: Any, root: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """A property's schema with a local `$ref` (#/$defs/size) followed; anything else as is."""
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and depth < 20:
        ref = schema["$ref"]
        if not ref.startswith("#"):
            break
        target: Any = root
        for part in filter(None, ref[1:].split("/")):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            break
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        depth += 1
    return schema if isinstance(schema, dict) else {}


def _kinds(schema: Any, root: dict[str, Any], depth: int = 0) -> list[str]:
    """The JSON types a property may take, as far as its schema says: `type`, the values of
    `enum`/`const`, and those of the branches of `anyOf`/`oneOf` (a `$ref` followed)."""
    schema = _resolve(schema, root)
    kind = schema.get("type")
    kinds = list(kind) if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
    values = schema.get("enum", []) + ([schema["const"]] if "const" in schema else [])
    for value in values if isinstance(values, list) else []:
        for python, name in _JSON_TYPES:
            if isinstance(value, python) and name not in kinds:
                kinds.append(name)
                break
    if depth < 5:
        for key in ("anyOf", "oneOf", "allOf"):
            for branch in schema.get(key) or []:
                kinds += [k for k in _kinds(branch, root, depth + 1) if k not in kinds]
    # Text last: "5" for an integer-or-text input is the number, as it would be typed.
    return sorted(kinds, key=lambda k: k == "string")


def declared_types(schema: Any, root: dict[str, Any]) -> list[str]:
    """The JSON types an input's schema allows (`recipes show`): its type, those of its enum
    or const values and of its anyOf/oneOf branches, a $ref followed."""
    return _kinds(schema, root)


def resolved(schema: Any, root: dict[str, Any]) -> dict[str, Any]:
    """An input's schema with a local $ref followed ({} for a boolean schema)."""
    return _resolve(schema, root)


def _is_boolean(schema: dict[str, Any], root: dict[str, Any]) -> bool:
    return "boolean" in _kinds(schema, root)


def _coerce(name: str, raw: Any, schema: dict[str, Any], root: dict[str, Any]) -> Any:
    if not isinstance(raw, str):
        return raw
    for option in _kinds(schema, root):
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
                item_schema = _resolve(schema, root).get("items", {})
                return [
                    _coerce(name, part.strip(), item_schema, root)
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


def _one_of_required(error: Any) -> list[str]:
    """For `anyOf`/`oneOf: [{required: [a]}, {required: [b]}]` at the top, failed: [a, b]."""
    if error.validator not in ("anyOf", "oneOf") or error.absolute_path:
        return []
    branches = error.validator_value
    if not isinstance(branches, list) or not all(
        isinstance(b, dict) and set(b) == {"required"} for b in branches
    ):
        return []
    names = [name for b in branches for name in b["required"]]
    given = error.instance if isinstance(error.instance, dict) else {}
    return [] if any(name in given for name in names) else names


def _non_finite(value: Any, where: str) -> list[tuple[str, float]]:
    """NaN and infinities anywhere in the input (1e999 on the command line, NaN in JSON):
    no recipe can mean them, and the run's JSON output could not carry them."""
    if isinstance(value, float) and not math.isfinite(value):
        return [(where or "(input)", value)]
    if isinstance(value, dict):
        items = ((f"{where}.{k}" if where else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{where}.{i}", v) for i, v in enumerate(value))
    else:
        return []
    return [found for key, item in items for found in _non_finite(item, key)]


def _readable(error: Any) -> str:
    """jsonschema's message, but with a pattern as the recipe wrote it: jsonschema shows its
    repr, backslashes doubled (and the JSON envelope doubles them again)."""
    from hunter_cli.recipe.problems import respelled

    if error.validator == "pattern" and isinstance(error.validator_value, str):
        return f"{error.instance!r} does not match the pattern {error.validator_value}"
    return respelled(error)  # true and null, as the input is written, not True and None


def prepare_inputs(schema: dict[str, Any] | None, given: dict[str, Any]) -> dict[str, Any]:
    """Coerce, default and validate; raises ValidationError listing every bad field."""
    schema = schema or {"type": "object"}
    properties: dict[str, Any] = schema.get("properties", {})
    values: dict[str, Any] = {}
    unknown = []
    needs_value = []
    repeated: list[tuple[str, Repeated]] = []
    # An input the recipe does not declare is a typo (--limt) when its schema allows no other
    # names: templates can only name declared inputs, so it would be ignored without a word.
    closed = closed_input_names(schema)
    for name, raw in given.items():
        key = name.replace("-", "_")
        if key not in properties and key.replace("_", "-") in properties:
            key = key.replace("_", "-")  # an input declared with dashes (max-results)
        if (
            key in GLOBAL_OPTIONS
            and key not in properties
            or (closed is not None and key not in closed)
        ):
            unknown.append(key)
            continue
        prop = properties.get(key, {})
        if isinstance(raw, Repeated):
            if "array" not in _kinds(prop, schema):
                repeated.append((key, raw))
                continue
            items: list[Any] = []
            for part in raw:  # `--tag a --tag b,c` is ["a", "b", "c"]
                value = _coerce(key, part, prop, schema)
                items.extend(value if isinstance(value, list) else [value])
            values[key] = items
            continue
        if isinstance(raw, BareFlag) and not _is_boolean(prop, schema):
            needs_value.append(key)  # "--query" alone must not run a search for "true"
            continue
        values[key] = _coerce(key, raw, prop, schema)
    for name, prop in properties.items():
        declared = _resolve(prop, schema)  # a default may sit in the $defs it refers to
        if name not in values and "default" in declared:
            values[name] = declared["default"]

    problems = [
        f"{GLOBAL_OPTIONS[name]} is a global option: give it before the command "
        f"(hunter {GLOBAL_OPTIONS[name]} VALUE run ...)"
        if name in GLOBAL_OPTIONS
        else f"unknown input '{name}'{did_you_mean(name, list(properties))}; this recipe "
        f"takes: {', '.join(properties) or 'none'}"
        for name in unknown
    ]
    problems += [
        f"input '{name}' needs a value: --{name.replace('_', '-')} VALUE" for name in needs_value
    ]
    problems += [
        f"input '{name}' is given {len(raw)} times ({', '.join(map(repr, raw))}): it takes "
        "one value"
        for name, raw in repeated
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
        options = _one_of_required(error)
        if options:
            problems.append("missing input: give one of " + ", ".join(f"'{o}'" for o in options))
            continue
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else error.message
            if missing in needs_value or any(name == missing for name, _ in repeated):
                continue  # already said: given without a value, or given twice
            wanted = properties.get(missing)  # `city: true` is a schema too
            hint = wanted.get("description") if isinstance(wanted, dict) else None
            problems.append(f"missing input '{missing}'" + (f": {hint}" if hint else ""))
            continue
        field = ".".join(str(p) for p in error.absolute_path) or "(input)"
        own = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
        if isinstance(own, str) and own.strip():
            # The recipe's own words for what its schema refuses ("must contain letters").
            own = " ".join(own.split())
            problem = (
                f"input '{field}' {own}" if own.startswith("must ") else f"input '{field}': {own}"
            )
            if problem not in problems:  # one message, however many of its rules failed
                problems.append(problem)
            continue
        top = properties.get(str(error.absolute_path[0])) if error.absolute_path else None
        hint = top.get("description") if isinstance(top, dict) else None
        problems.append(f"input '{field}': {_readable(error)}" + (f" ({hint})" if hint else ""))
    problems += [
        f"input '{where}': {value} is not a finite number"
        for where, value in _non_finite(values, "")
    ]
    if problems:
        raise ValidationError(
            "invalid input:\n  " + "\n  ".join(problems), details={"problems": problems}
        )
    return values
