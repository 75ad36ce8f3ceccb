"""Validate a loaded recipe and report every problem at the line and column it comes from."""

from __future__ import annotations

import datetime
import json
import math
import os
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match

from hunter_cli.recipe.inputs_schema import closed_input_names
from hunter_cli.recipe.loader import LoadedRecipe, NodePath, load_recipe_file, load_recipe_text
from hunter_cli.recipe.problems import (
    RecipeInvalid,
    RecipeProblem,
    closest,
    did_you_mean,
    render_path,
    respelled,
    spell,
)
from hunter_cli.recipe.static_params import static_param_problems
from hunter_cli.recipe.step_params import (
    CONTROL_KEYS,
    DATA_OPERATIONS,
    DECIMAL_PLACES,
    DEFAULT_STEP_PARAMS,
    EXPRESSION_PARAMS,
    PER_ITEM_PARAMS,
    PER_TOKEN_CREDITS,
    TEMPLATE_PATTERN,
    VARIANT_KEY,
)
from hunter_cli.recipe.templates import (
    CONTEXT_VARIABLES,
    CUSTOMER_FIELDS,
    ITEM_VARIABLES,
    STEP_FIELDS,
    STEP_STATUSES,
    check_syntax,
    environment,
    is_single_expression,
    is_template,
    referenced_names,
    status_comparisons,
    step_fields,
)

__all__ = ["load_and_validate", "validate_recipe"]

# Keys of a step whose strings are data, not templates: JSON Schema patterns may contain
# braces, and descriptions are prose.
_NON_TEMPLATE_KEYS = frozenset({"id", "type", "description", "output_schema"})

_TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}

_TEMPLATE_WORDS = "a template string ('{{ ... }}')"

_FORMAT_WORDS = {"regex": "regular expression", "uri": "URI", "email": "e-mail address"}

_STOCK_MULTIPLE_OF = Draft202012Validator.VALIDATORS["multipleOf"]
_BOUNDS = frozenset(
    {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", DECIMAL_PLACES}
)


def _multiple_of(
    validator: Any, step: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    """multipleOf, exact for decimal steps such as 0.0001 (the stock check divides floats:
    0.0003 / 0.0001 is 2.9999999999999996), and saying what the value would become."""
    if not validator.is_type(instance, "number") or not math.isfinite(instance):
        return  # a non-finite number is reported on its own (_non_json_problems)
    unit = Decimal(str(step))
    places = -unit.as_tuple().exponent  # type: ignore[operator]
    if unit != Decimal(1).scaleb(-places):
        yield from _STOCK_MULTIPLE_OF(validator, step, instance, schema)
        return
    exact = Decimal(str(instance))
    if exact.as_tuple().exponent < -places:  # type: ignore[operator]
        yield ValidationError(
            f"{exact:f} has more than {places} decimal places: "
            f"{'amounts' if places == 4 else 'rates'} are exact to {unit:f}, "
            f"so it would count as {exact.quantize(unit):f}"
        )


def _decimal_places(
    validator: Any, places: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    """hunter's keyword for credits: at most `places` decimal places, checked exactly."""
    yield from _multiple_of(validator, float(f"1e-{places}"), instance, schema)


_RecipeValidator = validators.extend(
    Draft202012Validator, {"multipleOf": _multiple_of, DECIMAL_PLACES: _decimal_places}
)

_validators: dict[str, Any] = {}


def _non_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _problem_at(loaded: LoadedRecipe, path: NodePath, message: str) -> RecipeProblem:
    """A problem located where `path` is written in the recipe file."""
    line, col = loaded.position_of(path)
    return RecipeProblem(loaded.source, line, col, render_path(path), message)


_JSON_TYPES = dict | list | str | int | float | bool | None


def _not_json(value: Any) -> str | None:
    """Why a value YAML's tags made (!!binary, !!timestamp, !!set) is not JSON, and what to
    write instead; None for JSON's own values."""
    if isinstance(value, _JSON_TYPES):
        return None
    if isinstance(value, bytes):
        return "!!binary makes bytes, which are not JSON: remove the tag to keep the text"
    if isinstance(value, datetime.date):  # a datetime too
        return (
            "!!timestamp makes a date, which is not JSON: remove the tag to keep "
            f"'{value.isoformat()}' as text"
        )
    if isinstance(value, set):
        return "!!set makes a set, which is not JSON: write a list"
    if isinstance(value, tuple):
        return "!!omap and !!pairs make pairs, which are not JSON: write a mapping"
    return f"a {type(value).__name__} value is not JSON"


def _non_json_problems(loaded: LoadedRecipe) -> Iterator[RecipeProblem]:
    """Values JSON cannot hold, anywhere: NaN and infinities (YAML's .nan, .inf), which no
    amount, limit or schema can use, and what YAML's tags make (bytes, dates, sets), which
    failed a run that stored them as "internal error: not JSON serialisable"."""
    stack: list[tuple[NodePath, Any]] = [((), loaded.data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(((*path, k), v) for k, v in value.items())
        elif isinstance(value, list):
            pairs = [v for v in value if isinstance(v, tuple)]
            if pairs:  # !!omap and !!pairs: said once, of the list
                yield _problem_at(loaded, path, str(_not_json(pairs[0])))
            stack.extend(((*path, i), v) for i, v in enumerate(value) if v not in pairs)
        elif _non_finite(value):
            written = ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
            what = "not a number" if math.isnan(value) else "infinite"
            yield _problem_at(loaded, path, f"{written} is {what}: write a finite number")
        elif (message := _not_json(value)) is not None:
            yield _problem_at(loaded, path, message)


def _recipe_schemas(loaded: LoadedRecipe) -> Iterator[tuple[NodePath, Any]]:
    """The JSON Schemas a recipe holds, where they are: inputs, and steps' output_schema
    and data_schema."""
    yield ("inputs",), loaded.data.get("inputs")
    steps = loaded.data.get("steps")
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        if isinstance(step, dict):
            for key in ("output_schema", "data_schema"):
                if key in step:
                    yield ("steps", index, key), step[key]


def _broken_ref_problems(loaded: LoadedRecipe) -> Iterator[RecipeProblem]:
    """A `$ref` in the inputs schema or a step's output/data schema that points nowhere would
    fail every run (or step) that reaches it."""
    from hunter_cli.recipe.refs import unresolvable_refs

    for where, schema in _recipe_schemas(loaded):
        for path, message in unresolvable_refs(schema, where):
            yield _problem_at(loaded, path, message)


def _unknown_keyword_problems(loaded: LoadedRecipe) -> Iterator[RecipeProblem]:
    """A key JSON Schema does not know is ignored: `requird: [n]` would check nothing."""
    from hunter_cli.recipe.schema_keywords import unknown_keywords

    for where, schema in _recipe_schemas(loaded):
        for path, message in unknown_keywords(schema, where):
            line, col = loaded.position_of(path, key=True)
            yield RecipeProblem(loaded.source, line, col, render_path(path), message)


def _tier_order_problems(loaded: LoadedRecipe) -> Iterator[RecipeProblem]:
    """Scoring tiers A, B, C are minimums from best to worst; out of order, a score of 90
    would land in C. JSON Schema cannot compare sibling values, so this is checked here."""
    steps = loaded.data.get("steps")
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(step, dict) or step.get("type") != "action":
            continue
        tiers = step.get("tiers")
        if step.get("action") != "scoring" or not isinstance(tiers, dict):
            continue
        given = [
            (name, tiers[name])
            for name in ("A", "B", "C")
            if isinstance(tiers.get(name), int | float) and not isinstance(tiers[name], bool)
        ]
        for (better, above), (worse, below) in zip(given, given[1:], strict=False):
            if below > above:
                path: NodePath = ("steps", index, "tiers", worse)
                yield _problem_at(
                    loaded,
                    path,
                    f"tier {worse} needs {below}, more than tier {better} ({above}): "
                    "tiers are minimum scores from best to worst, A >= B >= C",
                )


def _per_item_output_problems(loaded: LoadedRecipe) -> Iterator[RecipeProblem]:
    """With `items`, an ai step's output is a list of {item, text, data}: an output_schema
    whose type leaves out arrays fails every run, and was meant for each answer."""
    steps = loaded.data.get("steps")
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(step, dict) or step.get("type") != "ai" or "items" not in step:
            continue
        schema = step.get("output_schema")
        kind = schema.get("type") if isinstance(schema, dict) else None
        kinds = kind if isinstance(kind, list) else [kind]
        if kind is None or "array" in kinds or not all(isinstance(k, str) for k in kinds):
            continue
        written = kind if isinstance(kind, str) else f"[{', '.join(map(str, kinds))}]"
        yield _problem_at(
            loaded,
            ("steps", index, "output_schema", "type"),
            f"with items, the step's output is a list of {{item, text, data}}, one per "
            f"element, which type: {written} never matches: check each answer's data with "
            "data_schema (and format: json), or describe the list (type: array, items: ...)",
        )


def _static_param_problems(loaded: LoadedRecipe) -> Iterator[RecipeProblem]:
    """What steps' literal parameters already decide: a filter the provider does not know,
    an api_call URL that is not http(s)..."""
    steps = loaded.data.get("steps")
    for found in static_param_problems(steps if isinstance(steps, list) else []):
        line, col = loaded.position_of(found.path, key=found.key)
        yield RecipeProblem(loaded.source, line, col, render_path(found.path), found.message)


def _input_schema_problems(loaded: LoadedRecipe) -> Iterator[RecipeProblem]:
    """The inputs schema against itself: a default that its own input refuses fails every run
    that leaves the input out, and `required` naming an undeclared input is a typo."""
    from jsonschema.exceptions import SchemaError
    from referencing.exceptions import Unresolvable

    inputs = loaded.data.get("inputs")
    properties = inputs.get("properties") if isinstance(inputs, dict) else None
    if not isinstance(inputs, dict) or not isinstance(properties, dict):
        return

    def problem(path: NodePath, message: str) -> RecipeProblem:
        return _problem_at(loaded, path, message)

    required = inputs.get("required")
    if isinstance(required, list):
        declared = ", ".join(str(name) for name in properties) or "nothing"
        for index, name in enumerate(required):
            if isinstance(name, str) and name not in properties:
                yield problem(
                    ("inputs", "required", index),
                    f"required input {name!r} is not declared in properties; "
                    f"properties declares: {declared}",
                )

    defaults = {
        name: prop["default"]
        for name, prop in properties.items()
        if isinstance(prop, dict) and "default" in prop
    }
    if not defaults:
        return
    try:
        Draft202012Validator.check_schema(inputs)
    except SchemaError:
        return  # the meta-schema check reports it
    # The defaults as one input, checked by the whole schema so $refs to $defs resolve;
    # only what is wrong inside a defaulted field counts.
    checker = Draft202012Validator(inputs, format_checker=Draft202012Validator.FORMAT_CHECKER)
    try:
        errors = list(checker.iter_errors(defaults))
    except Unresolvable:
        return  # reported at the $ref
    for error in errors:
        where = list(error.absolute_path)
        if where and where[0] in defaults:
            path: NodePath = ("inputs", "properties", where[0], "default", *where[1:])
            message = respelled(error) + _boolean_hint(loaded, error, path)
            yield problem(path, f"the default does not fit this input: {message}")


def _validator_for(step_params: dict[str, dict[str, Any]]) -> Any:
    key = json.dumps(step_params, sort_keys=True, default=repr)
    validator = _validators.get(key)
    if validator is None:
        # Imported here, not at the top, so the package never imports the schema module
        # eagerly (see hunter_cli/recipe/__init__.py).
        from hunter_cli.recipe.schema import build_recipe_schema

        schema = build_recipe_schema(step_params)
        validator = _RecipeValidator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        _validators[key] = validator
    return validator


# YAML 1.1 (PyYAML) reads these words as booleans; a recipe author rarely means one.
_BOOLEAN_WORDS = re.compile(r"yes|no|on|off", re.IGNORECASE)


def _valid_text(schema: Any, word: str) -> bool:
    """Whether ``word``, as text, satisfies ``schema`` (a piece of a larger schema: False if
    it refers to a part it cannot see)."""
    from referencing.exceptions import Unresolvable

    try:
        return bool(Draft202012Validator(schema).is_valid(word))
    except Unresolvable:
        return False


def _written(loaded: LoadedRecipe, path: NodePath) -> str:
    """The plain scalar at ``path`` as it is written in the file."""
    line, col = loaded.position_of(path)
    lines = loaded.text.splitlines()
    text = lines[line - 1][col - 1 :] if line <= len(lines) else ""
    return re.split(r"[\s,\]}#]", text, maxsplit=1)[0]


def _boolean_hint(loaded: LoadedRecipe, error: ValidationError, path: NodePath) -> str:
    """'; YAML reads yes as the boolean true: quote it, 'yes'' where `yes` (no, on, off) was
    written and the text would do, or ''."""
    if isinstance(error.instance, int | float) and not isinstance(error.instance, bool):
        return _number_hint_written(loaded, error, path)
    if not isinstance(error.instance, bool):
        return ""
    word = _written(loaded, path)
    if not _BOOLEAN_WORDS.fullmatch(word) or not _valid_text(error.schema, word):
        return ""
    return f"; YAML reads {word} as the boolean {spell(error.instance)}: quote it, '{word}'"


def _number_hint_written(loaded: LoadedRecipe, error: ValidationError, path: NodePath) -> str:
    """'; YAML reads +4930123456 as the number 4930123456: quote it' where text was meant
    (a phone number's +, a leading 0) and YAML took a number, or ''."""
    word = _written(loaded, path)
    changed = word.startswith("+") or (len(word) > 1 and word[0] == "0" and word[1].isdigit())
    if not changed or not _valid_text(error.schema, word):
        return ""
    return f"; YAML reads {word} as the number {spell(error.instance)}: quote it, '{word}'"


def _operation_message(name: str, operation: Any) -> str | None:
    """Why data_processing ``operation`` refuses parameter ``name``, which another reads; None
    if no operation reads it (it is another action's)."""
    users = [op for op, (takes, _) in DATA_OPERATIONS.items() if name in takes]
    if not users or operation not in DATA_OPERATIONS:
        return None
    *others, last = users
    readers = f"{', '.join(others)} and {last}" if others else last
    takes = ", ".join(DATA_OPERATIONS[operation][0])
    return (
        f"parameter {name!r} is not valid for data_processing operation {operation!r} "
        f"(it is for {readers}); {operation} takes: {takes}"
    )


def _is_step(path: NodePath) -> bool:
    return len(path) == 2 and path[0] == "steps" and isinstance(path[1], int)


class _SchemaErrorMapper:
    """Turns jsonschema errors into located problems with messages written for recipe authors."""

    def __init__(self, loaded: LoadedRecipe, step_params: dict[str, dict[str, Any]]) -> None:
        self.loaded = loaded
        self.step_params = step_params

    def problem(self, path: NodePath, message: str, *, key: bool = False) -> RecipeProblem:
        line, col = self.loaded.position_of(path, key=key)
        return RecipeProblem(self.loaded.source, line, col, render_path(path), message)

    def _step(self, path: NodePath) -> dict[str, Any]:
        steps = self.loaded.data.get("steps")
        index = path[1] if _is_step(path) else None
        if isinstance(steps, list) and isinstance(index, int) and index < len(steps):
            step = steps[index]
            if isinstance(step, dict):
                return step
        return {}

    def _step_kind(self, path: NodePath, *, variant: bool) -> str:
        step = self._step(path)
        step_type = step.get("type")
        if variant and isinstance(step_type, str):
            variant_key = self.step_params.get(step_type, {}).get(VARIANT_KEY)
            if variant_key and isinstance(step.get(variant_key), str):
                return f"{variant_key} {step[variant_key]!r}"
        return f"step type {step_type!r}"

    def _boolean_hint(self, error: ValidationError, path: NodePath) -> str:
        return _boolean_hint(self.loaded, error, path)

    def _step_params_of(self, path: NodePath) -> list[str]:
        """The parameters and controls the step at ``path`` may have: its type's, less those
        its variant (action, channel) refuses."""
        step = self._step(path)
        schema = self.step_params.get(str(step.get("type")), {})
        names = set(schema.get("properties", {})) | CONTROL_KEYS
        variant_key = schema.get(VARIANT_KEY)
        variant = step.get(variant_key) if variant_key else None
        for branch in schema.get("allOf", []) if variant is not None else []:
            chosen = branch.get("if", {}).get("properties", {}).get(variant_key, {})
            if chosen.get("const") == variant:
                refused = branch.get("then", {}).get("properties", {})
                names -= {name for name, sub in refused.items() if sub == {"not": {}}}
        return sorted(names)

    def _is_unmarked_write(self, error: ValidationError, path: NodePath) -> bool:
        """A db_query that writes without `write: true` (missing, or not true)."""
        if error.validator == "required" and _is_step(path):
            return "write" in error.validator_value and error.message.startswith("'write' ")
        return (
            error.validator == "const"
            and error.validator_value is True
            and len(path) == 3
            and _is_step(path[:2])
            and path[2] == "write"
        )

    def map(self, error: ValidationError) -> Iterator[RecipeProblem]:
        path: NodePath = tuple(error.absolute_path)
        validator = error.validator

        if validator in _BOUNDS and _non_finite(error.instance):
            return  # reported once, by _non_json_problems
        if _not_json(error.instance) is not None:
            return  # likewise

        if "propertyNames" in error.absolute_schema_path:
            # The instance is the offending key itself; point at the key.
            message = error.message
            if validator == "not" and path == ("inputs", "properties"):
                option = str(error.instance).replace("_", "-")
                message = (
                    f"input {error.instance!r} cannot be given to `hunter run`, whose own "
                    f"--{option} option takes it; rename the input, e.g. "
                    f"'{str(error.instance).replace('-', '_')}_input'"
                )
            elif (
                validator == "enum"
                and path[-1:] == ("params",)
                and self._step(path[:-1]).get("action") == "db_query"
            ):
                query = self._step(path[:-1]).get("query")
                takes = [str(name) for name in error.validator_value]
                message = (
                    f"db_query {query} does not take params.{error.instance}"
                    f"{did_you_mean(str(error.instance), takes)}; it takes: {', '.join(takes)}"
                )
            yield self.problem((*path, error.instance), message, key=True)
            return
        if validator in ("anyOf", "oneOf"):
            yield from self._alternatives(error, path)
            return
        if validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))  # type: ignore[union-attr]
            patterns = error.schema.get("patternProperties", {})  # type: ignore[union-attr]
            extras = [
                k
                for k in error.instance
                if k not in allowed and not any(re.search(p, str(k)) for p in patterns)
            ]
            for extra in extras:
                if _is_step(path):
                    message = (
                        f"unknown parameter {extra!r} for {self._step_kind(path, variant=False)}"
                        f"{did_you_mean(str(extra), self._step_params_of(path))}"
                    )
                else:
                    message = f"unknown field {extra!r}{did_you_mean(str(extra), sorted(allowed))}"
                yield self.problem((*path, extra), message, key=True)
            return
        if validator == "not" and error.validator_value == PER_TOKEN_CREDITS:
            step_type = self._step(path[:-1]).get("type")
            message = (
                f"per_1k_tokens prices a step by the AI tokens it uses, and a {step_type!r} "
                "step uses none: give it a fixed number of credits"
            )
            yield self.problem(path, message)
            return
        if validator == "not" and error.validator_value == {} and path:
            # A never-valid property schema: a parameter that exists, but not for this variant.
            parent = path[:-1]
            step = self._step(parent)
            if step.get("action") == "data_processing" and (
                operation_message := _operation_message(str(path[-1]), step.get("operation"))
            ):
                message = operation_message
            elif _is_step(parent):
                kind = self._step_kind(parent, variant=True)
                message = f"parameter {path[-1]!r} is not valid for {kind}"
            else:
                message = f"field {path[-1]!r} is not allowed here"
            yield self.problem(path, message, key=True)
            return
        if self._is_unmarked_write(error, path):
            step_path = path if validator == "required" else path[:-1]
            query = self._step(step_path).get("query")
            yield self.problem(path, f"db_query {query} writes: add `write: true` to the step")
            return
        if validator == "required":
            name = next(
                (n for n in error.validator_value if error.message.startswith(f"{n!r} ")),
                None,
            )
            if name is not None:
                if _is_step(path) and name not in CONTROL_KEYS:
                    kind = self._step_kind(path, variant=True)
                    message = f"missing required parameter {name!r} for {kind}"
                else:
                    message = f"missing required field {name!r}"
                yield self.problem(path, message)
                return
        if (
            validator == "enum"
            and len(path) == 3
            and _is_step(path[:2])
            and path[2] == "type"
            and error.validator_value == sorted(self.step_params)
        ):
            known = ", ".join(sorted(self.step_params))
            meant = (
                did_you_mean(error.instance, self.step_params)
                if isinstance(error.instance, str)
                else ""
            )
            message = f"unknown step type {spell(error.instance)}{meant}; known types: {known}"
            yield self.problem(path, message + self._boolean_hint(error, path))
            return
        if validator == "minItems" and path == ("steps",) and error.validator_value == 1:
            yield self.problem(path, "recipe has no steps; add at least one")
            return
        if validator == "format":
            what = _FORMAT_WORDS.get(error.validator_value, f"{error.validator_value} value")
            yield self.problem(path, f"{error.instance!r} is not a valid {what}")
            return
        if validator == "type" and _numeric(error.validator_value):
            hint = _number_hint(error.instance)
            if hint:
                yield self.problem(path, f"{respelled(error)}; {hint}")
                return
        if validator == "const":
            message = f"must be {spell(error.validator_value)}, not {spell(error.instance)}"
            yield self.problem(path, message + self._boolean_hint(error, path))
            return
        message = respelled(error)
        if validator == "enum" and isinstance(error.instance, str):
            message += did_you_mean(
                error.instance, [v for v in error.validator_value if isinstance(v, str)]
            )
        yield self.problem(path, message + self._boolean_hint(error, path))

    def _alternatives(self, error: ValidationError, path: NodePath) -> Iterator[RecipeProblem]:
        branches = error.validator_value
        # "at least one of" written as anyOf of single required keys (the state step).
        if all(isinstance(b, dict) and set(b) == {"required"} for b in branches):
            names = ", ".join(repr(b["required"][0]) for b in branches)
            yield self.problem(path, f"at least one of {names} is required")
            return
        # A name from a list, or a template choosing one (a provider): say which names exist.
        lists = [b["enum"] for b in branches if isinstance(b, dict) and "enum" in b]
        if (
            len(branches) == 2
            and len(lists) == 1
            and isinstance(error.instance, str)
            and not re.search(TEMPLATE_PATTERN, error.instance)
            and any(_describe(b) == _TEMPLATE_WORDS for b in branches)
        ):
            title = str(error.schema.get("title", "value"))  # type: ignore[union-attr]
            if not title[:2].isupper():  # "Lead provider" -> "lead provider", "AI" stays
                title = title[:1].lower() + title[1:]
            known = ", ".join(str(n) for n in lists[0])
            meant = did_you_mean(error.instance, [str(n) for n in lists[0]])
            yield self.problem(path, f"unknown {title} {error.instance!r}{meant}; known: {known}")
            return
        by_branch: dict[int, list[ValidationError]] = {}
        for sub in error.context or []:
            by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
        # A branch whose kind the value already has (an object for the retry policy, a number
        # for credits) explains the failure best: "attempts: 0 is less than the minimum of 1"
        # beats "expected an integer or a mapping".
        fitting = [
            i
            for i, branch in enumerate(branches)
            if isinstance(branch, dict)
            and "type" in branch
            and not any(_is_kind_mismatch(e) for e in by_branch.get(i, []))
        ]
        if len(fitting) == 1 and by_branch.get(fitting[0]):
            for sub in by_branch[fitting[0]]:
                yield from self.map(sub)
            return
        wanted = [_describe(b) for b in branches]
        if all(wanted) and not fitting:
            expected = " or ".join(dict.fromkeys(w for w in wanted if w))
            message = f"{spell(error.instance)} is not valid: expected {expected}"
            hint = _number_hint(error.instance)
            if hint and any(_numeric(b.get("type")) for b in branches if isinstance(b, dict)):
                message += f"; {hint}"
            yield self.problem(path, message + self._boolean_hint(error, path))
            return
        best = best_match(error.context or [])
        if best is None:
            yield self.problem(path, respelled(error))
        else:
            yield from self.map(best)


# What YAML 1.1 (PyYAML) reads as text although it looks like a number: an exponent
# without a dot in the mantissa or without a sign (1e-3, 1e308, 2.5e3).
_NUMBER_AS_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _numeric(kind: Any) -> bool:
    kinds = kind if isinstance(kind, list) else [kind]
    return "number" in kinds or "integer" in kinds


def _number_hint(value: Any) -> str | None:
    """How to write a number YAML took for text, or None if ``value`` does not look like one."""
    if not isinstance(value, str) or not _NUMBER_AS_TEXT.fullmatch(value.strip()):
        return None
    text = value.strip()
    mantissa, exponent = re.split("[eE]", text)
    if "." not in mantissa:
        mantissa += ".0"
    if exponent[0] not in "+-":
        exponent = "+" + exponent
    written = f"{mantissa}e{exponent}"
    plain = f"{Decimal(text).normalize():f}"
    choices = written if len(plain) > 12 else f"{plain}, or {written}"
    return f"write {choices}: YAML reads {text} as text"


def _is_kind_mismatch(error: ValidationError) -> bool:
    """True if a branch failed because the value is the wrong kind for it at all."""
    if len(error.relative_schema_path) != 2:
        return False
    # A plain string is the wrong kind for a "template string" branch, like a type error.
    return error.validator == "type" or (
        error.validator == "pattern" and error.validator_value == TEMPLATE_PATTERN
    )


def _describe(schema: Any) -> str | None:
    """Short English for a simple schema branch, or None if it is not simple."""
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type")
    if isinstance(kind, str) and kind in _TYPE_WORDS:
        if kind == "string" and schema.get("pattern") == TEMPLATE_PATTERN:
            return _TEMPLATE_WORDS
        return _TYPE_WORDS[kind]
    if "enum" in schema:
        return "one of " + ", ".join(spell(v) for v in schema["enum"])
    return None


def _walk_strings(value: Any, path: NodePath) -> Iterator[tuple[NodePath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk_strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk_strings(item, (*path, index))


_TEMPLATE_BLOCK = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.DOTALL)


def _mixed_condition_message(text: str, key: str = "if") -> str:
    """Why an `if` (or a filter's `where`) that is not one expression is wrong, and how to
    write it."""
    bare = _TEMPLATE_BLOCK.sub(r"\1", text).strip()
    if "{%" not in text and check_syntax(bare, expression=True) is None:
        return (
            "mixes a template with other text, so it renders to text, which is always true; "
            f"write one expression: {bare!r} (or {'{{ ' + bare + ' }}'!r})"
        )
    return (
        f"{'an' if key == 'if' else 'a'} '{key}' must be one expression (inputs.limit > 5) "
        "or one '{{ ... }}' around all of it, not text rendered from a template"
    )


def _why_no_item(step: dict[str, Any], key: str) -> str | None:
    """Why the templates of ``key`` in ``step`` cannot use `item` and `index`, or None if
    they can (or the step type is not known to say)."""
    step_type = step.get("type")
    per_item = PER_ITEM_PARAMS.get(step_type) if isinstance(step_type, str) else None
    if per_item is None:
        return None
    if key in per_item:
        if "items" in step:
            return None
        return f"the step has no `items`, so {key} is rendered once, without an item"
    if not per_item:
        return f"a {step_type} step is rendered once, not per item"
    *others, last = sorted(per_item)
    names = f"{', '.join(others)} and {last}" if others else last
    return f"only {names} are rendered once per element of `items`, not {key}"


def _structure_kinds(schema: Any) -> list[str] | None:
    """What a parameter must be when it is a list or a mapping, or a template giving one
    ["a list"], or None if text may do. (A number may be written as text: "5" counts.)"""
    branches = schema.get("anyOf") if isinstance(schema, dict) else None
    if not isinstance(branches, list):
        return None
    kinds = []
    for branch in branches:
        words = _describe(branch)
        if words == _TEMPLATE_WORDS:
            continue
        if not isinstance(branch, dict) or branch.get("type") not in ("array", "object"):
            return None
        kinds.append(str(words))
    return kinds or None


def _text_for_native_problems(
    loaded: LoadedRecipe, step_params: dict[str, dict[str, Any]]
) -> Iterator[RecipeProblem]:
    """A template with other text around its expression renders to text, which a parameter
    that takes a list or a mapping refuses at run time ("items must be a list")."""
    steps = loaded.data.get("steps")
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(step, dict) or not isinstance(step.get("type"), str):
            continue
        properties = step_params.get(step["type"], {}).get("properties", {})
        for key, value in step.items():
            if (
                not isinstance(value, str)
                or not is_template(value)
                or "{%" in value
                or is_single_expression(value)
            ):
                continue
            kinds = _structure_kinds(properties.get(key))
            if kinds is None:
                continue
            blocks = _TEMPLATE_BLOCK.findall(value)
            fix = ""
            if len(blocks) == 1 and kinds == [_TYPE_WORDS["array"]]:
                fix = f": write only {'{{ ' + blocks[0] + ' }}'!r}"
            yield _problem_at(
                loaded,
                ("steps", index, key),
                f"renders to text (the template has other text around it), but {key} must "
                f"be {' or '.join(kinds)}{fix}",
            )


class _TemplateChecker:
    """Checks template syntax and what templates refer to: steps, context names, inputs."""

    def __init__(self, loaded: LoadedRecipe) -> None:
        self.loaded = loaded
        self.problems: list[RecipeProblem] = []
        self.first_index: dict[str, int] = {}
        data = loaded.data
        steps = data.get("steps")
        self.steps: list[Any] = steps if isinstance(steps, list) else []
        inputs = data.get("inputs")
        # None when the schema lets other names in (additionalProperties: true...): then a
        # template may name any input, as a run may be given any.
        self.declared_inputs: set[str] | None = closed_input_names(inputs)
        self.globals = set(environment.globals)

    def add(self, path: NodePath, message: str) -> None:
        self.problems.append(_problem_at(self.loaded, path, message))

    def check_ids(self) -> None:
        for index, step in enumerate(self.steps):
            if not isinstance(step, dict) or not isinstance(step.get("id"), str):
                continue
            step_id = step["id"]
            if step_id in self.first_index:
                first_line, _ = self.loaded.position_of(("steps", self.first_index[step_id], "id"))
                self.add(
                    ("steps", index, "id"),
                    f"duplicate step id {step_id!r} (first defined at line {first_line})",
                )
            else:
                self.first_index[step_id] = index

    def check_steps(self) -> None:
        for index, step in enumerate(self.steps):
            if not isinstance(step, dict):
                continue
            step_type = step.get("type")
            expressions = {"if"} | EXPRESSION_PARAMS.get(step_type, frozenset())  # type: ignore[arg-type]
            for key, value in step.items():
                if key in _NON_TEMPLATE_KEYS:
                    continue
                path: NodePath = ("steps", index, key)
                no_item = _why_no_item(step, key)
                if key in expressions and isinstance(value, str):
                    if not is_single_expression(value):
                        self.add(path, _mixed_condition_message(value, key))
                    self.check(value, path, expression=True, current=index, no_item=no_item)
                    continue
                for sub_path, text in _walk_strings(value, path):
                    if is_template(text):
                        self.check(text, sub_path, expression=False, current=index, no_item=no_item)

    def check_outputs(self) -> None:
        outputs = self.loaded.data.get("outputs")
        if not isinstance(outputs, dict):
            return
        for path, text in _walk_strings(outputs, ("outputs",)):
            if is_template(text):
                self.check(text, path, expression=False, current=None)

    def check(
        self,
        text: str,
        path: NodePath,
        *,
        expression: bool,
        current: int | None,
        no_item: str | None = None,
    ) -> None:
        """``no_item``: why `item` and `index` are undefined here, or None where a step's
        template may use them."""
        error = check_syntax(text, expression=expression)
        if error is not None:
            self.add(path, f"template syntax error: {error}")
            return
        names = referenced_names(text, expression=expression)
        allowed = CONTEXT_VARIABLES | self.globals
        if current is not None:
            if no_item is not None:
                for name in sorted(ITEM_VARIABLES & set(names)):
                    self.add(path, f"{name!r} is undefined here: {no_item}")
            allowed = allowed | ITEM_VARIABLES
        for name in sorted(set(names) - allowed):
            known = ", ".join(sorted(CONTEXT_VARIABLES))
            meant = did_you_mean(name, sorted(allowed))
            self.add(path, f"unknown variable {name!r} in template{meant}; available: {known}")
        for ref in sorted(names.get("steps", ())):
            if ref not in self.first_index:
                meant = did_you_mean(ref, sorted(self.first_index))
                self.add(path, f"unknown step {ref!r} in template{meant}")
            elif current is not None and self.first_index[ref] >= current:
                self.add(path, f"step {ref!r} is referenced before it runs")
        if "steps" in names:
            for ref, field in sorted(step_fields(text, expression=expression)):
                if ref in self.first_index and field not in STEP_FIELDS:
                    # steps.search.leads: the step's record holds output, status and error.
                    close = closest(field, sorted(STEP_FIELDS))
                    meant = f"steps.{ref}.{close}" if close else f"steps.{ref}.output.{field}"
                    self.add(
                        path,
                        f"steps.{ref}.{field}: a step's record has output, status and error; "
                        f"did you mean {meant}?",
                    )
        if "steps" in names:
            for ref, value in sorted(status_comparisons(text, expression=expression)):
                if value not in STEP_STATUSES:
                    meant = did_you_mean(value, sorted(STEP_STATUSES)) or (
                        " (did you mean 'ok'?)" if value in ("success", "succeeded") else ""
                    )
                    self.add(
                        path,
                        f"steps.{ref}.status is never {value!r}{meant}: a step's status is "
                        "ok, skipped or failed",
                    )
        for field in sorted(names.get("customer", set()) - CUSTOMER_FIELDS):
            meant = did_you_mean(field, sorted(CUSTOMER_FIELDS))
            fields = ", ".join(sorted(CUSTOMER_FIELDS))
            self.add(path, f"unknown customer field {field!r}{meant}; a customer has: {fields}")
        if self.declared_inputs is not None:
            for name in sorted(names.get("inputs", set()) - self.declared_inputs):
                declared = ", ".join(sorted(self.declared_inputs)) or "nothing"
                meant = did_you_mean(name, sorted(self.declared_inputs))
                self.add(
                    path, f"unknown input {name!r} in template{meant}; inputs declares: {declared}"
                )


def _slug_problems(loaded: LoadedRecipe, file_slug: str | None) -> Iterator[RecipeProblem]:
    slug = loaded.data.get("slug")
    if file_slug is None or not isinstance(slug, str) or slug == file_slug:
        return
    # A file name that could not be a slug ("Q3 Push") leaves only the rename to suggest.
    fix = (
        f"write slug: {file_slug}, or rename the file to {slug}.yaml"
        if re.fullmatch(r"[a-z0-9][a-z0-9_-]*", file_slug)
        else f"rename the file to {slug}.yaml"
    )
    yield _problem_at(
        loaded,
        ("slug",),
        f"slug {slug!r} differs from the file name {file_slug!r}: a recipe in a recipes "
        f"folder is listed and run by its file name; {fix}",
    )


def validate_recipe(
    loaded: LoadedRecipe,
    step_params: dict[str, dict[str, Any]] | None = None,
    *,
    file_slug: str | None = None,
) -> list[RecipeProblem]:
    """Every problem in ``loaded``, sorted by position; an empty list means the recipe is valid.

    ``file_slug`` is the slug a recipe must have because of where it lives (its file name, in
    a recipes folder).
    """
    params = DEFAULT_STEP_PARAMS if step_params is None else step_params
    problems: list[RecipeProblem] = list(loaded.load_problems)
    problems.extend(_slug_problems(loaded, file_slug))

    mapper = _SchemaErrorMapper(loaded, params)
    for error in _validator_for(params).iter_errors(loaded.data):
        problems.extend(mapper.map(error))
    problems.extend(_non_json_problems(loaded))
    problems.extend(_broken_ref_problems(loaded))
    problems.extend(_unknown_keyword_problems(loaded))
    problems.extend(_tier_order_problems(loaded))
    problems.extend(_input_schema_problems(loaded))
    problems.extend(_static_param_problems(loaded))
    problems.extend(_per_item_output_problems(loaded))
    problems.extend(_text_for_native_problems(loaded, params))

    checker = _TemplateChecker(loaded)
    checker.check_ids()
    checker.check_steps()
    checker.check_outputs()
    problems.extend(checker.problems)

    return sorted(set(problems), key=RecipeProblem.sort_key)


def load_and_validate(
    source: str | os.PathLike[str],
    *,
    text: str | None = None,
    step_params: dict[str, dict[str, Any]] | None = None,
    file_slug: str | None = None,
) -> LoadedRecipe:
    """Load a recipe file (or ``text``, labelled ``source``) and validate it (``file_slug``:
    see ``validate_recipe``).

    Raises ``RecipeInvalid`` with every problem; ``OSError`` if the file cannot be read.
    """
    if text is not None:
        loaded = load_recipe_text(text, os.fspath(source))
    else:
        loaded = load_recipe_file(source)
    problems = validate_recipe(loaded, step_params, file_slug=file_slug)
    if problems:
        raise RecipeInvalid(problems)
    return loaded
