"""Which AI provider a step gets and with what options, from hunter.toml's [ai] section and
the environment; Retry-After parsing; the pre-flight check the runner calls."""

from __future__ import annotations

import pytest

from hunter_cli.components.ai import preflight, require_ai_ready
from hunter_cli.config import Settings
from hunter_cli.errors import ConfigError
from hunter_cli.providers.ai.config import (
    GROQ_DEFAULT_MODEL,
    check_ai_section,
    readiness_problems,
    resolve_options,
    resolve_provider_name,
)
from hunter_cli.providers.retry_after import retry_after_seconds as parse_retry_after

KEY = "gsk_config_test_key"


def settings(ai: dict | None = None) -> Settings:
    from types import MappingProxyType

    return Settings(None, None, None, None, "tester", MappingProxyType({"ai": ai or {}}))


@pytest.mark.parametrize(
    ("step", "ai", "env", "expected"),
    [
        (None, {}, {}, ("offline", False)),  # nothing configured, no key: offline
        (None, {}, {"GROQ_API_KEY": KEY}, ("groq", False)),  # a key present means groq
        (None, {}, {"GROQ_API_KEY": ""}, ("offline", False)),  # an empty variable is no key
        (None, {"api_key_env": "MY_GROQ"}, {"MY_GROQ": KEY}, ("groq", False)),
        (None, {"provider": "groq"}, {}, ("groq", True)),  # configured: a missing key is an error
        (None, {"provider": "offline"}, {"GROQ_API_KEY": KEY}, ("offline", True)),
        ("openai", {"provider": "groq"}, {}, ("openai", True)),  # the step wins
    ],
)
def test_provider_choice(step, ai, env, expected):
    assert resolve_provider_name(step, ai, env) == expected


def test_defaults_for_groq():
    options = resolve_options("groq", {}, {"GROQ_API_KEY": KEY})
    assert options.model == GROQ_DEFAULT_MODEL == "openai/gpt-oss-120b"
    assert options.api_key_env == "GROQ_API_KEY" and options.api_key == KEY
    assert options.base_url is None and options.timeout == 60.0 and options.max_retries == 2
    assert options.cache is True
    assert KEY not in repr(options)


def test_top_level_keys_configure_the_named_provider_and_tables_win():
    ai = {
        "provider": "groq",
        "model": "llama-3.1-8b-instant",
        "base_url": "http://127.0.0.1:9/",
        "timeout": 5,
        "max_retries": 0,
        "groq": {"model": "openai/gpt-oss-20b"},
        "openai": {"base_url": "http://localhost:11434/v1", "model": "llama3.2", "timeout": 9},
    }
    check_ai_section(ai)
    groq = resolve_options("groq", ai, {})
    assert groq.model == "openai/gpt-oss-20b"  # [ai.groq] wins over [ai]
    assert groq.base_url == "http://127.0.0.1:9/" and groq.timeout == 5.0
    openai = resolve_options("openai", ai, {"GROQ_API_KEY": KEY})
    # [ai]'s model/base_url belong to groq; general keys apply to every provider.
    assert openai.model == "llama3.2" and openai.base_url == "http://localhost:11434/v1"
    assert openai.timeout == 9.0 and openai.max_retries == 0
    assert openai.api_key is None  # no api_key_env: no key, even with others in the env
    assert resolve_options("groq", ai, {}, model="step-model").model == "step-model"


def test_openai_as_the_configured_provider():
    ai = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "api_key_env": "OPENAI_API_KEY",
    }
    options = resolve_options("openai", ai, {"OPENAI_API_KEY": "sk-x"})
    assert (options.model, options.api_key_env, options.api_key) == (
        "gpt-4o-mini",
        "OPENAI_API_KEY",
        "sk-x",
    )
    assert readiness_problems(resolve_options("openai", ai, {})) == [
        "the openai AI provider's key is not set: the environment variable OPENAI_API_KEY "
        "(api_key_env) is empty or missing"
    ]
    assert readiness_problems(resolve_options("openai", {"provider": "openai"}, {})) == [
        "the openai AI provider needs a model: set model under [ai.openai] (or on the step)"
    ]


@pytest.mark.parametrize(
    ("ai", "message"),
    [
        ({"provider": "mixtral"}, "[ai] provider: unknown AI provider 'mixtral'"),
        ({"modle": "x"}, "[ai]: unknown key 'modle'"),
        ({"api_key_env": "gsk_abc-123.xyz"}, "[ai] api_key_env: must name an environment"),
        ({"timeout": 0}, "[ai] timeout: must be a number of seconds above 0"),
        ({"max_retries": -1}, "[ai] max_retries: must be a whole number"),
        ({"groq": {"base_url": "api.groq.com"}}, "[ai.groq] base_url: must be an http"),
        ({"openai": "x"}, "[ai.openai] must be a table"),
        ({"reasoning_effort": "max"}, "[ai] reasoning_effort: must be one of"),
        ({"cache": "no"}, "[ai] cache: must be true or false"),
    ],
)
def test_malformed_ai_section(ai, message):
    with pytest.raises(ConfigError) as raised:
        check_ai_section(ai)
    assert message in raised.value.message


def test_preflight_names_the_missing_variable_once():
    steps = [
        {"id": "a", "type": "ai", "prompt": "x"},
        {"id": "b", "type": "ai", "prompt": "y"},
        {"id": "c", "type": "action", "action": "lead_search"},
    ]
    problem = (
        "the groq AI provider needs an API key, but the environment variable GROQ_API_KEY is "
        'not set (set it, or use [ai] provider = "offline")'
    )
    assert preflight(steps, settings({"provider": "groq"}), {}) == [problem]
    assert preflight(steps, settings({"provider": "groq"}), {"GROQ_API_KEY": KEY}) == []
    assert preflight(steps, settings({}), {}) == []  # offline needs nothing
    with pytest.raises(ConfigError) as raised:
        require_ai_ready(steps, settings({"provider": "groq", "api_key_env": "HUNTER_NO_SUCH_VAR"}))
    assert raised.value.exit_code == 2
    assert "HUNTER_NO_SUCH_VAR is not set" in raised.value.message


def test_preflight_step_overrides_and_templates():
    steps = [
        {"id": "a", "type": "ai", "prompt": "x", "provider": "openai"},
        {"id": "b", "type": "ai", "prompt": "x", "provider": "{{ inputs.provider }}"},
        {"id": "c", "type": "ai", "prompt": "x", "provider": "nope"},
    ]
    assert preflight(steps, settings({}), {}) == [
        "the openai AI provider needs a model: set model under [ai.openai] (or on the step)",
        "unknown AI provider 'nope'; known providers: groq, offline, openai",
    ]
    assert preflight(steps[:1], settings({"openai": {"model": "m"}}), {}) == []
    assert preflight(steps[:1], settings({"bogus": 1}), {}) == [
        "hunter.toml [ai]: unknown key 'bogus'; known keys: api_key_env, base_url, cache, "
        "max_retries, max_retry_wait, model, provider, reasoning_effort, response_format, "
        "retry_backoff, timeout"
    ]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_parse_retry_after(headers, expected):
    assert parse_retry_after(headers) == expected
