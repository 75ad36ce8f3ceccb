"""The interface lead_search calls: a query in, lead dicts out. Also the normalisers the
lead store shares with providers, so a provider's domain filter and the store's dedupe agree."""

from __future__ import annotations

import re
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
    """A failure worth retrying: a timeout, a 429 or a 5xx."""


class LeadProvider(Protocol):
    name: str

    def search(self, query: LeadQuery) -> list[dict[str, Any]]:
        """Leads with keys name, title, email, phone, company, domain and data."""
        ...


def normalise_email(value: Any) -> str | None:
    """Lower-case and stripped; None when there is nothing there."""
    if value is None:
        return None
    text = str(value).strip().lower()
    return text or None


def normalise_domain(value: Any) -> str | None:
    """`https://www.Example.com/about` -> `example.com`; None when there is nothing there."""
    if value is None:
        return None
    text = str(value).strip().lower()
    text = _SCHEME.sub("", text)
    text = text.removeprefix("//")
    text = re.split(r"[/?#]", text, maxsplit=1)[0]
    text = text.rsplit("@", 1)[-1]  # user@host forms
    text = text.split(":", 1)[0].rstrip(".")  # a port, a trailing root dot
    text = text.removeprefix("www.")
    return text or None


def normalise_name(value: Any) -> str:
    """Case- and spacing-insensitive form of a person's name, for matching."""
    return " ".join(str(value or "").split()).casefold()
