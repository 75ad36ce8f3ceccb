"""The recipe format: loading, JSON Schema, templates and validation (not the runner)."""

from typing import Any

from hunter_cli.recipe.loader import LoadedRecipe, NodePath, load_recipe_file, load_recipe_text
from hunter_cli.recipe.problems import RecipeInvalid, RecipeProblem, render_path
from hunter_cli.recipe.step_params import (
    CONTROL_KEYS,
    DEFAULT_STEP_PARAMS,
    EXPRESSION_PARAMS,
    STEP_CONTROLS_SCHEMA,
    split_step,
)
from hunter_cli.recipe.templates import (
    CONTEXT_VARIABLES,
    ITEM_VARIABLES,
    TemplateError,
    TemplateSecurityError,
    TemplateUndefinedError,
    check_syntax,
    evaluate_condition,
    evaluate_expression,
    is_template,
    referenced_names,
    referenced_steps,
    render_value,
)
from hunter_cli.recipe.validate import load_and_validate, validate_recipe

# The schema module is imported on first use (PEP 562) so that
# `python -m hunter_cli.recipe.schema` does not find it already imported by the package.
_SCHEMA_NAMES = frozenset(
    {
        "RECIPE_SCHEMA_ID",
        "RECIPE_SCHEMA_PATH",
        "build_recipe_schema",
        "load_shipped_schema",
        "render_schema_json",
    }
)


def __getattr__(name: str) -> Any:
    if name in _SCHEMA_NAMES:
        from hunter_cli.recipe import schema

        return getattr(schema, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CONTEXT_VARIABLES",
    "CONTROL_KEYS",
    "DEFAULT_STEP_PARAMS",
    "EXPRESSION_PARAMS",
    "ITEM_VARIABLES",
    "LoadedRecipe",
    "NodePath",
    "RECIPE_SCHEMA_ID",
    "RECIPE_SCHEMA_PATH",
    "RecipeInvalid",
    "RecipeProblem",
    "STEP_CONTROLS_SCHEMA",
    "TemplateError",
    "TemplateSecurityError",
    "TemplateUndefinedError",
    "build_recipe_schema",
    "check_syntax",
    "evaluate_condition",
    "evaluate_expression",
    "is_template",
    "load_and_validate",
    "load_recipe_file",
    "load_recipe_text",
    "load_shipped_schema",
    "referenced_names",
    "referenced_steps",
    "render_path",
    "render_schema_json",
    "render_value",
    "split_step",
    "validate_recipe",
]
