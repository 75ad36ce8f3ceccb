"""Which input names a recipe's `inputs` schema accepts: read by validation (a template may
only name those) and by a run (any other given name is a typo)."""

from __future__ import annotations

from typing import Any

# Root keywords that let names other than `properties` in (or that we do not follow).
_OPENING = ("patternProperties", "allOf", "$ref", "dependentSchemas", "if", "$dynamicRef")


def closed_input_names(schema: Any) -> set[str] | None:
    """The input names the schema allows when it allows no others; None when it lets other
    names in (additionalProperties or unevaluatedProperties not false, patternProperties, a
    root $ref or allOf...) or declares none, so nothing can be said about a name."""
    if not isinstance(schema, dict):
        return None
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        return None
    for key in ("additionalProperties", "unevaluatedProperties"):
        if schema.get(key) not in (None, False):
            return None
    if any(key in schema for key in _OPENING):
        return None
    for key in ("anyOf", "oneOf"):
        # `anyOf: [{required: [lead]}, {required: [domain]}]` names no new inputs; any
        # other branch might.
        branches = schema.get(key)
        if branches is not None and not (
            isinstance(branches, list)
            and all(isinstance(b, dict) and set(b) <= {"required"} for b in branches)
        ):
            return None
    return {str(name) for name in properties}
