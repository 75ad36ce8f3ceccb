"""Lead providers, registered in one table."""

from __future__ import annotations

import importlib
from typing import Any

from hunter_cli.providers.leads.base import (
    LOOKUPS,
    LeadProvider,
    LeadProviderError,
    LeadQuery,
    MissingApiKeyError,
    TransientLeadProviderError,
    supported_lookups,
)

__all__ = [
    "LOOKUPS",
    "PROVIDERS",
    "LeadProvider",
    "LeadProviderError",
    "LeadQuery",
    "MissingApiKeyError",
    "TransientLeadProviderError",
    "check_settings",
    "get_provider",
    "provider_filters",
    "supported_lookups",
]

# name -> "module:Class". The one place a new lead provider is registered.
PROVIDERS: dict[str, str] = {
    "local": "hunter_cli.providers.leads.local:LocalProvider",
    "csv": "hunter_cli.providers.leads.csv_file:CsvProvider",
    "hunter_io": "hunter_cli.providers.leads.hunter_io:HunterIoProvider",
    "apollo": "hunter_cli.providers.leads.apollo:ApolloProvider",
}


def get_provider(name: str, config: dict[str, Any] | None = None) -> LeadProvider:
    """A provider built from its hunter.toml table ([providers.NAME]). KeyError for an unknown
    name; LeadProviderError for a bad setting; TypeError for an unknown one."""
    target = PROVIDERS.get(name)
    if target is None:
        raise KeyError(f"unknown lead provider {name!r}; known providers: " + ", ".join(PROVIDERS))
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)(**(config or {}))


def check_settings(name: str, config: dict[str, Any]) -> None:
    """LeadProviderError for a setting in hunter.toml's [providers.NAME] that the provider
    refuses: the very checks it makes when a step builds it, made by building it (which
    reads no key, opens no file and calls nobody), so hunter.toml can be checked as it is
    loaded rather than when a step reaches the provider, after earlier steps were charged."""
    if "deadline" in config:  # the step's own, passed in as a setting: not hunter.toml's
        raise LeadProviderError(f"unknown setting providers.{name}.deadline in hunter.toml")
    try:
        get_provider(name, config)
    except TypeError as exc:  # a setting the provider's constructor does not take
        raise LeadProviderError(f"hunter.toml: providers.{name}: {exc}") from None


def provider_filters(name: str) -> tuple[str, ...] | None:
    """The filter names the named provider's search accepts (its module's FILTERS), or None
    for an unknown provider or one that does not list them."""
    target = PROVIDERS.get(name)
    if target is None:
        return None
    filters = getattr(importlib.import_module(target.split(":")[0]), "FILTERS", None)
    return tuple(filters) if filters is not None else None
