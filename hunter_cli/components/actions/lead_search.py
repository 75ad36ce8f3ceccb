"""`action: lead_search`: ask a lead provider (default: the bundled `local` dataset) for
people matching a query, keywords and filters. Finding is not storing: a later
`db_query upsert_leads` step keeps them."""

from __future__ import annotations

import re
from typing import Any

from hunter_cli.components.base import StepContext, StepError, TransientStepError

DEFAULT_PROVIDER = "local"
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000


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
        data = value.get("data") if isinstance(value.get("data"), dict) else value
        text = data.get("query") if isinstance(data.get("query"), str) else ""
        keywords = data.get("keywords")
        if keywords is None and isinstance(value.get("text"), str):
            keywords = value["text"]
        return text, _split_keywords(keywords)
    return str(value), []


def _limit(value: Any) -> int:
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
    return min(limit, MAX_LIMIT)


def _provider_config(name: str, ctx: StepContext) -> dict[str, Any]:
    """Settings for a provider from hunter.toml's [providers.NAME] table, if any."""
    config = ctx.settings.section("providers").get(name)
    return dict(config) if isinstance(config, dict) else {}


class LeadSearch:
    """Returns {"leads": [...], "count": n, "provider": name}."""

    def run(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        from hunter_cli.providers.leads import (
            LeadProviderError,
            LeadQuery,
            TransientLeadProviderError,
            get_provider,
        )

        name = _provider_name(params)
        text, from_query = _query_and_keywords(params.get("query"))
        keywords = list(dict.fromkeys([*from_query, *_split_keywords(params.get("keywords"))]))
        filters = params.get("filters") or {}
        if not isinstance(filters, dict):
            raise StepError(f"filters must be a mapping, not {type(filters).__name__}")
        query = LeadQuery(
            query=text, keywords=keywords, filters=dict(filters), limit=_limit(params.get("limit"))
        )
        try:
            provider = get_provider(name, _provider_config(name, ctx))
            leads = provider.search(query)
        except KeyError as exc:
            raise StepError(str(exc.args[0])) from None
        except TransientLeadProviderError as exc:
            raise TransientStepError(f"lead provider {name}: {exc.message}") from None
        except LeadProviderError as exc:
            raise StepError(f"lead provider {name}: {exc.message}") from None
        ctx.check_deadline()
        ctx.meta["provider"] = name
        return {"leads": leads, "count": len(leads), "provider": name}

    def plan(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        return {"provider": f"leads:{_provider_name(params)}"}
