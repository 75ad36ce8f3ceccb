"""Checks of steps' literal parameters that a run would otherwise make only on reaching them:
what a value written in the recipe (not rendered from a template) already decides."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hunter_cli.recipe.loader import NodePath
from hunter_cli.recipe.problems import closest, did_you_mean
from hunter_cli.recipe.templates import is_template

__all__ = ["FILE_PROVIDERS", "ParamProblem", "static_param_problems"]

# lead_search's provider when a step names none, and the providers that read the step's
# `path` (hunter_cli.components.actions.lead_search's; a test keeps them equal).
_DEFAULT_LEAD_PROVIDER = "local"
FILE_PROVIDERS = ("csv", "local")
_HTTP_SCHEMES = ("http://", "https://")


@dataclass(frozen=True)
class ParamProblem:
    """A problem at ``path``; ``key``: at the mapping key itself rather than its value."""

    path: NodePath
    message: str
    key: bool = False


def _literal_text(value: Any) -> str | None:
    """``value`` if it is text written as is (no template), else None."""
    return value if isinstance(value, str) and not is_template(value) else None


def _lead_filter_problems(step: dict[str, Any], path: NodePath) -> Iterator[ParamProblem]:
    """A filter the step's provider does not know fails the search every time. Only for a
    provider named as is, and only the names (values may come from templates)."""
    from hunter_cli.providers.leads import provider_filters

    provider = step.get("provider", _DEFAULT_LEAD_PROVIDER)
    name = _literal_text(provider)
    filters = step.get("filters")
    if name is None or not isinstance(filters, dict):
        return
    known = provider_filters(name.strip())
    if known is None:
        return
    for key in filters:
        if isinstance(key, str) and key not in known:
            yield ParamProblem(
                (*path, "filters", key),
                f"unknown filter {key!r} for the {name.strip()} lead provider"
                f"{did_you_mean(key, known)}; known filters: {', '.join(known)}",
                key=True,
            )


def _lead_path_problems(step: dict[str, Any], path: NodePath) -> Iterator[ParamProblem]:
    """`path` names a file to search, which only the file providers read."""
    name = _literal_text(step.get("provider", _DEFAULT_LEAD_PROVIDER))
    if name is not None and "path" in step and name.strip() not in FILE_PROVIDERS:
        yield ParamProblem(
            (*path, "path"),
            f"path names a file for the csv provider; {name.strip()} does not read one",
            key=True,
        )


# waterfall lookups -> the input fields each needs, as alternatives: one of the groups, each
# with at least one of its names (hunter_cli.components.actions.waterfall.lookup_arguments).
_LOOKUP_INPUTS: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "find_email": (
        (("first_name", "last_name", "name", "full_name"), "input.first_name and "
         "input.last_name (or name)"),
        (("domain", "company"), "input.domain (or input.company)"),
    ),
    "verify_email": ((("email",), "input.email, an address"),),
    "enrich_company": ((("domain",), "input.domain"),),
}  # fmt: skip


def _waterfall_input_problems(step: dict[str, Any], path: NodePath) -> Iterator[ParamProblem]:
    """An input mapping written without a field its lookup needs: every run fails on it."""
    given, lookup = step.get("input"), step.get("lookup")
    if not isinstance(given, dict) or not isinstance(lookup, str):
        return
    for names, wanted in _LOOKUP_INPUTS.get(lookup, ()):
        if any(name in given for name in names):
            continue
        hint = ""
        for key in map(str, given):
            meant = closest(key, names)
            if meant is not None:
                hint = f" (input has {key!r}: did you mean {meant!r}?)"
                break
        yield ParamProblem((*path, "input"), f"{lookup} needs {wanted}{hint}")


def _url_problems(value: Any, path: NodePath, what: str) -> Iterator[ParamProblem]:
    """A URL that is not http(s): written as is, or with a template only after a beginning
    that already cannot become http:// or https:// ("127.0.0.1:{{ port }}/x")."""
    if not isinstance(value, str):
        return
    text = value.strip()
    start = len(text)
    for opening in ("{{", "{%"):
        found = text.find(opening)
        if found != -1:
            start = min(start, found)
    head = text[:start].lower()
    templated = start < len(text)
    if head.startswith(_HTTP_SCHEMES):
        return
    if templated and any(scheme.startswith(head) for scheme in _HTTP_SCHEMES):
        return  # the template may still complete the scheme
    shown = value if len(value) <= 60 else value[:57] + "..."
    hint = ""
    if text and "://" not in head:
        hint = ": add the scheme" + ("" if templated else f", e.g. 'http://{text}'")
    yield ParamProblem(path, f"{what} must be an http:// or https:// URL, not {shown!r}{hint}")


def static_param_problems(steps: list[Any]) -> Iterator[ParamProblem]:
    """Problems every run of these steps would meet, knowable from the recipe alone."""
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        path: NodePath = ("steps", index)
        step_type, action = step.get("type"), step.get("action")
        if step_type == "action" and action == "lead_search":
            yield from _lead_filter_problems(step, path)
            yield from _lead_path_problems(step, path)
        elif step_type == "action" and action == "waterfall":
            yield from _waterfall_input_problems(step, path)
        elif step_type == "action" and action == "api_call" and "url" in step:
            yield from _url_problems(step["url"], (*path, "url"), "url")
        elif step_type == "correspondence" and step.get("channel") == "webhook" and "url" in step:
            yield from _url_problems(step["url"], (*path, "url"), "a webhook's url")
