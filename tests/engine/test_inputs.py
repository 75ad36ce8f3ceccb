"""A run's input: typed from the command line, defaults applied, checked field by field."""

from __future__ import annotations

import pytest

from hunter_cli.engine.inputs import BareFlag, prepare_inputs
from hunter_cli.errors import ValidationError

NEEDS_QUERY = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "what to search for"},
        "limit": {"type": "integer", "default": 10, "maximum": 50},
    },
    "required": ["query"],
}
ANYTHING = {"type": "object", "properties": {"limit": {"type": "number"}}}


def test_strings_are_typed_and_defaults_applied():
    assert prepare_inputs(NEEDS_QUERY, {"query": "SaaS", "limit": "5"}) == {
        "query": "SaaS",
        "limit": 5,
    }
    assert prepare_inputs(NEEDS_QUERY, {"query": "SaaS"}) == {"query": "SaaS", "limit": 10}


def test_every_bad_field_is_named():
    with pytest.raises(ValidationError) as caught:
        prepare_inputs(NEEDS_QUERY, {"limit": "99"})
    assert caught.value.details["problems"] == [
        "missing input 'query': what to search for",
        "input 'limit': 99 is greater than the maximum of 50",
    ]


def test_each_schema_is_checked_by_its_own_rules_whatever_came_before():
    """Validators are kept between runs (the last schema object by identity, others by
    their text): alternating schemas must never borrow each other's rules."""
    for _ in range(3):
        with pytest.raises(ValidationError, match="missing input 'query'"):
            prepare_inputs(NEEDS_QUERY, {})
        assert prepare_inputs(ANYTHING, {"limit": "2.5"}) == {"limit": 2.5}
        # An equal schema in a new object is found by its text.
        with pytest.raises(ValidationError, match="missing input 'query'"):
            prepare_inputs(dict(NEEDS_QUERY), {})


def test_a_bad_field_is_reported_with_its_description():
    schema = {
        "type": "object",
        "properties": {"query": {"type": "string", "pattern": "\\w", "description": "What"}},
    }
    with pytest.raises(ValidationError) as bad:
        prepare_inputs(schema, {"query": "!!"})
    # The pattern as the recipe wrote it (regression: '\\\\w', its repr, which the JSON
    # envelope escaped once more).
    assert bad.value.details["problems"] == [
        "input 'query': '!!' does not match the pattern \\w (What)"
    ]


def test_a_property_s_error_message_words_what_it_refuses():
    schema = {
        "type": "object",
        "properties": {
            "query": {
                "type": "string",
                "minLength": 2,
                "pattern": "\\w",
                "errorMessage": "must contain letters or digits",
                "description": "What",
            },
            "city": {"type": "string", "minLength": 2, "errorMessage": "Give a city  name."},
        },
    }
    with pytest.raises(ValidationError) as bad:
        prepare_inputs(schema, {"query": "!", "city": "x"})  # query fails two rules: one line
    assert bad.value.details["problems"] == [
        "input 'city': Give a city name.",
        "input 'query' must contain letters or digits",
    ]
    assert prepare_inputs(schema, {"query": "ok", "city": "Oslo"}) == {
        "query": "ok",
        "city": "Oslo",
    }


def test_a_ref_to_nowhere_in_the_input_schema_is_a_clear_error():
    # A recipe run without `recipes validate` can still carry one.
    schema = {"type": "object", "properties": {"m": {"$ref": "#/$defs/nope"}}}
    with pytest.raises(ValidationError) as caught:
        prepare_inputs(schema, {"m": "x"})
    assert caught.value.message == (
        "the recipe's inputs schema has a $ref that cannot be resolved: there is nothing at "
        "'#/$defs/nope' in this schema (`hunter recipes validate` shows where)"
    )


def test_formats_are_checked():
    schema = {"type": "object", "properties": {"since": {"type": "string", "format": "date"}}}
    assert prepare_inputs(schema, {"since": "2025-01-31"}) == {"since": "2025-01-31"}
    with pytest.raises(ValidationError) as caught:
        prepare_inputs(schema, {"since": "last week"})
    assert caught.value.details["problems"] == ["input 'since': 'last week' is not a 'date'"]


def test_an_undeclared_input_is_a_typo_unless_the_schema_lets_extras_in():
    schema = {"type": "object", "properties": {"limit": {"type": "integer", "default": 20}}}
    with pytest.raises(ValidationError) as caught:
        prepare_inputs(schema, {"limt": "1"})
    assert caught.value.details["problems"] == [
        "unknown input 'limt' (did you mean 'limit'?); this recipe takes: limit"
    ]
    open_schema = {**schema, "additionalProperties": True}
    assert prepare_inputs(open_schema, {"limt": "1"}) == {"limt": "1", "limit": 20}


REF_SCHEMA = {
    "type": "object",
    "$defs": {
        "size": {"type": "integer", "minimum": 1},
        "flag": {"type": "boolean", "default": False},
    },
    "properties": {
        "max_size": {"$ref": "#/$defs/size"},
        "sizes": {"type": "array", "items": {"$ref": "#/$defs/size"}},
        "dry": {"$ref": "#/$defs/flag"},
        "loud": {"enum": [True, False]},
        "level": {"enum": [1, 2, 3]},
        "k": {"const": 5},
        "size": {"oneOf": [{"type": "integer"}, {"enum": ["small", "large"]}]},
        "max-results": {"type": "integer"},
    },
}


def test_command_line_text_is_converted_through_refs_enums_and_branches():
    given = {
        "max_size": "500",
        "sizes": "1,2",
        "loud": "true",
        "level": "2",
        "k": "5",
        "size": "50",
        "max_results": "7",  # --max-results: declared with a dash
    }
    assert prepare_inputs(REF_SCHEMA, given) == {
        "max_size": 500,
        "sizes": [1, 2],
        "dry": False,  # the default in $defs applies
        "loud": True,
        "level": 2,
        "k": 5,
        "size": 50,
        "max-results": 7,
    }
    assert prepare_inputs(REF_SCHEMA, {"dry": BareFlag(), "size": "small"}) == {
        "dry": True,
        "size": "small",
    }


def test_undeclared_names_are_typos_only_where_the_schema_allows_no_others():
    closed = {"type": "object", "properties": {"n": {"type": "integer"}}}
    with pytest.raises(ValidationError):
        prepare_inputs(closed, {"m": "1"})
    for open_schema in (
        {"type": "object"},
        {**closed, "additionalProperties": True},
        {**closed, "patternProperties": {"^x-": {"type": "string"}}},
        {**closed, "allOf": [{"properties": {"m": {"type": "string"}}}]},
    ):
        assert prepare_inputs(open_schema, {"m": "1"})["m"] == "1", open_schema


def test_non_finite_numbers_are_bad_input():
    schema = {"type": "object", "properties": {"ratio": {"type": "number"}, "xs": {}}}
    with pytest.raises(ValidationError) as caught:
        prepare_inputs(schema, {"ratio": "1e999", "xs": [1.0, float("nan")]})
    assert caught.value.details["problems"] == [
        "input 'ratio': inf is not a finite number",
        "input 'xs.1': nan is not a finite number",
    ]


def test_input_errors_spell_values_as_the_input_is_written():
    """`true is not of type 'string'`, not Python's `True`."""
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    with pytest.raises(ValidationError) as raised:
        prepare_inputs(schema, {"city": True})
    assert raised.value.details["problems"] == ["input 'city': true is not of type 'string'"]


def test_a_boolean_property_schema_is_a_schema_too():
    """Regression: `properties: {city: true}` (valid JSON Schema) crashed a run missing it
    with AttributeError instead of saying the input is missing."""
    schema = {"type": "object", "properties": {"city": True}, "required": ["city"]}
    with pytest.raises(ValidationError) as raised:
        prepare_inputs(schema, {})
    assert raised.value.details["problems"] == ["missing input 'city'"]
    assert prepare_inputs(schema, {"city": "Paris"}) == {"city": "Paris"}


def test_an_input_given_twice_is_not_also_called_missing():
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    from hunter_cli.engine.inputs import Repeated

    with pytest.raises(ValidationError) as raised:
        prepare_inputs(schema, {"city": Repeated(["Aa", "Bb"])})
    assert raised.value.details["problems"] == [
        "input 'city' is given 2 times ('Aa', 'Bb'): it takes one value"
    ]


def test_uri_hostname_and_date_time_formats_are_checked():
    """Regression: `format: uri`, `hostname`, `date-time` and `time` passed anything (the
    packages jsonschema checks them with were not installed)."""
    schema = {
        "type": "object",
        "properties": {
            "hook": {"type": "string", "format": "uri"},
            "host": {"type": "string", "format": "hostname"},
            "when": {"type": "string", "format": "date-time"},
        },
    }
    with pytest.raises(ValidationError) as raised:
        prepare_inputs(schema, {"hook": "not a uri", "host": "not a host!!", "when": "yesterday"})
    assert raised.value.details["problems"] == [
        "input 'hook': 'not a uri' is not a 'uri'",
        "input 'host': 'not a host!!' is not a 'hostname'",
        "input 'when': 'yesterday' is not a 'date-time'",
    ]
    good = {"hook": "https://x.example/h", "host": "x.example", "when": "2026-11-26T10:00:00Z"}
    assert prepare_inputs(schema, good) == good
