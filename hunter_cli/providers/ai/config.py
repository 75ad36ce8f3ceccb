"""Which AI provider a step uses and with what settings: hunter.toml's [ai] section plus the
environment (which holds the keys) -> ProviderOptions.

Layout (one rule): the keys directly under [ai] configure the provider [ai] names (groq when
it names none); a table [ai.<provider>] configures that provider and wins over them, so a
step that picks another provider with `provider:` finds its settings there.

    [ai]
    provider = "groq"                # groq | openai | offline; a step may name its own
    model = "openai/gpt-oss-120b"    # a step may name its own with `model:`
    api_key_env = "GROQ_API_KEY"     # the variable holding the key, never the key
    timeout = 60                     # and max_retries, retry_backoff, max_retry_wait, cache

    [ai.openai]                      # any chat-completions server
    base_url = "http://localhost:11434/v1"
    model = "llama3.2"
    api_key_env = ""                 # none: local servers need no key

Provider choice: the step's `provider:`, else [ai] provider, else groq when its key variable
is set (a key present means the user wants it), else offline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hunter_cli.errors import ConfigError
from hunter_cli.providers.ai.base import ProviderOptions
from hunter_cli.suggest import bare_did_you_mean as _meant


@dataclass(frozen=True)
class ProviderSpec:
    model: str | None
    api_key_env: str | None
    key_required: bool


# Groq's production model recommended in place of llama-3.3-70b-versatile, which Groq
# decommissioned on 2026-08-16 (console.groq.com/docs/deprecations).
GROQ_DEFAULT_MODEL = "openai/gpt-oss-120b"

SPECS: dict[str, ProviderSpec] = {
    "groq": ProviderSpec(GROQ_DEFAULT_MODEL, "GROQ_API_KEY", key_required=True),
    # No default key variable: a key is sent only when api_key_env says where it is.
    "openai": ProviderSpec(None, None, key_required=False),
    "offline": ProviderSpec("offline-rules-v1", None, key_required=False),
}
IMPLICIT_PROVIDER = "groq"  # what the top-level [ai] keys configure when [ai] names none

_GENERAL_KEYS = ("timeout", "max_retries", "retry_backoff", "max_retry_wait", "cache")
_PROVIDER_KEYS = ("model", "base_url", "api_key_env", "reasoning_effort", "response_format")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REASONING = ("none", "default", "low", "medium", "high")
_RESPONSE_FORMATS = ("json_object", "none")


def check_ai_section(ai: Mapping[str, Any]) -> None:
    """Refuse a malformed [ai] section with one line naming the key (a typo would otherwise be
    silently ignored and a run charged with the wrong settings)."""
    problem = ai_section_problem(ai)
    if problem is not None:
        raise ConfigError(problem[1])


def ai_section_problem(ai: Mapping[str, Any]) -> tuple[tuple[str, ...], str] | None:
    """What is wrong with an [ai] section, and where (the key's path in hunter.toml, for its
    line), or None. hunter.toml is checked with this as it is loaded; a run checks again."""
    known = {"provider", *_GENERAL_KEYS, *_PROVIDER_KEYS, *SPECS}
    problem = _table_problem(("ai",), ai, known)
    if problem is not None:
        return problem
    provider = ai.get("provider")
    if provider is not None and (not isinstance(provider, str) or provider not in SPECS):
        return ("ai", "provider"), (
            f"hunter.toml [ai] provider: unknown AI provider {provider!r}"
            + (_meant(provider, tuple(SPECS)) if isinstance(provider, str) else "")
            + "; known providers: "
            + ", ".join(sorted(SPECS))
        )
    for name in SPECS:
        table = ai.get(name)
        if table is None:
            continue
        if not isinstance(table, Mapping):
            return ("ai", name), f"hunter.toml [ai.{name}] must be a table"
        problem = _table_problem(("ai", name), table, {*_GENERAL_KEYS, *_PROVIDER_KEYS})
        if problem is not None:
            return problem
    return None


def _table_problem(
    where: tuple[str, ...], table: Mapping[str, Any], known: set[str]
) -> tuple[tuple[str, ...], str] | None:
    shown = "[" + ".".join(where) + "]"
    for key, value in table.items():
        if key in SPECS and key in known and not isinstance(value, Mapping):
            return (*where, key), f"hunter.toml [ai.{key}] must be a table"
        if key not in known and isinstance(value, Mapping) and where == ("ai",):
            # [ai.opnai]: a misspelt provider's table, whose settings would go unused.
            return (*where, key), (
                f"hunter.toml [ai.{key}]: unknown AI provider{_meant(key, tuple(SPECS))}; "
                "known providers: " + ", ".join(sorted(SPECS))
            )
        if key not in known:
            settings = sorted(k for k in known if k not in SPECS)
            return (*where, key), (
                f"hunter.toml {shown}: unknown key {key!r}{_meant(key, settings)}; "
                "known keys: " + ", ".join(settings)
            )
        problem = _value_problem(key, value)
        if problem:
            return (*where, key), f"hunter.toml {shown} {key}: {problem}"
    return None


def _value_problem(key: str, value: Any) -> str | None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if key == "timeout":
        return None if number and value > 0 else "must be a number of seconds above 0"
    if key == "max_retries":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return None if ok else "must be a whole number, 0 or more"
    if key in ("retry_backoff", "max_retry_wait"):
        return None if number and value >= 0 else "must be a number of seconds, 0 or more"
    if key == "cache":
        return None if isinstance(value, bool) else "must be true or false"
    if key == "api_key_env":
        ok = isinstance(value, str) and (value == "" or bool(_ENV_NAME.match(value)))
        return None if ok else "must name an environment variable (GROQ_API_KEY), not hold a key"
    if key == "base_url":
        ok = isinstance(value, str) and value.startswith(("http://", "https://"))
        return None if ok else "must be an http:// or https:// URL"
    if key == "reasoning_effort":
        return None if value in _REASONING else "must be one of " + ", ".join(_REASONING)
    if key == "response_format":
        return None if value in _RESPONSE_FORMATS else "must be json_object or none"
    if key in ("provider", "model"):
        return None if isinstance(value, str) and value else "must be a non-empty string"
    return None


def _merged(name: str, ai: Mapping[str, Any]) -> dict[str, Any]:
    spec = SPECS.get(name, ProviderSpec(None, None, False))
    merged: dict[str, Any] = {"model": spec.model, "api_key_env": spec.api_key_env}
    top_applies = (ai.get("provider") or IMPLICIT_PROVIDER) == name
    for key in _GENERAL_KEYS:
        if key in ai:
            merged[key] = ai[key]
    if top_applies:
        merged.update({k: ai[k] for k in _PROVIDER_KEYS if k in ai})
    table = ai.get(name)
    if isinstance(table, Mapping):
        merged.update({k: v for k, v in table.items() if k in (*_GENERAL_KEYS, *_PROVIDER_KEYS)})
    return merged


def resolve_provider_name(
    step_provider: str | None, ai: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[str, bool]:
    """(provider, chosen explicitly?). Explicit means a step or [ai] named it; implicit is
    groq because its key is set, or offline because nothing is configured."""
    if step_provider:
        return step_provider, True
    configured = ai.get("provider")
    if configured:
        return str(configured), True
    key_env = _merged(IMPLICIT_PROVIDER, ai).get("api_key_env")
    if key_env and environ.get(key_env):
        return IMPLICIT_PROVIDER, False
    return "offline", False


def resolve_options(
    name: str,
    ai: Mapping[str, Any],
    environ: Mapping[str, str],
    *,
    model: str | None = None,
) -> ProviderOptions:
    """The provider's options; a step's `model:` wins over hunter.toml's."""
    merged = _merged(name, ai)
    key_env = merged.get("api_key_env") or None
    values: dict[str, Any] = {
        "name": name,
        "model": model or merged.get("model"),
        "base_url": merged.get("base_url"),
        "api_key_env": key_env,
        "api_key": (environ.get(key_env) or None) if key_env else None,
        "reasoning_effort": merged.get("reasoning_effort"),
    }
    for key, convert in (
        ("timeout", float),
        ("max_retries", int),
        ("retry_backoff", float),
        ("max_retry_wait", float),
        ("response_format", str),
        ("cache", bool),
    ):
        if key in merged:
            values[key] = convert(merged[key])
    return ProviderOptions(**values)


def readiness_problems(options: ProviderOptions) -> list[str]:
    """What stops this provider from being called at all, each in one line."""
    name = options.name
    spec = SPECS.get(name)
    if spec is None:
        return [f"unknown AI provider {name!r}; known providers: " + ", ".join(sorted(SPECS))]
    problems = []
    if spec.key_required and not options.api_key:
        if options.api_key_env:
            problems.append(
                f"the {name} AI provider needs an API key, but the environment variable "
                f'{options.api_key_env} is not set (set it, or use [ai] provider = "offline")'
            )
        else:
            problems.append(f"the {name} AI provider needs api_key_env under [ai.{name}]")
    elif options.api_key_env and not options.api_key:
        problems.append(
            f"the {name} AI provider's key is not set: the environment variable "
            f"{options.api_key_env} (api_key_env) is empty or missing"
        )
    if name == "openai" and not options.model:
        problems.append(
            "the openai AI provider needs a model: set model under [ai.openai] (or on the step)"
        )
    return problems
