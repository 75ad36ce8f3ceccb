"""AI providers, registered in one table. Modules (and their SDKs) load on first use."""

from __future__ import annotations

import importlib

from hunter_cli.providers.ai.base import AiProvider, ProviderOptions

# name -> "module:Class". The one place a new AI provider is registered (add its defaults to
# config.SPECS too).
PROVIDERS: dict[str, str] = {
    "groq": "hunter_cli.providers.ai.groq:GroqProvider",
    "openai": "hunter_cli.providers.ai.openai_compat:OpenAICompatProvider",
    "offline": "hunter_cli.providers.ai.offline:OfflineProvider",
}


def get_provider(name: str, options: ProviderOptions | None = None) -> AiProvider:
    """A provider ready to call. Raises KeyError for an unknown name, AiProviderError when
    the options cannot work (no key, no model)."""
    target = PROVIDERS.get(name)
    if target is None:
        raise KeyError(
            f"unknown AI provider {name!r}; known providers: " + ", ".join(sorted(PROVIDERS))
        )
    module_name, class_name = target.split(":")
    provider_class = getattr(importlib.import_module(module_name), class_name)
    return provider_class(options or ProviderOptions(name=name))
