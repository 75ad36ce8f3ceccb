"""Lead providers, registered in one table."""

from __future__ import annotations

import importlib
from typing import Any

from hunter_cli.providers.leads.base import (
    LeadProvider,
    LeadProviderError,
    LeadQuery,
    TransientLeadProviderError,
)

__all__ = [
    "PROVIDERS",
    "LeadProvider",
    "LeadProviderError",
    "LeadQuery",
    "TransientLeadProviderError",
    "get_provider",
]

# name -> "module:Class". The one place a new lead provider is registered.
PROVIDERS: dict[str, str] = {
    "local": "hunter_cli.providers.leads.local:LocalProvider",
}


def get_provider(name: str, config: dict[str, Any] | None = None) -> LeadProvider:
    target = PROVIDERS.get(name)
    if target is None:
        raise KeyError(
            f"unknown lead provider {name!r}; known providers: " + ", ".join(sorted(PROVIDERS))
        )
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)(**(config or {}))
