"""`data_processing`: dedupe, filter, sort, limit, pick fields from or merge lists of items.

Also home of the small helpers the other actions share: dotted-path lookup (`lookup`),
value comparison (`values_equal`) and type descriptions for error messages (`describe`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from hunter_cli.components.base import StepContext, StepError
from hunter_cli.providers.leads.base import normalise_domain

__all__ = [
    "MISSING",
    "DataProcessing",
    "as_number",
    "clean_text",
    "dedupe_items",
    "describe",
    "field_kind",
    "is_empty",
    "is_truthy",
    "lookup",
    "normalise_value",
    "parse_path",
    "values_equal",
]

DEFAULT_FUZZY_THRESHOLD = 90.0


class _Missing:
    """A path that leads nowhere (distinct from a field that holds null)."""

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()

# --- paths -------------------------------------------------------------------------------------

_SEGMENT = re.compile(r"\[(-?\d+)\]|([^.\[\]]+)")


@lru_cache(maxsize=1024)
def parse_path(path: str) -> tuple[str | int, ...]:
    """`company.tags[0].name` -> ("company", "tags", 0, "name")."""
    parts: list[str | int] = []
    for index, name in _SEGMENT.findall(path):
        parts.append(int(index) if index else name.strip())
    return tuple(parts)


def lookup(value: Any, path: str) -> Any:
    """The value at a dotted path (`data.items[0].id`, `items.0.id`), or MISSING."""
    for part in parse_path(path):
        if isinstance(value, Mapping):
            key: Any = part if part in value else str(part)
            if key not in value:
                return MISSING
            value = value[key]
        elif isinstance(value, list | tuple):
            try:
                value = value[int(part)]
            except (ValueError, IndexError):
                return MISSING
        else:
            return MISSING
    return value


def _last_name(path: str) -> str:
    names = [p for p in parse_path(path) if isinstance(p, str)]
    return names[-1] if names else path


def is_empty(value: Any) -> bool:
    """Nothing worth keeping: missing, null, blank text or an empty collection."""
    if value is None or value is MISSING:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | dict):
        return not value
    return False


def describe(value: Any) -> str:
    """A short description of what a parameter turned out to be, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, Mapping):
        keys = ", ".join(str(k) for k in list(value)[:5]) + (", ..." if len(value) > 5 else "")
        return f"a mapping (keys: {keys or 'none'})"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)}"
    return type(value).__name__


# --- comparison and normalisation ----------------------------------------------------------

_WHITESPACE = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^\w\s]")

# Field names whose values are web addresses, and those that hold a company's name.
_DOMAIN_FIELDS = frozenset(
    {
        "domain",
        "domains",
        "website",
        "web",
        "site",
        "url",
        "homepage",
        "company_domain",
        "website_url",
        "homepage_url",
        "company_website",
    }
)
_COMPANY_FIELDS = frozenset(
    {
        "company",
        "company_name",
        "companyname",
        "organization",
        "organisation",
        "organization_name",
        "organisation_name",
        "org",
        "org_name",
        "employer",
        "business",
        "business_name",
        "account",
        "account_name",
    }
)
# Compared after dots are dropped and accents folded, so "Inc." and "S.A." arrive here as
# "inc" and "sa", and "Société Anonyme" as "societe anonyme".
_COMPANY_SUFFIXES = frozenset(
    {
        "inc",
        "incorporated",
        "llc",
        "llp",
        "lp",
        "ltd",
        "limited",
        "gmbh",
        "mbh",
        "kg",
        "ohg",
        "ug",
        "sa",
        "sas",
        "sarl",
        "sl",
        "srl",
        "spa",
        "ag",
        "bv",
        "nv",
        "ab",
        "as",
        "asa",
        "oy",
        "aps",
        "kk",
        "corp",
        "corporation",
        "co",
        "company",
        "plc",
        "pty",
        "pte",
        "pvt",
        "private",
    }
)

_FALSE_STRINGS = frozenset({"", "false", "no", "off", "0", "none", "null"})


def field_kind(path: str) -> str:
    """How a field's text is normalised: "domain", "company" or plain "text"."""
    names = [p.lower() for p in parse_path(path) if isinstance(p, str)]
    if not names:
        return "text"
    if names[-1] in _DOMAIN_FIELDS:
        return "domain"
    if names[-1] in _COMPANY_FIELDS:
        return "company"
    # company.name is the company's name; a lead's own `name` is a person's.
    if names[-1] == "name" and len(names) > 1 and names[-2] in _COMPANY_FIELDS:
        return "company"
    return "text"


def clean_text(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip().casefold()


def _fold_accents(text: str) -> str:
    """ "Société Générale" -> "Societe Generale": company names are typed both ways."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _normalise_company(text: str) -> str:
    text = _NOT_WORD.sub(" ", _fold_accents(text).replace(".", ""))
    words = text.split()
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    # "Acme Pty Ltd", "Acme Co., Ltd." and "Muster AG & Co. KG" lose every suffix (and the
    # "&" between them), but never the last word.
    while len(words) > 1 and words[-1] in _COMPANY_SUFFIXES:
        words.pop()
        if len(words) > 1 and words[-1] in ("and", "und"):
            words.pop()
    return " ".join(words)


def normalise_value(value: Any, kind: str = "text") -> Any:
    """A hashable, comparable form of value, or None when there is nothing to compare."""
    if is_empty(value):
        return None
    if isinstance(value, str):
        text = clean_text(value)
        if kind == "domain" or text.startswith(("http://", "https://", "www.")):
            # The lead store's own rule, so a step's counts agree with what it stores.
            text = normalise_domain(text) or ""
        elif kind == "company":
            text = _normalise_company(text)
        return text or None
    if isinstance(value, bool | int | float):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", ""))
        except ValueError:
            return None
    try:  # Decimal and friends
        return float(value)
    except (TypeError, ValueError):
        return None


def values_equal(actual: Any, expected: Any) -> bool:
    """Equality as a recipe author means it: text ignores case and surrounding space, and
    numbers compare by value (5 == 5.0 == "5")."""
    if actual is MISSING:
        return False
    if isinstance(actual, str) and isinstance(expected, str):
        return clean_text(actual) == clean_text(expected)
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    a, b = as_number(actual), as_number(expected)
    if a is not None and b is not None:
        return a == b
    return bool(actual == expected)


def is_truthy(value: Any) -> bool:
    """Truth as `if` sees it: the strings "false", "no", "0" and "" are false."""
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE_STRINGS
    return bool(value)


# --- dedupe --------------------------------------------------------------------------------


def _fill_empty(kept: Any, other: Any) -> Any:
    """kept with its empty fields taken from other (recursively for nested mappings); a new
    object when anything changes, so the input (an earlier step's output) is never mutated."""
    if not isinstance(kept, Mapping) or not isinstance(other, Mapping):
        return kept
    merged: dict[str, Any] | None = None
    for key, value in other.items():
        current = kept.get(key, MISSING)
        if is_empty(current) and not is_empty(value):
            new = value
        elif isinstance(current, Mapping) and isinstance(value, Mapping):
            new = _fill_empty(current, value)
            if new is current:
                continue
        else:
            continue
        if merged is None:
            merged = dict(kept)
        merged[key] = new
    return kept if merged is None else merged


def _token_sorted(value: Any, kind: str) -> str | None:
    normal = normalise_value(value, kind)
    if normal is None:
        return None
    return " ".join(sorted(str(normal).split())) or None


def dedupe_items(
    items: list[Any],
    keys: list[str] | None = None,
    fuzzy: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Drop duplicates, keeping the first occurrence (with empty fields filled in from the
    duplicates). Items match when every key matches after normalisation, or, with fuzzy,
    when the token-sorted similarity of one field reaches the threshold and the keys do not
    tell them apart: two items that both have the keys, with different values, are different
    records however alike the fuzzy field (two colleagues' emails at one company)."""
    whole_item = not keys and not fuzzy
    key_kinds = [(k, field_kind(k)) for k in keys or []]
    reason_keys = "+".join(keys or []) or "identical"

    def exact_key(item: Any) -> Any:
        if whole_item:
            return normalise_value(item)
        if not key_kinds:
            return None
        parts = tuple(normalise_value(lookup(item, k), kind) for k, kind in key_kinds)
        # An item missing any key can never be an exact duplicate.
        return None if any(p is None for p in parts) else parts

    scorer: Callable[..., Any] | None = None
    extract_one: Callable[..., Any] | None = None
    extract: Callable[..., Any] | None = None
    fuzzy_field, fuzzy_kind = "", "text"
    threshold = DEFAULT_FUZZY_THRESHOLD
    if fuzzy:
        from rapidfuzz import fuzz, process

        fuzzy_field = fuzzy["field"]
        threshold = float(fuzzy.get("threshold", DEFAULT_FUZZY_THRESHOLD))
        fuzzy_kind = field_kind(fuzzy_field)
        extract_one, extract = process.extractOne, process.extract
        # token_sort_ratio is ratio() of the token-sorted strings; sorting each value once
        # here instead of on every comparison makes large lists several times faster.
        scorer = fuzz.ratio

    kept_items: list[Any] = []
    kept_index: list[int] = []  # input index of each kept item
    position: dict[int, int] = {}  # input index -> position in kept_items
    kept_for_key: dict[Any, int] = {}
    kept_keys: dict[int, Any] = {}  # input index of a kept item -> its exact key, if whole
    # Fuzzy candidates are blocked by the first character of the token-sorted value: names
    # that differ there are rarely the same company, and it keeps the work near-linear.
    blocks: dict[str, tuple[list[str], list[int]]] = {}
    duplicates: list[dict[str, Any]] = []

    for index, item in enumerate(items):
        key = exact_key(item)
        target: int | None = kept_for_key.get(key) if key is not None else None
        reason = reason_keys
        sorted_value: str | None = None
        if target is None and scorer is not None and extract_one and extract:
            sorted_value = _token_sorted(lookup(item, fuzzy_field), fuzzy_kind)
            block = blocks.get(sorted_value[0]) if sorted_value else None
            if block and block[0]:
                if key is None:
                    found = extract_one(
                        sorted_value,
                        block[0],
                        scorer=scorer,
                        processor=None,
                        score_cutoff=threshold,
                    )
                    matches = [found] if found is not None else []
                else:  # the best match whose keys do not differ from this item's
                    matches = [
                        m
                        for m in extract(
                            sorted_value,
                            block[0],
                            scorer=scorer,
                            processor=None,
                            score_cutoff=threshold,
                            limit=None,
                        )
                        if kept_keys.get(block[1][m[2]]) is None
                    ][:1]
                if matches:
                    target = block[1][matches[0][2]]
                    reason = f"fuzzy {fuzzy_field} {round(matches[0][1])}"
        if target is not None:
            at = position[target]
            kept_items[at] = _fill_empty(kept_items[at], item)
            duplicates.append({"kept": target, "dropped": index, "reason": reason})
            if key is not None:
                kept_for_key.setdefault(key, target)
                kept_keys.setdefault(target, key)  # it now stands for this record too
            continue
        position[index] = len(kept_items)
        kept_items.append(item)
        kept_index.append(index)
        if key is not None:
            kept_for_key[key] = index
            kept_keys[index] = key
        if sorted_value:
            values, indexes = blocks.setdefault(sorted_value[0], ([], []))
            values.append(sorted_value)
            indexes.append(index)

    return {
        "items": kept_items,
        "count": len(kept_items),
        "removed": len(duplicates),
        "duplicates": duplicates,
    }


# --- the action ----------------------------------------------------------------------------


def _warn_absent_fields(ctx: StepContext, what: str, fields: list[str], items: list[Any]) -> None:
    """A field that no item has is most often misspelt: say so rather than silently filter
    out everything, sort nothing or pick nulls."""
    if not items:
        return
    for field in fields:
        if all(lookup(item, field) is MISSING for item in items):
            first = items[0]
            known = (
                f"; the first item's fields: {', '.join(str(k) for k in list(first)[:12])}"
                if isinstance(first, Mapping) and first
                else ""
            )
            ctx.warnings.append(
                f"step {ctx.step_id}: {what} field {field!r} is in none of the "
                f"{len(items)} item(s){known}"
            )


def _list_param(params: Mapping[str, Any], name: str) -> list[Any]:
    if name not in params:
        raise StepError(f"{name} is required for operation {params.get('operation')!r}")
    value = params[name]
    if isinstance(value, tuple):
        return list(value)
    if not isinstance(value, list):
        raise StepError(f"{name} must be a list, got {describe(value)}")
    return value


def _field_list(params: Mapping[str, Any], name: str) -> list[str]:
    value = params.get(name)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise StepError(
            f"{name} must be a field name or a list of field names, got {describe(value)}"
        )
    return value


def _sort_key(value: Any) -> tuple[int, Any]:
    # Numbers before text before anything else, so mixed columns sort instead of failing.
    number = None if isinstance(value, str) else as_number(value)
    if number is not None:
        return (0, number)
    if isinstance(value, str):
        return (1, value.casefold())
    return (2, json.dumps(value, sort_keys=True, default=str))


class DataProcessing:
    """Pure list operations; no provider, no database."""

    def run(self, params: dict[str, Any], ctx: StepContext) -> Any:
        operation = params.get("operation")
        handler = getattr(self, f"_{operation}", None) if isinstance(operation, str) else None
        if handler is None:
            raise StepError(
                f"unknown data_processing operation {operation!r}; known: "
                "dedupe, filter, sort, limit, pick, merge"
            )
        return handler(params, ctx)

    def plan(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        return {"provider": None}

    def _dedupe(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        items = _list_param(params, "items")
        keys = _field_list(params, "keys") if params.get("keys") is not None else None
        fuzzy = params.get("fuzzy")
        if fuzzy is not None:
            if not isinstance(fuzzy, Mapping) or not isinstance(fuzzy.get("field"), str):
                raise StepError(f"fuzzy must be a mapping with a field, got {describe(fuzzy)}")
            threshold = as_number(fuzzy.get("threshold", DEFAULT_FUZZY_THRESHOLD))
            if threshold is None or not 0 <= threshold <= 100:
                raise StepError(
                    "fuzzy.threshold must be a number from 0 to 100, got "
                    f"{describe(fuzzy.get('threshold'))}"
                )
            fuzzy = {"field": fuzzy["field"], "threshold": threshold}
        return dedupe_items(items, keys, fuzzy)

    def _filter(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        from hunter_cli.recipe.templates import TemplateError

        items = _list_param(params, "items")
        where = params.get("where")
        if isinstance(where, Mapping):
            _warn_absent_fields(ctx, "filter", [str(f) for f in where], items)
        kept: list[Any] = []
        for index, item in enumerate(items):
            extra = {"item": item, "index": index}
            try:
                if isinstance(where, str):
                    keep = is_truthy(ctx.evaluate(where, extra))
                elif isinstance(where, Mapping):
                    keep = all(
                        self._field_matches(lookup(item, field), ctx.render(expected, extra))
                        for field, expected in where.items()
                    )
                else:
                    raise StepError(
                        "where must be an expression or a mapping of field -> "
                        f"value, got {describe(where)}"
                    )
            except TemplateError as exc:
                raise StepError(f"where failed on item {index}: {exc.message}") from None
            if keep:
                kept.append(item)
        return {"items": kept, "count": len(kept), "removed": len(items) - len(kept)}

    @staticmethod
    def _field_matches(actual: Any, expected: Any) -> bool:
        # A list of expected values means "any of these" (unless the field is a list too).
        if isinstance(expected, list) and not isinstance(actual, list):
            return any(values_equal(actual, e) for e in expected)
        return values_equal(actual, expected)

    def _sort(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        items = list(_list_param(params, "items"))
        fields = _field_list(params, "by")
        descending = params.get("descending", False)
        if not isinstance(descending, bool):
            raise StepError(f"descending must be true or false, got {describe(descending)}")
        _warn_absent_fields(ctx, "sort", fields, items)
        # One stable pass per field, last field first; missing values always go last,
        # whatever the direction.
        for field in reversed(fields):
            present: list[Any] = []
            absent: list[Any] = []
            for item in items:
                (absent if lookup(item, field) in (None, MISSING) else present).append(item)
            present.sort(key=lambda item: _sort_key(lookup(item, field)), reverse=descending)
            items = present + absent
        return {"items": items, "count": len(items)}

    def _limit(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        items = _list_param(params, "items")
        count = params.get("count")
        number = None if isinstance(count, bool) else as_number(count)
        if number is None or number < 0 or number != int(number):
            raise StepError(f"count must be a whole number of at least 0, got {describe(count)}")
        kept = items[: int(number)]
        return {"items": kept, "count": len(kept)}

    def _pick(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        items = _list_param(params, "items")
        fields = _field_list(params, "fields")
        names: dict[str, str] = {}
        for field in fields:
            name = _last_name(field)
            if name in names:
                raise StepError(
                    f"fields {names[name]!r} and {field!r} would both be output as "
                    f"{name!r}; pick only one of them"
                )
            names[name] = field
        _warn_absent_fields(ctx, "pick", fields, items)
        picked = []
        for item in items:
            row = {}
            for name, field in names.items():
                value = lookup(item, field)
                row[name] = None if value is MISSING else value
            picked.append(row)
        return {"items": picked, "count": len(picked)}

    def _merge(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        lists = _list_param(params, "lists")
        merged: list[Any] = []
        for position, part in enumerate(lists):
            if part is None:  # e.g. the output of a step that found nothing
                continue
            if not isinstance(part, list | tuple):
                raise StepError(f"lists[{position}] must be a list, got {describe(part)}")
            merged.extend(part)
        return {"items": merged, "count": len(merged)}
