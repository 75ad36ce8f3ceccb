"""Unknown keywords in a recipe's JSON Schemas are reported; every real one is known."""

from __future__ import annotations

from hunter_cli.recipe import load_recipe_text, validate_recipe
from hunter_cli.recipe.schema_keywords import KNOWN_KEYWORDS, unknown_keywords


def test_known_keywords_are_draft_2020_12s_and_hunters() -> None:
    from jsonschema_specifications import REGISTRY

    vocabularies = set()
    for uri in REGISTRY:
        if "/draft/2020-12/meta/" in uri:
            vocabularies |= set(REGISTRY.contents(uri).get("properties", {}))
    assert vocabularies | {"errorMessage", "definitions"} == KNOWN_KEYWORDS


def test_a_typo_in_flow_style_inputs_is_reported() -> None:
    text = """\
slug: t
name: T
version: 1
inputs: {type: object, properties: {n: {type: integer}}, requird: [n]}
steps:
  - {id: a, type: ai, prompt: "{{ inputs.n }}"}
"""
    problems = validate_recipe(load_recipe_text(text, "t.yaml"))
    assert [str(p) for p in problems] == [
        "t.yaml:4:58: inputs.requird: unknown keyword 'requird' (did you mean 'required'?)"
    ]


def test_extensions_and_data_are_not_keywords() -> None:
    schema = {
        "type": "object",
        "x-owner": "sales",
        "X-Editor": {"requird": 1},
        "properties": {"requird": {"type": "string", "default": {"whatever": 1}}},
        "enum": [{"typo": 1}],
        "examples": [{"minimun": 2}],
        "dependentRequired": {"a": ["b"]},
        "$defs": {"n": {"type": "integer", "errorMessage": "must be a number"}},
    }
    assert list(unknown_keywords(schema)) == []
    assert list(unknown_keywords({"if": {"const": 1, "thne": {}}}, ("x",))) == [
        (("x", "if", "thne"), "unknown keyword 'thne' (did you mean 'then'?)")
    ]
