"""The keywords a recipe's JSON Schemas (inputs, output_schema, data_schema) may use: JSON
Schema ignores any other key, so a misspelt `requird` would silently check nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hunter_cli.recipe.problems import did_you_mean

__all__ = ["KNOWN_KEYWORDS", "unknown_keywords"]

# Keywords whose value is one schema, a list of schemas, or a mapping of names to schemas:
# the walk goes into these, and nowhere else (enum, const, default... hold data).
_ONE_SCHEMA = frozenset(
    {
        *("additionalProperties", "unevaluatedProperties", "propertyNames"),
        *("items", "contains", "unevaluatedItems", "contentSchema"),
        *("not", "if", "then", "else"),
    }
)
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)

#: JSON Schema draft 2020-12's keywords (core, applicator, unevaluated, validation,
#: meta-data, format and content vocabularies), and hunter's own: a property's
#: `errorMessage` words what a refused input is told (hunter_cli/engine/inputs.py), and
#: `definitions` is where older schemas keep what a `$ref` points at.
KNOWN_KEYWORDS = frozenset(
    {
        *("$schema", "$id", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor"),
        *("$vocabulary", "$comment"),
        *_ONE_SCHEMA,
        *_SCHEMA_LISTS,
        *_SCHEMA_MAPS,
        *("type", "const", "enum"),
        *("multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"),
        *("maxLength", "minLength", "pattern"),
        *("maxItems", "minItems", "uniqueItems", "maxContains", "minContains"),
        *("maxProperties", "minProperties", "required", "dependentRequired"),
        *("title", "description", "default", "deprecated", "readOnly", "writeOnly"),
        *("examples", "format", "contentEncoding", "contentMediaType"),
        "errorMessage",
    }
)

#: A key of the author's own (a note, an editor's hint) starts with this, as in OpenAPI.
EXTENSION_PREFIX = "x-"


# Keywords of other schema dialects that authors bring along, and what 2020-12 says instead.
_ELSEWHERE = {
    "nullable": " (OpenAPI's, not JSON Schema's: list null among the types, "
    "e.g. type: [string, 'null'])",
    "dependencies": " (draft 7's: write dependentRequired or dependentSchemas)",
    "additionalItems": " (draft 7's: in 2020-12, items after prefixItems says what follows)",
}


def _checked_formats() -> frozenset[str]:
    """The `format` values inputs are checked against (jsonschema's checker, with the
    packages hunter installs for uri, hostname and date-time)."""
    from jsonschema import Draft202012Validator

    return frozenset(Draft202012Validator.FORMAT_CHECKER.checkers)


def _unknown(key: str) -> str:
    hint = _ELSEWHERE.get(key) or did_you_mean(key, sorted(KNOWN_KEYWORDS))
    if not hint:
        own = f"a keyword of your own must start with {EXTENSION_PREFIX!r}"
        hint = f" (JSON Schema ignores it; {own})"
    return f"unknown keyword {key!r}{hint}"


def unknown_keywords(
    schema: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """``(path of the key, message)`` for every key of ``schema`` and its subschemas that is
    neither a JSON Schema keyword nor hunter's, nor an ``x-`` extension."""
    if not isinstance(schema, dict):
        return  # true and false are schemas too; anything else the meta-schema reports
    for key, value in schema.items():
        name = str(key)
        if name.lower().startswith(EXTENSION_PREFIX):
            continue
        if name not in KNOWN_KEYWORDS:
            yield (*path, key), _unknown(name)
        elif name == "errorMessage" and not isinstance(value, str):
            # ajv-errors' mapping form ({required: ...}) would be ignored without a word.
            yield (
                (*path, key),
                (
                    "errorMessage must be text (hunter words the message for this property with "
                    "it, e.g. errorMessage: must contain letters); a mapping per keyword is ajv's "
                    "form, which hunter does not read"
                ),
            )
        elif name == "format" and isinstance(value, str) and value not in _checked_formats():
            # `format: url` (for uri) or `format: phone` would check nothing at all.
            known = sorted(_checked_formats())
            meant = did_you_mean(value, known)
            yield (
                (*path, key),
                (
                    f"format {value!r} is not one hunter checks{meant} (it would check nothing: "
                    f"use a pattern); checked formats: {', '.join(known)}"
                ),
            )
        elif name in _ONE_SCHEMA:
            yield from unknown_keywords(value, (*path, key))
        elif name in _SCHEMA_LISTS and isinstance(value, list):
            for index, item in enumerate(value):
                yield from unknown_keywords(item, (*path, key, index))
        elif name in _SCHEMA_MAPS and isinstance(value, dict):
            for sub_name, sub in value.items():
                yield from unknown_keywords(sub, (*path, key, sub_name))
