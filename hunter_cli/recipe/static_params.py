"""Checks of steps' literal parameters that a run would otherwise make only on reaching them:
what a value written in the recipe (not rendered from a template) already decides."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hunter_cli.recipe.loader import NodePath
from hunter_cli.recipe.templates import is_template

__all__ = ["ParamProblem", "did_you_mean", "static_param_problems"]

# lead_search's provider when a step names none (hunter_cli.components.actions.lead_search).
_DEFAULT_LEAD_PROVIDER = "local"
_HTTP_SCHEMES = ("http://", "https://")


@dataclass(frozen=True)
class ParamProblem:
    """A problem at ``path``; ``key``: at the mapping key itself rather than its value."""

    path: NodePath
    message: str
    key: bool = False


def did_you_mean(name: str, known: list[str] | tuple[str, ...]) -> str:
    """' (did you mean 'x'?)' for the known name closest to a misspelt one, or ''."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


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
        elif step_type == "action" and action == "api_call" and "url" in step:
            yield from _url_problems(step["url"], (*path, "url"), "url")
        elif step_type == "correspondence" and step.get("channel") == "webhook" and "url" in step:
            yield from _url_problems(step["url"], (*path, "url"), "a webhook's url")
