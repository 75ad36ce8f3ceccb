"""Sandboxed native templates: rendering, expressions, errors and step references."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2.exceptions import SecurityError

from hunter_cli.recipe import (
    TemplateError,
    TemplateSecurityError,
    TemplateUndefinedError,
    check_syntax,
    evaluate_condition,
    evaluate_expression,
    referenced_names,
    referenced_steps,
    render_value,
)
from hunter_cli.recipe.templates import _compile_template


@pytest.fixture
def ctx() -> dict[str, Any]:
    return {
        "inputs": {"limit": 7, "city": "Berlin", "zip": "02139", "phone": "+4930123"},
        "steps": {
            "search": {"output": {"leads": [{"email": "a@x.io"}], "items": [1, 2]}, "status": "ok"}
        },
        "state": {"seen": []},
        "customer": {"id": "c1"},
        "execution": {"id": "e1"},
    }


def test_native_values_survive(ctx: dict[str, Any]) -> None:
    assert render_value("{{ steps.search.output.leads }}", ctx) == [{"email": "a@x.io"}]
    assert render_value("{{ inputs.limit }}", ctx) == 7
    assert render_value("{{ inputs.limit * 2 }}", ctx) == 14
    assert render_value("{{ false }}", ctx) is False
    assert render_value("{{ 5 }}", ctx) == 5


def test_strings_stay_strings(ctx: dict[str, Any]) -> None:
    assert render_value("Hello {{ inputs.city }}", ctx) == "Hello Berlin"
    assert render_value("{{ inputs.limit }} leads", ctx) == "7 leads"
    assert render_value("{{ inputs.limit }}{{ inputs.limit }}", ctx) == "77"
    # Unlike jinja2's NativeEnvironment, string data is never literal_eval'd into numbers.
    assert render_value("{{ inputs.zip }}", ctx) == "02139"
    assert render_value("{{ inputs.phone }}", ctx) == "+4930123"
    assert render_value("{% if inputs.limit > 5 %}many{% endif %}", ctx) == "many"
    assert render_value("no template here", ctx) == "no template here"


def test_render_walks_structures(ctx: dict[str, Any]) -> None:
    value = {"a": ["{{ inputs.limit }}", 3, None], "b": {"c": "x{{ inputs.city }}"}}
    assert render_value(value, ctx) == {"a": [7, 3, None], "b": {"c": "xBerlin"}}


def test_mapping_keys_win_over_dict_methods(ctx: dict[str, Any]) -> None:
    assert render_value("{{ steps.search.output.items }}", ctx) == [1, 2]


def test_strict_undefined_names_the_variable(ctx: dict[str, Any]) -> None:
    with pytest.raises(TemplateUndefinedError, match="'nope' is undefined"):
        render_value("{{ nope }}", ctx)
    with pytest.raises(TemplateUndefinedError) as caught:
        render_value("Hi {{ steps.serch.output }}", ctx)
    assert str(caught.value) == (
        "undefined value in 'Hi {{ steps.serch.output }}': "
        "'serch' is undefined (available keys: search)"
    )
    with pytest.raises(TemplateError, match="'missing' is undefined"):
        evaluate_expression("inputs.missing", ctx)


def test_a_key_of_a_skipped_steps_output_says_what_none_is(ctx: dict[str, Any]) -> None:
    skipped = {**ctx, "steps": {"maybe": {"output": None, "status": "skipped"}}}
    with pytest.raises(TemplateError) as caught:
        render_value("{{ steps.maybe.output.leads }}", skipped)
    assert "cannot take 'leads' of none (the output of a skipped step is none" in str(caught.value)


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__ }}",
        "{{ inputs.__init__.__globals__ }}",
        "{{ state.seen.append(1) }}",
        "{{ '{0.__class__}'.format(1) }}",
    ],
)
def test_sandbox_refuses_unsafe_access(ctx: dict[str, Any], template: str) -> None:
    with pytest.raises(TemplateSecurityError) as caught:
        render_value(template, ctx)
    assert isinstance(caught.value, TemplateError)
    assert isinstance(caught.value.__cause__, SecurityError)
    assert ctx["state"]["seen"] == []


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ (7 ** (7 ** 10)) % 10 }}", "has more than 10,000 bits"),
        ("{{ ('x' * 10 ** 9) | length }}", "makes more than 1,000,000 characters or items"),
        ("{{ [1] * 10 ** 8 }}", "makes more than 1,000,000"),
        ("{{ 10 ** 8 * [1] }}", "makes more than 1,000,000"),
        ("{{ 2.0 ** 100000 }}", r"\*\* overflowed"),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
            "{% endfor %}{{ ns.s | length }}",
            "joining text with ~ makes more than 1,000,000 characters",
        ),
        (
            "{% set ns = namespace(s=[1]) %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
            "{% endfor %}{{ ns.s | length }}",
            "makes more than 1,000,000 characters or items",
        ),
    ],
)
def test_huge_values_are_refused_not_computed(
    ctx: dict[str, Any], template: str, message: str
) -> None:
    """Regression: `{{ 7 ** 7 ** 10 }}` was folded while compiling, so validating, listing or
    seeding a shared recipe hung; `'x' * 10 ** 9` took a gigabyte."""
    with pytest.raises(TemplateSecurityError, match=message):
        render_value(template, ctx)
    # Compiling (what `recipes validate` and `seed` do) computes nothing.
    assert check_syntax(template) is None
    assert _compile_template(template) is not None


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 'x' | center(10 ** 9) }}", r"center\(1000000000\) makes more than 1,000,000"),
        ("{{ 'a\nb' | indent(10 ** 9) }}", "indent makes more than"),
        ("{{ '%999999999d' | format(1) }}", "width or precision 999999999"),
        ("{{ '%999999999d' % 1 }}", "width or precision 999999999"),
        ("{{ '%*d' % (10 ** 9, 1) }}", "the width 1000000000"),
        ("{{ '{:>999999999}'.format(1) }}", "a format spec with the width or precision"),
        ("{{ '{x:>{w}}'.format(x=1, w=10 ** 9) }}", "a format spec with the width"),
        ("{{ '{a:>{w}}'.format_map({'a': 1, 'w': 10 ** 9}) }}", "a format spec with"),
        ("{{ [1] | batch(10 ** 9, 0) | list }}", "batch or slice by 1000000000"),
        ("{{ [1] | slice(10 ** 9) | list }}", "batch or slice by 1000000000"),
        ("{{ ('a' * 1000000) | replace('a', 'bb') }}", "replace makes more than"),
        ("{{ range(100000) | join('x' * 100) }}", "join makes more than"),
        ("{{ {'a': 1} | tojson(10 ** 9) }}", "tojson's indent must be a number from 0 to 16"),
        ("{{ ('a b ' * 100000) | wordwrap(1, wrapstring='x' * 100) }}", "wordwrap makes more"),
        ("{{ lipsum(10 ** 9) }}", r"lipsum\(1000000000\) makes more than"),
    ],
)
def test_filters_told_to_make_huge_values_refuse(
    ctx: dict[str, Any], template: str, message: str
) -> None:
    """Regression: a size given to a filter or a format (`center(10**9)`, `'%999999999d'`)
    was computed, a gigabyte at a time; each is now refused before computing, as `*` is."""
    with pytest.raises(TemplateSecurityError, match=message):
        render_value(template, ctx)


def test_the_bounded_filters_still_work_at_ordinary_sizes(ctx: dict[str, Any]) -> None:
    cases = {
        "{{ 'x' | center(5) }}": "  x  ",
        "{{ 'a\nb' | indent(2) }}": "a\n  b",
        "{{ '%05.1f|%s' | format(3.14159, 'ok') }}": "003.1|ok",
        "{{ '%(n)s is 100%% sure' % {'n': 'Ann'} }}": "Ann is 100% sure",
        "{{ 7 % 3 }}": 1,
        "{{ '{:>4}|{x:{w}}'.format(1, x='a', w=3) }}": "   1|a  ",
        "{{ '{a}'.format_map({'a': 2}) }}": "2",
        "{{ [1, 2, 3] | batch(2, 0) | list }}": [[1, 2], [3, 0]],
        "{{ [1, 2, 3] | slice(2) | list }}": [[1, 2], [3]],
        "{{ 'abc' | replace('b', 'xx') }}": "axxc",
        "{{ [1, 2] | join(', ') }}": "1, 2",
        "{{ {'a': 1} | tojson(2) }}": '{\n  "a": 1\n}',
        "{{ 'a b c' | wordwrap(2) }}": "a\nb\nc",
        "{{ lipsum(1, false) | length > 0 }}": True,
    }
    for template, expected in cases.items():
        assert render_value(template, ctx) == expected, template


def test_replace_that_shrinks_large_data_is_no_amplification(ctx: dict[str, Any]) -> None:
    """Regression: any text over 1,000,000 characters was refused by replace, even one
    that only made it shorter (data a step had already made that large)."""
    big = {**ctx, "state": {"blob": "example " * 200_000}}
    assert render_value("{{ state.blob | replace('example', 'test') | length }}", big) == 1_000_000
    with pytest.raises(TemplateSecurityError, match="replace makes more than"):
        render_value("{{ state.blob | replace('example', 'examples') }}", big)


def test_small_arithmetic_still_works(ctx: dict[str, Any]) -> None:
    assert render_value("{{ 2 ** 10 }}", ctx) == 1024
    # Up to the limit, exactly: 2 ** 9998 has 9,999 bits (it was refused as "more").
    assert render_value("{{ (2 ** 9998).bit_length() }}", ctx) == 9999
    assert render_value("{{ 10 ** 3000 > 0 }}", ctx) is True
    assert render_value("{{ 'ab' * 3 }}", ctx) == "ababab"
    assert render_value("x {{ 3 * 4 }} y", ctx) == "x 12 y"
    assert render_value("{{ inputs.city ~ '-' ~ inputs.limit }}", ctx) == "Berlin-7"
    assert render_value("{{ [1] + [2] }}", ctx) == [1, 2]
    assert render_value("{{ 1 + 2 }}", ctx) == 3
    assert render_value("{{ false }}", ctx) is False


@pytest.mark.parametrize(
    ("template", "what"),
    [
        ("{{ inputs.city.lower }}", "the function 'lower'"),
        ("{{ namespace }}", "the function 'Namespace'"),
        ("{{ cycler(1, 2) }}", "a Cycler object"),
        ("{{ ['Berlin'.lower] }}", "the function 'lower'"),
        ("{{ {'a': range} }}", "the function 'safe_range'"),
    ],
)
def test_a_helper_instead_of_data_is_a_template_error(
    ctx: dict[str, Any], template: str, what: str
) -> None:
    """Regression: it reached the step's output and failed there as "internal error in step
    (a bug, please report): not JSON serialisable"."""
    with pytest.raises(TemplateError, match=f"gives {what}, not data"):
        render_value(template, ctx)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (
            "{% set sig %}-- {{ customer.name }}{% endset %}Hello {{ item.name }}\n{{ sig }}",
            "Hello Bob\n-- Acme",
        ),
        ("{% macro g(a) %}[{{ a }}]{% endmacro %}{{ g('x') }}", "[x]"),
        ("{% filter upper %}ab {{ n }} cd{% endfilter %}", "AB 7 CD"),
        ("a {{ none }} b", "a  b"),
    ],
)
def test_block_templates_write_each_piece_once(template: str, expected: str) -> None:
    """Regression: a {% set %} block, a macro or a {% filter %} block wrote its first two
    pieces twice, so an email signature ended "-- Acme-- Acme"."""
    ctx = {"customer": {"name": "Acme"}, "item": {"name": "Bob"}, "n": 7}
    assert render_value(template, ctx) == expected


def test_a_function_written_into_text_is_an_error(ctx: dict[str, Any]) -> None:
    """Regression: "Hi {{ item.name.upper }}" queued emails with the subject
    "Hi <built-in method upper of str object at 0x...>"."""
    with pytest.raises(TemplateError, match="the function 'lower' is written into text"):
        render_value("Hi {{ inputs.city.lower }}", ctx)
    assert render_value("Hi {{ inputs.city.lower() }}", ctx) == "Hi berlin"


def test_runtime_errors_become_template_errors(ctx: dict[str, Any]) -> None:
    with pytest.raises(TemplateError, match="ZeroDivisionError"):
        render_value("{{ inputs.limit / 0 }}", ctx)


def test_filters(ctx: dict[str, Any]) -> None:
    assert render_value("{{ inputs.city | slugify }}", ctx) == "berlin"
    assert render_value("{{ 'Zahnärzte in Köln!' | slugify }}", ctx) == "zahnarzte-in-koln"
    assert render_value("{{ 'Bob@WWW.Example.com' | domain_of }}", ctx) == "example.com"
    assert render_value("{{ 'https://www.acme.io/about' | domain_of }}", ctx) == "acme.io"
    assert render_value("{{ 'acme.io/x' | domain_of }}", ctx) == "acme.io"
    assert render_value("{{ {'a': '<b>'} | tojson }}", ctx) == '{"a": "<b>"}'
    assert render_value("{{ inputs.nothing | default(3) }}", ctx) == 3


def test_expressions_bare_and_braced(ctx: dict[str, Any]) -> None:
    assert evaluate_expression("inputs.limit > 5", ctx) is True
    assert evaluate_expression("{{ inputs.limit > 5 }}", ctx) is True
    assert evaluate_expression("{{- inputs.limit -}}", ctx) == 7
    assert evaluate_expression("steps.search.status == 'ok'", ctx) is True


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (None, True),
        (False, False),
        ("inputs.limit > 100", False),
        ("{{ inputs.limit }}", True),
        ("{% if inputs.limit > 100 %}yes{% else %}false{% endif %}", False),
        ("{{ inputs.limit }} > 100", True),  # two parts render to the string "7 > 100"
        ("state.seen", False),
    ],
)
def test_evaluate_condition(ctx: dict[str, Any], expr: Any, expected: bool) -> None:
    assert evaluate_condition(expr, ctx) is expected


def test_referenced_steps_uses_the_ast() -> None:
    template = (
        "{{ steps.a.output }} {{ steps['b'].status }} {{ steps.get('c') }}"
        "{% for lead in steps.d.output %}{{ lead.steps.x }}{% endfor %}{{ steps[name] }}"
        "{{ 'steps.fake' }}"
    )
    assert referenced_steps(template) == {"a", "b", "c", "d"}
    assert referenced_steps("steps.a.output | length > 0", expression=True) == {"a"}
    assert referenced_steps("{% set steps = {} %}{{ steps.a }}") == set()


def test_referenced_names() -> None:
    names = referenced_names("{% set n = 1 %}{{ n }}{{ inputs.city }}{{ inputs.items() }}{{ x }}")
    assert names == {"inputs": {"city"}, "x": set()}


def test_referenced_names_of_a_bare_lookup() -> None:
    # The whole expression is the lookup: the root node of its tree.
    assert referenced_names("inputs.nosuch", expression=True) == {"inputs": {"nosuch"}}
    assert referenced_names("inputs.get('a')", expression=True) == {"inputs": {"a"}}
    assert referenced_names("inputs['b']", expression=True) == {"inputs": {"b"}}


def test_check_syntax() -> None:
    assert check_syntax("Hello {{ name }}") is None
    assert check_syntax("Hello {{ name }") == "unexpected '}'"
    assert check_syntax("{{ x | nosuch }}") == "No filter named 'nosuch'."
    assert check_syntax("a > 1", expression=True) is None
    assert check_syntax("a >", expression=True) == "unexpected 'end of template'"
    assert check_syntax("a b", expression=True) == "unexpected text after the expression"
    assert check_syntax("line one\n{{ x }\n") == "unexpected '}' (template line 2)"
    with pytest.raises(TemplateError, match="template syntax error"):
        referenced_steps("{{ x")


@pytest.mark.parametrize(
    "template",
    [
        "{{ steps.search.output.leads }}",
        "{{steps.search.output.items}}",
        "{{ inputs.zip }}",
        "{{ state }}",
        "{{ true }}",
        "{{ none }}",
        " {{ inputs.city }}",  # text around it: a string
    ],
)
def test_a_lone_dotted_name_renders_as_jinja_renders_it(ctx: dict[str, Any], template: str) -> None:
    """Plain dotted names are followed directly (the fast path); the value is Jinja's own,
    the same object, not a copy."""
    from hunter_cli.recipe.templates import _compile_template

    expected = _compile_template(template).render(ctx)
    got = render_value(template, ctx)
    if callable(expected):
        assert callable(got)
    else:
        assert got == expected and type(got) is type(expected)
    if template == "{{ steps.search.output.leads }}":
        assert got is ctx["steps"]["search"]["output"]["leads"]


def test_a_lone_dotted_name_that_is_missing_gives_jinjas_message(ctx: dict[str, Any]) -> None:
    with pytest.raises(TemplateUndefinedError) as caught:
        render_value("{{ steps.search.output.nope }}", ctx)
    assert str(caught.value) == (
        "undefined value in '{{ steps.search.output.nope }}': "
        "'nope' is undefined (available keys: items, leads)"
    )
    with pytest.raises(TemplateUndefinedError, match="'nothing' is undefined"):
        render_value("{{ nothing.at.all }}", ctx)


def test_none_inside_text_is_nothing_and_alone_stays_none(ctx: dict[str, Any]) -> None:
    lead = {**ctx, "item": {"name": None, "company": "Acme"}}
    assert render_value("Hello {{ item.name }} at {{ item.company }}", lead) == "Hello  at Acme"
    assert render_value("{{ item.name }}", lead) is None


def test_whitespace_around_one_expression_keeps_its_native_value(ctx: dict[str, Any]) -> None:
    # A stray space, or a YAML folded block (`items: >`) that ends in a newline, must not
    # turn a list into its text ("items must be a list, got a string").
    leads = [{"email": "a@x.io"}]
    assert render_value(" {{ steps.search.output.leads }}", ctx) == leads
    assert render_value("{{ steps.search.output.leads }}\n", ctx) == leads
    assert render_value("  {{ inputs.limit * 2 }} \n", ctx) == 14
    assert render_value(" {{- inputs.limit -}} ", ctx) == 7
    # Text keeps the whitespace, as in any other template; so does none, as nothing.
    assert render_value(" {{ inputs.city }}\n", ctx) == " Berlin\n"
    assert render_value(" {{- inputs.city }}\n", ctx) == "Berlin\n"
    assert render_value("{{ none }}\n", ctx) == "\n"
    # Anything more than one expression is text.
    assert render_value(" {{ inputs.limit }} leads", ctx) == " 7 leads"
    with pytest.raises(TemplateUndefinedError, match="'nothing' is undefined"):
        render_value(" {{ nothing }}\n", ctx)
