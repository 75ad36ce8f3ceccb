"""`action: lead_search`: ask a lead provider (default: the bundled `local` dataset) for
people matching a query, keywords and filters. Finding is not storing: a later
`db_query upsert_leads` step keeps them.

Providers: `local` (the sample dataset), `csv` (your own file: the step's `path` or
[providers.csv] path), `hunter_io` (one company by domain: the query or filters.domain) and
`apollo` (role keywords become titles, the rest keywords; filters become Apollo's fields).
Settings come from hunter.toml's [providers.NAME] table; an API key from the environment
variable it names. `preflight_lead_providers` lets a run check those keys before it reserves
any credits.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from hunter_cli.components.base import StepContext, StepError, TransientStepError

DEFAULT_PROVIDER = "local"
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000  # an API provider pages (and may charge) per request: at most this many
MAX_FILE_LIMIT = 1_000_000  # a file is read whole anyway
# Providers that search a file: the step's `path` names it.
FILE_PROVIDERS = ("csv", "local")


def _provider_name(params: dict[str, Any]) -> str:
    name = params.get("provider") or DEFAULT_PROVIDER
    if not isinstance(name, str):
        raise StepError(f"provider must be a name such as 'local', not {name!r}")
    return name.strip()


def _split_keywords(value: Any) -> list[str]:
    """A list, or text separated by commas or new lines (an AI step's answer)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[,;\n]", value) if part.strip()]
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    raise StepError(f"keywords must be a list or comma-separated text, not {type(value).__name__}")


def _query_and_keywords(value: Any) -> tuple[str, list[str]]:
    """`query` is text, but a recipe may hand over an expand_query step's whole output."""
    if value is None:
        return "", []
    if isinstance(value, str):
        return value, []
    if isinstance(value, list):
        return "", _split_keywords(value)
    if isinstance(value, dict):
        inner = value.get("data")
        data: dict[str, Any] = inner if isinstance(inner, dict) else value
        query = data.get("query")
        text = query if isinstance(query, str) else ""
        keywords = data.get("keywords")
        if keywords is None and isinstance(value.get("text"), str):
            keywords = value["text"]
        return text, _split_keywords(keywords)
    return str(value), []


def _limit(value: Any, provider: str, warnings: list[str]) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    if isinstance(value, bool):
        raise StepError(f"limit must be a whole number, not {value!r}")
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise StepError(f"limit must be a whole number, not {value!r}") from None
    if limit < 1:
        raise StepError(f"limit must be at least 1, not {value!r}")
    cap = MAX_FILE_LIMIT if provider in FILE_PROVIDERS else MAX_LIMIT
    if limit > cap:
        warnings.append(
            f"lead_search: limit {limit} is more than {provider} gives ({cap}): using {cap}"
        )
    return min(limit, cap)


def provider_settings(name: str, settings: Any) -> dict[str, Any]:
    """Settings for a provider from hunter.toml's [providers.NAME] table, if any."""
    config = settings.section("providers").get(name)
    return dict(config) if isinstance(config, dict) else {}


def resolve_path(value: Any, settings: Any) -> str:
    """A file named in a recipe or hunter.toml, relative to the workspace (not to wherever
    the command happens to run)."""
    if not isinstance(value, str) or not value.strip():
        raise StepError(f"path must name a file, not {value!r}")
    path = Path(value.strip()).expanduser()
    if not path.is_absolute() and settings.workspace is not None:
        path = Path(settings.workspace) / path
    return str(path)


def build_provider(
    name: str,
    settings: Any,
    *,
    path: Any = None,
    deadline: float | None = None,
) -> Any:
    """The named provider with its hunter.toml settings (plus the step's csv `path` and
    deadline), or StepError for an unknown name or a bad setting."""
    from hunter_cli.providers.leads import PROVIDERS, LeadProviderError, get_provider

    if name not in PROVIDERS:
        raise StepError(f"unknown lead provider {name!r}; known providers: " + ", ".join(PROVIDERS))
    config = provider_settings(name, settings)
    if path is not None:
        if name not in FILE_PROVIDERS:
            raise StepError(f"path names a file for the csv provider; {name} does not read one")
        config["path"] = path
    if isinstance(config.get("path"), str):
        config["path"] = resolve_path(config["path"], settings)
    if deadline is not None:
        config["deadline"] = deadline
    try:
        return get_provider(name, config)
    except LeadProviderError as exc:
        raise StepError(exc.message) from None
    except TypeError as exc:  # a setting the provider does not take
        raise StepError(f"hunter.toml: providers.{name}: {exc}") from None


def provider_failure(name: str, exc: Exception) -> StepError:
    """A provider's exception as the step's: transient ones keep their Retry-After. One the
    provider already retried as often as its max_retries allows fails the step for good: the
    step's `retry` would repeat those tries (see api_client)."""
    from hunter_cli.providers.leads import TransientLeadProviderError

    message = getattr(exc, "message", str(exc))
    prefix = "" if message.startswith(f"{name}:") else f"lead provider {name}: "
    if isinstance(exc, TransientLeadProviderError) and exc.exhausted:
        return StepError(
            f"{prefix}{message}; not retried by the step ([providers.{name}] max_retries "
            "sets how often a request is tried)"
        )
    if isinstance(exc, TransientLeadProviderError):
        error = TransientStepError(prefix + message)
        error.retry_after = exc.retry_after  # type: ignore[attr-defined]
        return error
    return StepError(prefix + message)


def key_status(provider: Any) -> dict[str, Any] | None:
    """Whether the provider's key variable is set (never its value); None if it needs none."""
    env = getattr(provider, "api_key_env", None)
    if not env:
        return None
    return {"name": env, "set": bool(os.environ.get(env, "").strip())}


class LeadSearch:
    """Returns {"leads": [...], "count": n, "provider": name}."""

    def run(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        from hunter_cli.providers.leads import LeadProviderError, LeadQuery

        name = _provider_name(params)
        text, from_query = _query_and_keywords(params.get("query"))
        keywords = list(dict.fromkeys([*from_query, *_split_keywords(params.get("keywords"))]))
        filters = params.get("filters") or {}
        if not isinstance(filters, dict):
            raise StepError(f"filters must be a mapping, not {type(filters).__name__}")
        query = LeadQuery(
            query=text,
            keywords=keywords,
            filters=dict(filters),
            limit=_limit(params.get("limit"), name, ctx.warnings),
        )
        provider = build_provider(
            name, ctx.settings, path=params.get("path"), deadline=ctx.deadline
        )
        if hasattr(provider, "answers"):
            # A retried attempt is given the pages and enrichment batches earlier attempts
            # were answered (and charged) for, and asks only for the rest.
            provider.answers = ctx.memo.setdefault(f"answers:{name}", {})
        ctx.meta["provider"] = name
        try:
            leads = provider.search(query)
        except LeadProviderError as exc:
            raise provider_failure(name, exc) from None
        finally:
            requests = getattr(provider, "requests_made", None)
            if requests is not None:
                ctx.meta["requests"] = requests
        ctx.check_deadline()
        for lead in leads:
            lead.setdefault("source_provider", name)  # provenance of every stored field
        return {"leads": leads, "count": len(leads), "provider": name}

    def plan(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        name = _provider_name(params)
        plan: dict[str, Any] = {"provider": f"leads:{name}"}
        try:
            status = key_status(build_provider(name, ctx.settings, path=params.get("path")))
        except StepError:
            status = None
        if status is not None:
            plan["api_key_env"] = status
            if not status["set"]:  # the run is refused before it starts (see preflight)
                plan["problem"] = f"{name} needs an API key: {status['name']} is not set"
        return plan


# --- preflight -----------------------------------------------------------------------------


def _static(value: Any, inputs: dict[str, Any]) -> Any:
    """A parameter as far as the run's inputs decide it; None when it needs earlier steps."""
    from hunter_cli.recipe.templates import TemplateError, render_value

    try:
        return render_value(value, {"inputs": inputs})
    except TemplateError:
        return None


def _may_run(step: dict[str, Any], inputs: dict[str, Any]) -> bool:
    from hunter_cli.recipe.templates import evaluate_condition

    condition = step.get("if")
    if condition is None:
        return True
    try:
        return bool(evaluate_condition(condition, {"inputs": inputs}))
    except Exception:  # depends on earlier steps (or is broken): it may well run
        return True


def missing_provider_keys(
    steps: list[dict[str, Any]], inputs: dict[str, Any], settings: Any
) -> list[str]:
    """One line per lead_search step (or waterfall with no usable provider) whose provider's
    API key variable is not set. Providers decided by earlier steps are not checked here."""
    problems, _ = _provider_problems(steps, inputs, settings)
    return problems


def _provider_problems(
    steps: list[dict[str, Any]], inputs: dict[str, Any], settings: Any
) -> tuple[list[str], list[str]]:
    """Missing keys (as missing_provider_keys), and unknown provider names, each as one
    line per step."""
    from hunter_cli.providers.leads import PROVIDERS

    problems: list[str] = []
    unusable: list[str] = []
    for step in steps:
        if step.get("type") != "action" or not _may_run(step, inputs):
            continue
        action = step.get("action")
        if action == "lead_search":
            names = [_static(step.get("provider") or DEFAULT_PROVIDER, inputs)]
        elif action == "waterfall" and isinstance(step.get("providers"), list):
            names = [
                _static(entry.get("provider"), inputs)
                for entry in step["providers"]
                if isinstance(entry, dict)
            ]
        else:
            continue
        missing: list[str] = []
        for name in names:
            if not isinstance(name, str):
                missing = []  # decided at run time: cannot judge the step now
                break
            if name.strip() not in PROVIDERS:
                unusable.append(
                    f"step '{step.get('id')}': unknown lead provider {name.strip()!r}; known "
                    "providers: " + ", ".join(PROVIDERS)
                )
                continue
            try:
                status = key_status(build_provider(name.strip(), settings))
            except StepError:
                continue  # a bad setting (a csv path the step gives, say): the step reports it
            if status is not None and not status["set"]:
                missing.append(f"{status['name']} (for {name.strip()})")
        if missing and (action == "lead_search" or len(missing) == len(names)):
            problems.append(
                f"step '{step.get('id')}': environment variable "
                + ", ".join(missing)
                + " is not set"
            )
    return problems, unusable


def preflight_lead_providers(
    steps: list[dict[str, Any]], inputs: dict[str, Any], settings: Any
) -> None:
    """ConfigError before anything is reserved when a lead provider's key is missing. The
    runner calls this just before reserving credits."""
    from hunter_cli.errors import ConfigError

    problems, unusable = _provider_problems(steps, inputs, settings)
    if unusable:
        raise ConfigError("; ".join(unusable))
    if problems:
        raise ConfigError(
            "; ".join(problems)
            + ": set it (or name another in hunter.toml: providers.NAME.api_key_env) and run again"
        )
