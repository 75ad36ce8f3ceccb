"""hunter.toml.example, the file `hunter init` writes, documents every key the code reads:
its commented-out key lines, uncommented, make a valid hunter.toml naming every key that
hunter.toml's sections, the AI providers, the delivery channels and the lead providers take."""

from __future__ import annotations

import importlib
import inspect
import re
import tomllib
from pathlib import Path

import pytest

from hunter_cli.config import CUSTOMER_KEYS, KNOWN_KEYS, LIMITS_KEYS, load_settings
from hunter_cli.providers import channels, leads
from hunter_cli.providers.ai import config as ai_config
from hunter_cli.providers.leads.api_client import HTTP_SETTINGS
from hunter_cli.resources import bundled_file

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "hunter.toml.example"
# "# key = value" and "# [table]" lines; prose and continued comments ("#    # ...") stay.
_COMMENTED = re.compile(r"^# ?(\[[a-z_.]+\].*|[a-z_]+ = .*)$")
# Values for the variables the example names, so that every provider can be built.
ENV = {
    "SMTP_USERNAME": "user",
    "SMTP_PASSWORD": "password",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "token",
    "WEBHOOK_SECRET": "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "NTFY_TOKEN": "tk_token",
}


def uncommented_text() -> str:
    lines = []
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = _COMMENTED.match(line)
        lines.append(match.group(1) if match else line)
    return "\n".join(lines) + "\n"


def uncommented() -> dict:
    return tomllib.loads(uncommented_text())


def lead_provider_keys(name: str) -> set[str]:
    module_name, class_name = leads.PROVIDERS[name].split(":")
    provider = getattr(importlib.import_module(module_name), class_name)
    named = {
        p.name
        for p in inspect.signature(provider.__init__).parameters.values()
        if p.name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
    }
    # An HTTP provider (one with a base_url) takes the shared HTTP settings too.
    return named | set(HTTP_SETTINGS) if "base_url" in named else named


def test_init_writes_the_example():
    assert bundled_file("hunter.toml.example").read_bytes() == EXAMPLE.read_bytes()


def test_the_example_uncommented_is_a_valid_hunter_toml(tmp_path):
    data = uncommented()
    (tmp_path / "hunter.toml").write_text(uncommented_text())
    settings = load_settings(cwd=tmp_path, environ={})
    assert settings.warnings == ()
    ai_config.check_ai_section(data["ai"])
    for channel in channels.PROVIDERS:
        channels.build_provider(channel, data["channels"], ENV).close()
    for name in leads.PROVIDERS:
        leads.get_provider(name, data["providers"][name])


@pytest.mark.parametrize(
    ("where", "accepted"),
    [
        (("workspace",), set(KNOWN_KEYS["workspace"])),
        (("database",), set(KNOWN_KEYS["database"])),
        (("http",), set(KNOWN_KEYS["http"])),
        (("limits",), set(LIMITS_KEYS)),
        (("customers", "acme"), set(CUSTOMER_KEYS)),
        (
            ("ai",),
            {"provider", *ai_config._GENERAL_KEYS, *ai_config._PROVIDER_KEYS},
        ),
        *(
            (("channels", channel), None)  # the provider's config_keys
            for channel in channels.PROVIDERS
        ),
        *((("providers", name), None) for name in leads.PROVIDERS),
    ],
    ids=lambda value: ".".join(value) if isinstance(value, tuple) else "",
)
def test_the_example_documents_every_key_the_code_reads(where, accepted):
    table = uncommented()
    for part in where:
        table = table.get(part, {})
    if accepted is None and where[0] == "channels":
        module_name, class_name = channels.PROVIDERS[where[1]].split(":")
        accepted = set(getattr(importlib.import_module(module_name), class_name).config_keys)
    elif accepted is None:
        accepted = lead_provider_keys(where[1])
    assert sorted(accepted - set(table)) == [], f"[{'.'.join(where)}] leaves them out"


def readme_toml_blocks() -> list[tuple[str, str]]:
    """(the paragraph before it, the block) for each ```toml block of the README."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return [
        (readme[: match.start()].rstrip().rsplit("\n\n", 1)[-1], match.group(1))
        for match in re.finditer(r"```toml\n(.*?)```", readme, re.S)
    ]


def tables_of(block: str) -> list[tuple[str, str]]:
    """(table name, its lines) for each [table] of a snippet."""
    parts = re.split(r"^\[([a-z_.]+)\][^\n]*\n", block, flags=re.M)
    assert not parts[0].strip(), f"keys before the first [table]: {parts[0]!r}"
    return list(zip(parts[1::2], parts[2::2], strict=True))


def test_the_readme_snippets_work_on_the_hunter_toml_init_wrote(tmp_path):
    """Done as the README says: a table the README says is in the file `hunter init` wrote
    gets the keys under its header; any other is added at the end. (Regression: the README's
    [ai] snippet, added, was "Cannot declare ('ai',) twice".)"""
    text = EXAMPLE.read_text(encoding="utf-8")
    declared = set(re.findall(r"^\[([a-z_.]+)\]", text, re.M))
    blocks = readme_toml_blocks()
    assert blocks
    for before, block in blocks:
        for table, lines in tables_of(block):
            if table in declared and "`hunter init` wrote" in before and f"[{table}]" in before:
                text = text.replace(f"\n[{table}]\n", f"\n[{table}]\n{lines}", 1)
            else:
                text += f"\n[{table}]\n{lines}"
    (tmp_path / "hunter.toml").write_text(text)
    settings = load_settings(cwd=tmp_path, environ={})  # TOML errors included
    ai_config.check_ai_section(settings.section("ai"))
    assert settings.section("ai")["provider"] == "groq"
    for channel in settings.section("channels"):
        channels.build_provider(channel, settings.section("channels"), ENV).close()
