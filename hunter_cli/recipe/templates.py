"""Sandboxed Jinja2 templates for recipe values: native results, strict undefined names."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from itertools import islice
from typing import Any
from urllib.parse import urlsplit

from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.nativetypes import NativeCodeGenerator, NativeTemplate
from jinja2.parser import Parser
from jinja2.runtime import StrictUndefined, Undefined, missing
from jinja2.sandbox import ImmutableSandboxedEnvironment

from hunter_cli.recipe.problems import closest

__all__ = [
    "CONTEXT_VARIABLES",
    "ITEM_VARIABLES",
    "TemplateError",
    "TemplateSecurityError",
    "TemplateUndefinedError",
    "check_syntax",
    "evaluate_condition",
    "evaluate_expression",
    "environment",
    "is_single_expression",
    "is_template",
    "referenced_names",
    "referenced_steps",
    "render_value",
]

#: Top-level names the engine puts in every template context.
CONTEXT_VARIABLES = frozenset({"inputs", "steps", "state", "customer", "execution"})
#: Extra names available where a step renders something once per element of ``items``.
ITEM_VARIABLES = frozenset({"item", "index"})

_MISSING = object()
_FALSE_STRINGS = frozenset({"", "false", "no", "off", "0", "none", "null"})


class TemplateError(Exception):
    """A template could not be compiled or evaluated; the message says which and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TemplateUndefinedError(TemplateError):
    """A template used a name or key that is not in the context."""


class TemplateSecurityError(TemplateError):
    """The sandbox refused an operation (private attribute, mutating a value, huge range)."""


class _Undefined(StrictUndefined):
    """StrictUndefined whose message lists the keys that *do* exist, to make typos obvious."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        name = self._undefined_name
        if self._undefined_obj is missing:
            return f"{name!r} is undefined"
        obj = self._undefined_obj
        if isinstance(obj, Mapping):
            keys = sorted(str(k) for k in obj)
            shown = ", ".join(keys[:20]) + (", ..." if len(keys) > 20 else "")
            return f"{name!r} is undefined (available keys: {shown or 'none'})"
        if obj is None:
            return (
                f"cannot take {name!r} of none (the output of a skipped step is none: check it "
                "first, e.g. `steps.ID.output.x if steps.ID.output`)"
            )
        return f"{type(obj).__name__} value has no attribute or item {name!r}"


class _CodeGenerator(NativeCodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame: Any) -> None:
        # `a ~ b` through the environment, which bounds the text it makes: doubling a string
        # in a loop took gigabytes in seconds.
        self.write("environment.bounded_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def _output_child_to_const(self, node: nodes.Expr, frame: Any, finalize: Any) -> Any:
        # Nothing is computed while compiling: `{{ 7 ** 7 ** 10 }}` folded to a constant
        # hung `recipes validate` and `seed`. Only literal text and constants are written out
        # as they are; everything else is evaluated when rendered, under the sandbox's limits.
        if not isinstance(node, nodes.TemplateData | nodes.Const):
            raise nodes.Impossible()
        return super()._output_child_to_const(node, frame, finalize)

    def _output_const_repr(self, group: Iterable[Any]) -> str:
        # Constant-folded output must keep its type like computed output does: "{{ false }}"
        # is False (not the truthy string "False") and "{{ 5 }}" is 5.
        items = list(group)
        if len(items) == 1:
            return repr(items[0])
        return repr("".join("" if v is None else str(v) for v in items))


def _concat(values: Iterable[Any]) -> Any:
    """A lone expression keeps its native value; anything else is joined into a string.

    Unlike jinja2's native_concat this never ``literal_eval``s strings, so a phone number
    "+4930..." or a zip code "02139" coming from data stays a string.
    """
    # An iterator, so the rest below does not start again from the beginning: Jinja passes
    # a list for a macro, a {% set %} block or a {% filter %} block, and the first two
    # pieces of those were written twice ("-- Acme-- Acme").
    values = iter(values)
    head = list(islice(values, 2))
    if not head:
        return ""
    if len(head) == 1:
        raw = head[0]
        if isinstance(raw, Undefined):
            str(raw)  # StrictUndefined raises here, naming the missing variable.
        return raw
    # Within text a missing value is nothing, not "None" ("Hello {{ item.name }}"); a
    # function is a mistake, not text ("<built-in method upper ...>" in an email subject).
    return "".join(_text_piece(v) for v in (*head, *values))


def _text_piece(value: Any) -> str:
    if value is None:
        return ""
    if callable(value) and not isinstance(value, str | Undefined):
        name = getattr(value, "__name__", type(value).__name__)
        raise TemplateError(f"the function {name!r} is written into text: call it, e.g. {name}()")
    return str(value)


#: The most characters or items `*` may build, and the most bits `**` may: far beyond any
#: lead's data, far below what takes a machine's memory or minutes.
MAX_REPEAT = 1_000_000
MAX_POWER_BITS = 10_000


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | tuple) else None


class _Environment(ImmutableSandboxedEnvironment):
    code_generator_class = _CodeGenerator
    concat = staticmethod(_concat)  # type: ignore[assignment]
    # Routed through call_binop below (and never folded at compile time, which the sandbox
    # does not do for intercepted operators).
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def bounded_join(self, parts: Iterable[Any]) -> str:
        """`~`: the parts as text, at most MAX_REPEAT characters."""
        texts = [str(part) for part in parts]
        if sum(map(len, texts)) > MAX_REPEAT:
            raise SecurityError(f"joining text with ~ makes more than {MAX_REPEAT:,} characters")
        return "".join(texts)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "+":
            sizes = (_size(left), _size(right))
            if None not in sizes and sum(sizes) > MAX_REPEAT:  # type: ignore[arg-type]
                raise SecurityError(
                    f"adding values of length {sizes[0]} and {sizes[1]} makes more than "
                    f"{MAX_REPEAT:,} characters or items"
                )
        elif operator == "*":
            for sequence, times in ((left, right), (right, left)):
                size = _size(sequence)
                if size is not None and isinstance(times, int) and size * times > MAX_REPEAT:
                    raise SecurityError(
                        f"repeating a value of length {size} {times} times makes more than "
                        f"{MAX_REPEAT:,} characters or items"
                    )
        elif operator == "%":
            _check_percent(left, right)
        elif (
            operator == "**"
            and isinstance(left, int)
            and isinstance(right, int)
            and right > 0
            and abs(left) > 1
            and right * math.log2(abs(left)) > MAX_POWER_BITS
        ):
            raise SecurityError(
                f"{left} ** {right} has more than {MAX_POWER_BITS:,} bits: too large to compute"
            )
        try:
            return super().call_binop(context, operator, left, right)
        except OverflowError as exc:  # 2.0 ** 10000
            raise SecurityError(f"{operator} overflowed: {exc}") from None

    def wrap_str_format(self, value: Any) -> Any:
        """`'{:>999999999}'.format(x)`: str.format with a width or precision over MAX_REPEAT
        is refused, nested (`{x:>{w}}`) or not, before it is computed (the sandbox's own
        wrapper, which this replaces, would compute it)."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        from jinja2.sandbox import SandboxedFormatter

        class Bounded(SandboxedFormatter):
            def format_field(self, field: Any, spec: str) -> Any:
                _check_spec(spec, "a format spec")
                return super().format_field(field, spec)

        template: str = value.__self__
        formatter = Bounded(self)
        is_map = value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                return str(formatter.vformat(template, (), args[0]))
            return str(formatter.vformat(template, args, kwargs))

        return bounded

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Lead data is full of keys like "items", "keys" or "values"; a dotted name on a
        # mapping must mean the key, not the dict method of the same name.
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)


class _Template(NativeTemplate):
    # NativeTemplate.render calls environment_class.concat, so it must name our class.
    environment_class = _Environment  # type: ignore[assignment]


_Environment.template_class = _Template


def _tojson(value: Any, indent: int | None = None) -> str:
    # Jinja's built-in tojson HTML-escapes <, > and &; recipe output is JSON for APIs and
    # emails, not for embedding in <script>.
    if indent is not None and not (isinstance(indent, int) and 0 <= indent <= MAX_INDENT):
        raise SecurityError(f"tojson's indent must be a number from 0 to {MAX_INDENT}")
    return json.dumps(value, indent=indent, ensure_ascii=False, default=str)


# -- filters whose arguments say how big a result to make -------------------------------------
#: The most spaces tojson may indent by: any real layout, never a page per level.
MAX_INDENT = 16
_NUMBER = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?([#0 +\-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?)[hlL]?.")


def _too_big(size: int, what: str) -> None:
    if size > MAX_REPEAT:
        raise SecurityError(f"{what} makes more than {MAX_REPEAT:,} characters or items")


def _check_spec(spec: str, what: str) -> None:
    """A width or precision in a format spec is as big as the text it makes."""
    for number in _NUMBER.findall(spec):
        if len(number) > 7 or int(number) > MAX_REPEAT:
            raise SecurityError(
                f"{what} with the width or precision {number} makes more than "
                f"{MAX_REPEAT:,} characters"
            )


def _check_percent(text: Any, args: Any) -> None:
    """`'%999999999d' % 1` and the format filter: widths as in _check_spec; a width taken
    from the arguments (`%*d`) may be no bigger either."""
    if not isinstance(text, str):
        return
    specs = _PERCENT_SPEC.findall(text)
    for spec in specs:
        _check_spec(spec, "%-formatting")
    if any("*" in spec for spec in specs):
        values = args if isinstance(args, tuple) else (args,)
        for value in values:
            if isinstance(value, int) and abs(value) > MAX_REPEAT:
                raise SecurityError(
                    f"%-formatting with the width {value} makes more than {MAX_REPEAT:,} characters"
                )


def _bound_sizes(env: Any) -> None:
    """Wrap the built-in filters (and the lipsum global) that make a result as big as an
    argument says: each refuses, before computing, what would pass MAX_REPEAT, as `*` does.
    A wrapper keeps the original's pass_context/eval_context marker, so it is called alike;
    its check is given the arguments after that context."""
    import functools

    filters = env.filters

    def guard(name: str, check: Any) -> None:
        original = filters[name]

        passes_context = hasattr(original, "jinja_pass_arg")

        @functools.wraps(original)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            check(*(args[1:] if passes_context else args), **kwargs)
            return original(*args, **kwargs)

        filters[name] = guarded

    def center(value: Any, width: Any = 80) -> None:
        if isinstance(width, int):
            _too_big(width, f"center({width})")

    def indent(text: Any, width: Any = 4, *args: Any, **kwargs: Any) -> None:
        step = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        lines = str(text).count("\n") + 1
        _too_big(lines * max(step, 0) + len(str(text)), "indent")

    def format_(value: Any, *args: Any, **kwargs: Any) -> None:
        _check_percent(value, kwargs or args)

    def fill(value: Any, count: Any, fill_with: Any = None) -> None:
        if isinstance(count, int):
            _too_big(count, f"batch or slice by {count}")

    def replace(text: Any, old: Any, new: Any, count: Any = None) -> None:
        text, old, new = str(text), str(old), str(new)
        times = text.count(old)
        if isinstance(count, int) and count >= 0:
            times = min(times, count)
        grown = times * (len(new) - len(old))
        if grown > 0:  # text already there is no amplification: only what replace adds
            _too_big(len(text) + grown, "replace")

    def join(value: Any, d: Any = "", attribute: Any = None) -> None:
        if isinstance(d, str) and hasattr(value, "__len__"):  # a list, a range...
            _too_big(len(d) * max(len(value) - 1, 0), "join")

    def wordwrap(text: Any, width: Any = 79, *args: Any, **kwargs: Any) -> None:
        wrapstring = kwargs.get("wrapstring", args[1] if len(args) > 1 else None)
        if isinstance(wrapstring, str) and isinstance(width, int) and width > 0:
            lines = len(str(text)) // width + 1
            _too_big(len(str(text)) + lines * len(wrapstring), "wordwrap")

    guard("center", center)
    guard("indent", indent)
    guard("format", format_)
    guard("batch", fill)
    guard("slice", fill)
    guard("replace", replace)
    guard("join", join)
    guard("wordwrap", wordwrap)

    lipsum = env.globals.get("lipsum")
    if lipsum is not None:

        @functools.wraps(lipsum)
        def bounded_lipsum(n: Any = 5, html: Any = True, min: Any = 20, max: Any = 100) -> Any:  # noqa: A002
            if isinstance(n, int) and isinstance(max, int):
                _too_big(n * max * 12, f"lipsum({n})")  # a word is at most a dozen characters
            return lipsum(n, html, min, max)

        env.globals["lipsum"] = bounded_lipsum


def _slugify(value: Any, separator: str = "-") -> str:
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", separator, text.lower()).strip(separator)


def _domain_of(value: Any) -> str:
    """Domain of an e-mail address or URL, lower-cased and without a leading ``www.``."""
    text = str(value or "").strip()
    if not text:
        return ""
    if "@" in text and "://" not in text:
        domain = text.rsplit("@", 1)[1]
    else:
        domain = urlsplit(text if "://" in text else f"//{text}").hostname or ""
    domain = domain.strip().strip(".").lower()
    return domain[4:] if domain.startswith("www.") else domain


environment = _Environment(
    undefined=_Undefined,
    autoescape=False,
    keep_trailing_newline=True,
    optimized=False,  # no constant folding (see _CodeGenerator): nothing runs at compile time
)
environment.filters.update({"tojson": _tojson, "slugify": _slugify, "domain_of": _domain_of})
_bound_sizes(environment)


def is_template(value: Any) -> bool:
    """True for strings the engine renders: those containing ``{{`` or ``{%``."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _single_expression(text: str) -> str | None:
    """The inner expression if ``text`` is exactly one ``{{ ... }}`` block, else None."""
    stripped = text.strip()
    if not (stripped.startswith("{{") and stripped.endswith("}}")):
        return None
    inner = stripped[2:-2]
    if "{{" in inner or "}}" in inner or "{%" in inner:
        return None
    return inner.strip().removeprefix("-").removesuffix("-").strip()


def is_single_expression(text: str) -> bool:
    """True for a bare expression or one ``{{ ... }}`` block: the forms a condition may take.
    Anything else renders to text, and any non-empty text is true."""
    return not is_template(text) or _single_expression(text) is not None


_UNKNOWN_NAME = re.compile(r"No (filter|test) named '([^']*)'\.?")


def _unknown_name_message(kind: str, name: str) -> str:
    """Jinja's words for an unknown filter or test, with the one most likely meant."""
    known = environment.filters if kind == "filter" else environment.tests
    close = closest(name, sorted(known))
    if close is None:
        return f"No {kind} named '{name}'."
    return f"No {kind} named '{name}' (did you mean '{close}'?)"


def _syntax_message(exc: TemplateSyntaxError, source: str) -> str:
    message = exc.message or str(exc)
    unknown = _UNKNOWN_NAME.fullmatch(message)
    if unknown is not None:
        message = _unknown_name_message(unknown.group(1), unknown.group(2))
    if "\n" in source.strip() and exc.lineno:
        message += f" (template line {exc.lineno})"
    return message


@lru_cache(maxsize=2048)
def _compile_template(source: str) -> _Template:
    try:
        return environment.from_string(source)  # type: ignore[return-value]
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error: {_syntax_message(exc, source)}") from exc


@lru_cache(maxsize=2048)
def _compile_expression(source: str) -> Any:
    try:
        return environment.compile_expression(source, undefined_to_none=False)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error: {_syntax_message(exc, source)}") from exc


def _translate(exc: Exception, source: str) -> TemplateError:
    shown = source if len(source) <= 80 else source[:77] + "..."
    if isinstance(exc, SecurityError):
        return TemplateSecurityError(f"unsafe template operation in {shown!r}: {exc}")
    if isinstance(exc, UndefinedError):
        return TemplateUndefinedError(f"undefined value in {shown!r}: {exc}")
    return TemplateError(f"error evaluating {shown!r}: {type(exc).__name__}: {exc}")


# "{{ steps.search.output.leads }}": a dotted name alone, the commonest template of all.
_REFERENCE = re.compile(r"\{\{ *([A-Za-z]\w*(?:\.[A-Za-z]\w*)*) *\}\}")
# Names Jinja reads as constants, not as variables.
_CONSTANT_NAMES = frozenset({"true", "false", "none", "True", "False", "None"})


@lru_cache(maxsize=2048)
def _reference(source: str) -> tuple[str, ...] | None:
    """The names of a template that is only a dotted name, or None for any other."""
    match = _REFERENCE.fullmatch(source)
    if match is None:
        return None
    names = tuple(match.group(1).split("."))
    return None if names[0] in _CONSTANT_NAMES else names


@lru_cache(maxsize=2048)
def _padded_expression(source: str) -> tuple[str, str, str] | None:
    """(leading, the one ``{{ ... }}`` block, trailing) of a template that is one expression
    with only whitespace around it (" {{ x }}", a YAML ``>`` block's "{{ x }}\\n"); else None.
    Whitespace that ``{{-`` / ``-}}`` removes is left out of leading / trailing."""
    stripped = source.strip()
    if stripped == source or _single_expression(stripped) is None:
        return None
    start = source.index(stripped)
    leading, trailing = source[:start], source[start + len(stripped) :]
    return (
        "" if stripped.startswith("{{-") else leading,
        stripped,
        "" if stripped.endswith("-}}") else trailing,
    )


def _render_string(source: str, context: Mapping[str, Any]) -> Any:
    padded = _padded_expression(source)
    if padded is not None:
        # Stray whitespace around the one expression must not turn a list or a number into
        # its text; a text value keeps the whitespace, as it would in any other template.
        leading, expression, trailing = padded
        rendered = _render_string(expression, context)
        if isinstance(rendered, str) or rendered is None:
            return f"{leading}{rendered or ''}{trailing}"
        return rendered
    path = _reference(source)
    if path is not None:
        # Followed through plain dicts directly, as the template would follow them (a
        # dotted name on a mapping is its key): a render costs more than the lookups. Any
        # other case, a missing name included, is left to Jinja and its messages.
        value: Any = context.get(path[0], _MISSING)
        for name in path[1:]:
            if type(value) is not dict:
                break
            value = value.get(name, _MISSING)
        else:
            if value is not _MISSING and not isinstance(value, Undefined):
                return value
    template = _compile_template(source)
    try:
        rendered = template.render(context)
    except TemplateError:
        raise
    except Exception as exc:
        raise _translate(exc, source) from exc
    bad = _non_data(rendered)  # `{{ namespace }}`, `{{ cycler(1, 2) }}`, `{{ ['x'.lower] }}`
    if isinstance(bad, Undefined):  # `{{ {'names': state.names} }}` before state has names
        try:
            str(bad)  # StrictUndefined raises, naming what is missing
        except Exception as exc:
            raise _translate(exc, source) from exc
    if bad is not None:
        what = (
            f"the function {bad.__name__!r}"
            if callable(bad) and hasattr(bad, "__name__")
            else f"a {type(bad).__name__} object"
        )
        raise TemplateError(
            f"{source!r} gives {what}, not data (call a function; values come from inputs, "
            "steps, state, customer and execution)"
        )
    return rendered


def _non_data(value: Any) -> Any:
    """The first thing in value (walking lists and mappings) that is not data, else None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif not isinstance(item, _DATA):
            return item
    return None


# What a template may give: JSON's values (a tuple is a list), as a step's output holds them.
_DATA = (str, int, float, bool, type(None), dict, list, tuple)


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every template string inside ``value`` (walking dicts and lists) natively.

    ``"{{ steps.search.output.leads }}"`` yields the list itself, with or without whitespace
    around it; ``"Hi {{ name }}"`` yields a string. Strings without ``{{``/``{%`` and
    non-string scalars are returned unchanged.
    """
    if isinstance(value, str):
        return _render_string(value, context) if "{{" in value or "{%" in value else value
    # dict and list first: the Mapping check is an ABC check, slow for every scalar.
    if isinstance(value, dict):
        return {k: render_value(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(v, context) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {k: render_value(v, context) for k, v in value.items()}
    return value


def evaluate_expression(expr: str, context: Mapping[str, Any]) -> Any:
    """Evaluate ``inputs.limit > 5`` or ``"{{ inputs.limit > 5 }}"`` to a native value.

    A string without ``{{``/``{%`` is a bare expression. A single ``{{ ... }}`` block is
    evaluated as that expression; anything more elaborate is rendered as a template.
    """
    inner = _single_expression(expr) if is_template(expr) else expr.strip()
    if inner is None:
        return _render_string(expr, context)
    compiled = _compile_expression(inner)
    try:
        result = compiled(**context)
        if isinstance(result, Undefined):
            str(result)  # Raises with the name of the missing variable.
        return result
    except Exception as exc:
        raise _translate(exc, expr) from exc


def evaluate_condition(expr: str | bool | None, context: Mapping[str, Any]) -> bool:
    """Truth of a step's ``if``; strings such as "false", "no", "0" and "" count as false.

    Strings arise when ``if`` is a multi-part template; treating "False" as true would
    silently run steps the author meant to skip.
    """
    if expr is None:
        return True
    if isinstance(expr, bool):
        return expr
    result = evaluate_expression(expr, context)
    if isinstance(result, str):
        return result.strip().lower() not in _FALSE_STRINGS
    return bool(result)


def _parse(source: str, *, expression: bool) -> nodes.Node:
    try:
        if expression:
            inner = _single_expression(source) if is_template(source) else source.strip()
            if inner is None:
                return environment.parse(source)
            parser = Parser(environment, inner, state="variable")
            node = parser.parse_expression()
            if not parser.stream.eos:
                raise TemplateSyntaxError(
                    "unexpected text after the expression", parser.stream.current.lineno
                )
            return node
        return environment.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error: {_syntax_message(exc, source)}") from exc


def check_syntax(template: str, *, expression: bool = False) -> str | None:
    """Return a syntax error message for ``template`` (or a bare expression), or None if valid.

    Compiles as well as parses, so unknown filters and tests are reported too.
    """
    try:
        if expression:
            inner = _single_expression(template) if is_template(template) else template.strip()
            if inner is None:
                _compile_template(template)
            else:
                _parse(template, expression=True)
                _compile_expression(inner)
        else:
            _compile_template(template)
        # Jinja leaves a filter or test inside {% if %} to be looked up when it runs.
        tree = _parse(template, expression=expression)
        for node in [tree, *tree.find_all((nodes.Filter, nodes.Test))]:
            if isinstance(node, nodes.Filter) and node.name not in environment.filters:
                return _unknown_name_message("filter", node.name)
            if isinstance(node, nodes.Test) and node.name not in environment.tests:
                return _unknown_name_message("test", node.name)
    except TemplateError as exc:
        return exc.message.removeprefix("template syntax error: ")
    return None


def _const_str(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return node.value
    return None


def referenced_names(template: str, *, expression: bool = False) -> dict[str, set[str]]:
    """Map each context variable that ``template`` reads to the attribute/keys read on it.

    ``{{ steps.search.output }}`` gives ``{"steps": {"search"}}``; a variable used whole or
    with a computed key maps to an empty set for that use. Locals bound by ``{% set %}``
    or ``{% for %}`` are not context variables and are left out.
    """
    tree = _parse(template, expression=expression)
    if isinstance(tree, nodes.Template):
        free = meta.find_undeclared_variables(tree)
    else:
        free = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"}
    found: dict[str, set[str]] = {name: set() for name in free}
    # x.items() is a method call, not a key named "items"; only .get('key') names a key.
    calls = [*([tree] if isinstance(tree, nodes.Call) else []), *tree.find_all(nodes.Call)]
    method_lookups = {id(call.node) for call in calls if isinstance(call.node, nodes.Getattr)}
    # find_all skips the root, which is the whole lookup in a bare expression (inputs.x).
    lookups = [tree] if isinstance(tree, nodes.Getattr | nodes.Getitem | nodes.Call) else []
    for node in [*lookups, *tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Call))]:
        key: str | None = None
        target: nodes.Node | None = None
        if isinstance(node, nodes.Getattr):
            if id(node) in method_lookups:
                continue
            target, key = node.node, node.attr
        elif isinstance(node, nodes.Getitem):
            target, key = node.node, _const_str(node.arg)
        elif (
            isinstance(node, nodes.Call)
            and isinstance(node.node, nodes.Getattr)
            and node.node.attr == "get"
            and node.args
        ):
            target, key = node.node.node, _const_str(node.args[0])
        if isinstance(target, nodes.Name) and target.name in found and key is not None:
            found[target.name].add(key)
    return found


#: What `steps.<id>` holds for each step that ran (see the runner), and what `customer` holds.
STEP_FIELDS = frozenset({"output", "status", "error"})
CUSTOMER_FIELDS = frozenset({"id", "slug", "name", "email", "settings"})


def step_fields(template: str, *, expression: bool = False) -> set[tuple[str, str]]:
    """(step id, field) for each `steps.<id>.<field>` (or `steps['<id>']['<field>']`) the
    template reads; a method called on a step's record (`.get(...)`) is not a field."""
    tree = _parse(template, expression=expression)
    calls = [*([tree] if isinstance(tree, nodes.Call) else []), *tree.find_all(nodes.Call)]
    method_lookups = {id(call.node) for call in calls if isinstance(call.node, nodes.Getattr)}
    found: set[tuple[str, str]] = set()
    lookups = [tree] if isinstance(tree, nodes.Getattr | nodes.Getitem) else []
    for node in [*lookups, *tree.find_all((nodes.Getattr, nodes.Getitem))]:
        if id(node) in method_lookups or not isinstance(node, nodes.Getattr | nodes.Getitem):
            continue
        field = node.attr if isinstance(node, nodes.Getattr) else _const_str(node.arg)
        inner = node.node
        if isinstance(inner, nodes.Getattr):
            step: str | None = inner.attr
        elif isinstance(inner, nodes.Getitem):
            step = _const_str(inner.arg)
        else:
            continue
        if isinstance(inner.node, nodes.Name) and inner.node.name == "steps" and step and field:
            found.add((step, field))
    return found


#: What `steps.<id>.status` can be.
STEP_STATUSES = frozenset({"ok", "skipped", "failed"})


def status_comparisons(template: str, *, expression: bool = False) -> set[tuple[str, str]]:
    """(step id, text) for each `steps.<id>.status == 'text'` (or !=, or `in [...]`) the
    template makes: a status it can never have ('success') makes the test always the same."""
    tree = _parse(template, expression=expression)
    found: set[tuple[str, str]] = set()

    def step_of(node: nodes.Node) -> str | None:
        if (
            isinstance(node, nodes.Getattr)
            and node.attr == "status"
            and isinstance(node.node, nodes.Getattr | nodes.Getitem)
            and isinstance(node.node.node, nodes.Name)
            and node.node.node.name == "steps"
        ):
            inner = node.node
            return inner.attr if isinstance(inner, nodes.Getattr) else _const_str(inner.arg)
        return None

    def texts(node: nodes.Node) -> list[str]:
        if isinstance(node, nodes.Const) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, nodes.List | nodes.Tuple):
            return [
                i.value
                for i in node.items
                if isinstance(i, nodes.Const) and isinstance(i.value, str)
            ]
        return []

    compares = [tree] if isinstance(tree, nodes.Compare) else []
    for compare in [*compares, *tree.find_all(nodes.Compare)]:
        if not isinstance(compare, nodes.Compare):
            continue
        sides = [compare.expr, *(op.expr for op in compare.ops)]
        steps = [step for side in sides if (step := step_of(side))]
        values = [text for side in sides for text in texts(side)]
        found.update((step, value) for step in steps for value in values)
    return found


#: Filters whose result is not fixed by their input.
IMPURE_FILTERS = frozenset({"random"})


def is_deterministic(template: str, *, expression: bool = False) -> bool:
    """Whether the same context always gives the same value: no `random` filter (names such
    as `range` or `lipsum` are context the caller checks with referenced_names)."""
    tree = _parse(template, expression=expression)
    nodes_ = [tree, *tree.find_all(nodes.Filter)]
    return not any(isinstance(n, nodes.Filter) and n.name in IMPURE_FILTERS for n in nodes_)


def referenced_steps(template: str, *, expression: bool = False) -> set[str]:
    """Step ids a template reads via ``steps.<id>``, ``steps['<id>']`` or ``steps.get('<id>')``.

    Raises ``TemplateError`` on a syntax error.
    """
    return set(referenced_names(template, expression=expression).get("steps", set()))
