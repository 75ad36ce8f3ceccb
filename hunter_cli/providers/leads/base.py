"""The interface lead_search calls: a query in, lead dicts out; the single lookups a waterfall
step calls (find_email, verify_email, enrich_company); and the normalisers the lead store
shares with providers, so a provider's domain filter and the store's dedupe agree."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Protocol

# What a provider returns per person. `data` carries the company's details.
LEAD_KEYS = ("name", "title", "email", "phone", "company", "domain", "data")
DATA_KEYS = (
    "industry",
    "size",
    "size_band",
    "location",
    "technologies",
    "description",
    "linkedin",
    "founded",
)

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


@dataclass(frozen=True)
class LeadQuery:
    """What to look for: free text, keywords (roles and company words), filters, a limit."""

    query: str = ""
    keywords: list[str] = field(default_factory=list)
    filters: dict[str, Any] = field(default_factory=dict)
    limit: int = 25


class LeadProviderError(Exception):
    """A search that cannot succeed as asked (an unknown filter, a refused key)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransientLeadProviderError(LeadProviderError):
    """A failure worth retrying: a timeout, a 429 or a 5xx. `retry_after` is the wait the
    server asked for, in seconds (None if it named none). `exhausted`: the request was
    already tried as often as the provider's max_retries allows, so the step's own `retry`
    must not try it again (retries would multiply); otherwise the provider stopped early (a
    longer wait than it may make, the step's time running out) and the step may take over."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, exhausted: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.exhausted = exhausted


class MissingApiKeyError(LeadProviderError):
    """The environment variable that should hold the provider's key is not set."""

    def __init__(self, message: str, *, env: str) -> None:
        super().__init__(message)
        self.env = env


def check_file_settings(provider: str, path: Any, others: dict[str, Any]) -> None:
    """A file provider's [providers.NAME] table: `path` is text, and nothing else is there
    (`deadline` comes from the step, not hunter.toml). A misspelt `pth` would otherwise
    search the default file without a word."""
    unknown = sorted(set(others) - {"deadline"})
    if unknown:
        raise LeadProviderError(
            f"unknown setting providers.{provider}.{unknown[0]} in hunter.toml; known "
            "settings: path"
        )
    if path is not None and not isinstance(path, str):
        raise LeadProviderError(
            f"hunter.toml: providers.{provider}.path must name a file, not {path!r}"
        )


class LeadProvider(Protocol):
    """Every provider searches. `api_key_env` names the variable its key is read from (None
    for providers that need no key), so a run can check it before reserving credits."""

    name: str
    api_key_env: str | None

    def search(self, query: LeadQuery) -> list[dict[str, Any]]:
        """Leads with keys name, title, email, phone, company, domain, data and
        source_provider."""
        ...


# The single lookups a waterfall step can ask for, and the method a provider implements for
# each. A provider without the method does not offer the lookup.
#   find_email(first_name, last_name, domain, company=None) -> person or None
#   verify_email(email) -> {"email", "verification": {"status", ...}} or None
#   enrich_company(domain) -> {"company", "domain", "data": {...}} or None
# Answers are plain dicts carrying `source_provider`; a person's `verification.status` uses
# Hunter's words (valid, invalid, accept_all, webmail, disposable, unknown).
LOOKUPS = ("find_email", "verify_email", "enrich_company")


def supported_lookups(provider: Any) -> list[str]:
    return [name for name in LOOKUPS if callable(getattr(provider, name, None))]


def normalise_email(value: Any) -> str | None:
    """Lower-case and cleaned as the send path cleans it (`mailto:`, `<...>`, stray
    punctuation and invisible characters gone); None when there is nothing there."""
    # Here, not at the top: recipe validation imports this module and needs none of it.
    from hunter_cli.addresses import parse_email_address

    return parse_email_address(value)[1] or None


def normalise_domain(value: Any) -> str | None:
    """`https://www.Example.com/about` -> `example.com`; None when there is nothing there."""
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value)).strip().lower()
    text = _SCHEME.sub("", text)
    text = text.removeprefix("//")
    text = re.split(r"[/?#]", text, maxsplit=1)[0]
    text = text.rsplit("@", 1)[-1]  # user@host forms
    text = text.split(":", 1)[0].rstrip(".")  # a port, a trailing root dot
    text = text.removeprefix("www.")
    return text or None


def normalise_name(value: Any) -> str:
    """Case-, spacing- and Unicode-form-insensitive form of a person's name, for matching."""
    return unicodedata.normalize("NFC", " ".join(str(value or "").split()).casefold())
