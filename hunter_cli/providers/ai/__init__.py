"""AI providers, registered in one table."""

from __future__ import annotations

import importlib

from hunter_cli.providers.ai.base import AiProvider

PROVIDERS: dict[str, str] = {
    "offline": "hunter_cli.providers.ai.offline:OfflineProvider",
}


def get_provider(name: str, config: dict | None = None) -> AiProvider:
    target = PROVIDERS.get(name)
    if target is None:
        raise KeyError(
            f"unknown AI provider {name!r}; known providers: " + ", ".join(sorted(PROVIDERS))
        )
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)(**(config or {}))
