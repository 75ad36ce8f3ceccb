"""The recipe format's JSON Schema, built from pluggable step parameter schemas.

Regenerate the shipped copy with ``python -m hunter_cli.recipe.schema > recipe.schema.json``.
"""

from __future__ import annotations

import copy
import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

from hunter_cli.recipe.step_params import (
    DEFAULT_STEP_PARAMS,
    PER_TOKEN_CREDITS,
    STEP_CONTROLS_SCHEMA,
    TOKEN_PRICED_KEY,
)

__all__ = [
    "META_SCHEMA_URI",
    "RECIPE_SCHEMA_ID",
    "RECIPE_SCHEMA_PATH",
    "RUN_OPTION_NAMES",
    "build_recipe_schema",
    "load_shipped_schema",
    "render_schema_json",
]

RECIPE_SCHEMA_ID = "https://hunter-cli.dev/schemas/recipe.schema.json"
META_SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"
RECIPE_SCHEMA_PATH = Path(__file__).with_name("recipe.schema.json")

SLUG_PATTERN = "^[a-z0-9][a-z0-9_-]*$"

#: `hunter run`'s own options, as input names: an input called `send` could not be given as
#: --send, which turns on real delivery instead. A test keeps this equal to the command's.
RUN_OPTION_NAMES = ("customer", "help", "input", "input_json", "json", "no_cache", "plan", "send")
_CONTROL_NAMES = list(STEP_CONTROLS_SCHEMA["properties"])


def _spellings(name: str) -> tuple[str, str]:
    """An input name as written in the recipe, with underscores or with dashes (both reach
    the same --option: dashes become underscores)."""
    return name, name.replace("_", "-")


def _step_def(type_name: str, params: dict[str, Any]) -> dict[str, Any]:
    params = copy.deepcopy(params)
    declared = params.get("properties", {})
    clash = sorted(set(declared) & set(_CONTROL_NAMES))
    if clash:
        raise ValueError(
            f"step type {type_name!r} redefines step controls as parameters: {', '.join(clash)}"
        )
    # Controls are validated by step_controls; naming them here (as `true`) stops the
    # params schema's additionalProperties: false from rejecting them.
    params["properties"] = {**{name: True for name in _CONTROL_NAMES}, **declared}
    parts: list[dict[str, Any]] = [{"$ref": "#/$defs/step_controls"}, params]
    if not params.get(TOKEN_PRICED_KEY):
        # A price per token on a step that uses no tokens would make it free.
        credits = {
            "title": "Credits",
            "description": f"A {type_name} step uses no AI tokens: its price is a fixed "
            "number of credits (per_1k_tokens is for ai steps only).",
            "not": PER_TOKEN_CREDITS,
        }
        parts.append({"properties": {"credits": credits}})
    return {
        "title": params.get("title", f"{type_name} step"),
        "description": params.get("description", f"A step of type {type_name!r}."),
        "allOf": parts,
    }


def build_recipe_schema(step_params: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Build the recipe JSON Schema (draft 2020-12) for the given step types.

    ``step_params`` maps a step type name to the JSON Schema of its parameters (every key of
    a step except the common controls). A step is matched to its type's schema by ``type``
    (if/then per type); a ``type`` not in ``step_params`` fails the ``enum`` on ``type``.
    """
    if not step_params:
        raise ValueError("at least one step type is required")
    names = sorted(step_params)
    defs: dict[str, Any] = {
        "step": {
            "title": "Step",
            "description": "One step of the recipe: common controls plus the parameters of "
            "its type.",
            "type": "object",
            "properties": {
                "type": {
                    "title": "Step type",
                    "description": "Which kind of step this is: " + ", ".join(names) + ".",
                    "enum": names,
                }
            },
            "required": ["id", "type"],
            "allOf": [
                {
                    "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                    "then": {"$ref": f"#/$defs/step_{name}"},
                }
                for name in names
            ],
        },
        "step_controls": copy.deepcopy(STEP_CONTROLS_SCHEMA),
    }
    for name in names:
        defs[f"step_{name}"] = _step_def(name, step_params[name])

    return {
        "$schema": META_SCHEMA_URI,
        "$id": RECIPE_SCHEMA_ID,
        "title": "Hunter recipe",
        "description": "A lead-generation recipe: typed steps run in order with templated "
        "parameters.",
        "type": "object",
        "properties": {
            "$schema": {
                "title": "Schema",
                "description": "Optional URI of this schema, for editors.",
                "type": "string",
            },
            "slug": {
                "title": "Slug",
                "description": "Stable identifier of the recipe: lower-case letters, digits, "
                "'-' and '_'.",
                "type": "string",
                "pattern": SLUG_PATTERN,
            },
            "name": {
                "title": "Name",
                "description": "Human-readable name of the recipe.",
                "type": "string",
                "minLength": 1,
            },
            "version": {
                "title": "Version",
                "description": "Your version of the recipe, an integer or a string such as "
                "'1.2'. Runs record which stored copy they ran as recipe_version: hunter numbers "
                "each distinct content of a slug 1, 2, 3..., whatever this field says.",
                "type": ["integer", "string"],
            },
            "description": {
                "title": "Description",
                "description": "What the recipe does and when to use it.",
                "type": "string",
            },
            "inputs": {
                "title": "Inputs",
                "description": "JSON Schema (draft 2020-12, type object) for the run's input; "
                "templates read the values as inputs.<name>. A property's errorMessage (such as "
                "'must contain letters or digits') is what a refused value is told.",
                "$ref": META_SCHEMA_URI,
                "type": "object",
                "properties": {
                    "type": {
                        "title": "Input type",
                        "description": "The run's input is always an object.",
                        "const": "object",
                    },
                    "properties": {
                        "title": "Input fields",
                        "description": "The inputs, given to `hunter run` as --NAME VALUE; a "
                        "name may not be one of run's own options: "
                        + ", ".join(RUN_OPTION_NAMES)
                        + ".",
                        "propertyNames": {
                            "not": {
                                "enum": sorted(
                                    {n for name in RUN_OPTION_NAMES for n in _spellings(name)}
                                )
                            }
                        },
                    },
                },
                "required": ["type"],
            },
            "steps": {
                "title": "Steps",
                "description": "The steps, run in order; a step can read earlier steps' "
                "results as steps.<id>.output.",
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/$defs/step"},
            },
            "outputs": {
                "title": "Outputs",
                "description": "What the run returns: output name -> value (templates "
                "rendered after the last step).",
                "type": "object",
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"},
                "additionalProperties": {
                    "title": "Output value",
                    "description": "A template such as '{{ steps.score.output }}' or a literal.",
                },
            },
        },
        "required": ["slug", "name", "version", "steps"],
        "additionalProperties": False,
        "$defs": defs,
    }


def render_schema_json(step_params: dict[str, dict[str, Any]] | None = None) -> str:
    """The schema as the exact text of the shipped ``recipe.schema.json``."""
    schema = build_recipe_schema(DEFAULT_STEP_PARAMS if step_params is None else step_params)
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


@cache
def _shipped_text() -> str:
    return RECIPE_SCHEMA_PATH.read_text(encoding="utf-8")


def load_shipped_schema() -> dict[str, Any]:
    """The schema shipped next to this module (built from ``DEFAULT_STEP_PARAMS``)."""
    return json.loads(_shipped_text())


if __name__ == "__main__":
    sys.stdout.write(render_schema_json())
