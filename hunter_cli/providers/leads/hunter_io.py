"""The `hunter_io` lead provider: Hunter.io's API v2.

- search: Domain Search (GET /v2/domain-search?domain=&limit=&offset=), the people Hunter
  knows at one company, paged with limit/offset until the step's limit or meta.results;
- find_email: Email Finder (GET /v2/email-finder?domain=&first_name=&last_name=), then the
  Email Verifier (GET /v2/email-verifier?email=) on what it found, so a waterfall can accept
  only deliverable addresses.

The key goes in the `api_key` query parameter, read from HUNTER_API_KEY (or the variable
[providers.hunter_io] api_key_env names). Response shapes relied on: domain-search
data.{domain, organization, country, state, city, industry, headcount, description,
technologies, emails[].{value, type, confidence, first_name, last_name, position, seniority,
department, linkedin, twitter, phone_number, verification.{date, status}}} and
meta.{results, limit, offset}; email-finder data.{email, score, first_name, last_name,
position, company, domain, linkedin_url, twitter, phone_number, verification}; email-verifier
data.{status, result, score, email, accept_all, disposable, webmail, mx_records, smtp_check,
block}; errors as {"errors": [{"id", "code", "details"}]}.
"""

from __future__ import annotations

import re
from typing import Any

from hunter_cli.providers.leads.api_client import (
    RETRY_STATUSES,
    ApiClient,
    HttpOptions,
    check_key_env,
    read_api_key,
)
from hunter_cli.providers.leads.base import LeadProviderError, LeadQuery, normalise_domain

NAME = "hunter_io"
DEFAULT_BASE_URL = "https://api.hunter.io"
DEFAULT_KEY_ENV = "HUNTER_API_KEY"
# Hunter answers up to 100 emails per request (10 on the free plan: set page_size = 10).
DEFAULT_PAGE_SIZE = 100
FILTERS = ("domain", "company", "type", "seniority", "department")
_DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")
# Hunter signals its per-second/per-minute rate limit with 403 (429 means the month's quota
# is used up: api_client retries it only when the server names a wait, see quota_used_up).
# The verifier answers 202 while a slow mail server is still being checked: ask again.
_RETRY = RETRY_STATUSES | {403}
_VERIFY_RETRY = _RETRY | {202}
# 451: the person asked Hunter not to process their data; for a lookup that is no answer.
_NO_ANSWER = frozenset({451})


def looks_like_domain(text: Any) -> str | None:
    """`https://www.Stripe.com/` -> `stripe.com`; None for text that is not one domain."""
    if not isinstance(text, str) or not text.strip() or " " in text.strip():
        return None
    domain = normalise_domain(text)
    return domain if domain and _DOMAIN.match(domain) else None


def _clean(value: Any) -> Any:
    """Hunter sends "" as often as null for an unknown field."""
    return None if value == "" else value


def _full_name(first: Any, last: Any) -> str | None:
    name = " ".join(str(p).strip() for p in (first, last) if p and str(p).strip())
    return name or None


def _joined(name: str, value: Any) -> str | None:
    """Hunter takes several values of a filter comma-separated."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise LeadProviderError(f"filter {name} must be a string or a list of strings")


class HunterIoProvider:
    """Hunter.io: people by company domain, an email by name, and email verification."""

    name = NAME

    def __init__(
        self,
        base_url: str | None = None,
        api_key_env: str = DEFAULT_KEY_ENV,
        page_size: int = DEFAULT_PAGE_SIZE,
        verify: bool = True,
        **config: Any,
    ) -> None:
        check_key_env(NAME, api_key_env, DEFAULT_KEY_ENV)
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise LeadProviderError(
                f"hunter.toml: providers.hunter_io.page_size must be a whole number of at least 1, "
                f"not {page_size!r}"
            )
        self.api_key_env = api_key_env
        self.page_size = min(page_size, 100)
        self.verify = bool(verify)
        self.options = HttpOptions.from_config(
            {**config, "base_url": base_url},
            provider=NAME,
            default_base_url=DEFAULT_BASE_URL,
            own_settings=("api_key_env", "page_size", "verify"),
        )
        self.requests_made = 0
        # Set by lead_search to the step's memo: answers its earlier attempts were charged for.
        self.answers: dict[str, Any] | None = None

    # -- plumbing ---------------------------------------------------------------------------
    def _client(self) -> ApiClient:
        key = read_api_key(NAME, self.api_key_env, "Hunter.io API key")

        def auth(query: dict[str, Any], _headers: dict[str, str]) -> None:
            query["api_key"] = key

        return ApiClient(
            NAME,
            self.options,
            secret=key,
            key_env=self.api_key_env,
            auth=auth,
            answers=self.answers,
        )

    def _data(
        self,
        client: ApiClient,
        path: str,
        params: dict[str, Any],
        *,
        retry_statuses: frozenset[int] = _RETRY,
        empty_statuses: frozenset[int] = frozenset(),
    ) -> Any:
        """(document, document["data"]) of a GET; (None, None) for an empty status."""
        try:
            document = client.get(
                path, params, retry_statuses=retry_statuses, empty_statuses=empty_statuses
            )
        finally:
            self.requests_made += client.requests_made
            client.requests_made = 0
        if document is None and empty_statuses:
            return None, None
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, dict):
            raise LeadProviderError(f"{NAME}: {path} answered without a `data` object")
        return document, data

    # -- search -----------------------------------------------------------------------------
    def _search_params(self, query: LeadQuery) -> dict[str, Any]:
        filters = dict(query.filters or {})
        unknown = sorted(set(filters) - set(FILTERS))
        if unknown:
            raise LeadProviderError(
                f"unknown filter {unknown[0]!r} for the hunter_io lead provider; known "
                "filters: " + ", ".join(FILTERS)
            )
        domain = filters.get("domain")
        if domain not in (None, ""):
            found = looks_like_domain(domain)
            if found is None:
                raise LeadProviderError(f"filter domain {domain!r} is not a domain name")
            domain = found
        else:
            domain = looks_like_domain(query.query)
        company = filters.get("company") or None
        if domain is None and company is None:
            raise LeadProviderError(
                "hunter_io searches one company: give a domain as the query (stripe.com) or "
                "as filters.domain, or a company name as filters.company"
            )
        return {
            "domain": domain,
            "company": None if domain else company,  # Hunter prefers the domain when both
            "type": _joined("type", filters.get("type")),
            "seniority": _joined("seniority", filters.get("seniority")),
            "department": _joined("department", filters.get("department")),
        }

    def search(self, query: LeadQuery) -> list[dict[str, Any]]:
        params = self._search_params(query)
        client = self._client()
        leads: list[dict[str, Any]] = []
        offset = 0
        while len(leads) < query.limit:
            asked = min(self.page_size, query.limit - len(leads))
            document, data = self._data(
                client, "/v2/domain-search", {**params, "limit": asked, "offset": offset}
            )
            emails = [e for e in data.get("emails") or [] if isinstance(e, dict)]
            leads.extend(self._lead(data, item) for item in emails)
            offset += len(emails)
            meta = document.get("meta") if isinstance(document.get("meta"), dict) else {}
            total = meta.get("results")
            if len(emails) < asked or (isinstance(total, int) and offset >= total):
                break
        return leads[: query.limit]

    def _lead(self, company: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
        location = {
            "city": _clean(company.get("city")),
            "region": _clean(company.get("state")),
            "country": _clean(company.get("country")),
        }
        data = {
            "industry": _clean(company.get("industry")),
            "size_band": _clean(company.get("headcount")),
            "location": location if any(location.values()) else None,
            "technologies": list(company.get("technologies") or []),
            "description": _clean(company.get("description")),
            "linkedin": _clean(item.get("linkedin")),
            "twitter": _clean(item.get("twitter")),
            "seniority": _clean(item.get("seniority")),
            "department": _clean(item.get("department")),
            "email_type": _clean(item.get("type")),
            "confidence": item.get("confidence"),
            "verification": item.get("verification") or None,
        }
        return {
            "name": _full_name(item.get("first_name"), item.get("last_name")),
            "title": _clean(item.get("position")),
            "email": _clean(item.get("value")),
            "phone": _clean(item.get("phone_number")),
            "company": _clean(company.get("organization")),
            "domain": normalise_domain(company.get("domain")),
            "data": {k: v for k, v in data.items() if v not in (None, "", [])},
            "source_provider": NAME,
        }

    # -- lookups ----------------------------------------------------------------------------
    def find_email(
        self,
        first_name: str | None,
        last_name: str | None,
        domain: str | None,
        company: str | None = None,
    ) -> dict[str, Any] | None:
        """The most likely address of a person at a company, with the verifier's verdict
        (unless `verify = false`); None when Hunter finds none."""
        where = looks_like_domain(domain) if domain else None
        if where is None and not company:
            raise LeadProviderError("hunter_io find_email needs a domain (or a company name)")
        if not (first_name or last_name):
            raise LeadProviderError("hunter_io find_email needs a first and a last name")
        client = self._client()
        _document, data = self._data(
            client,
            "/v2/email-finder",
            {
                "domain": where,
                "company": None if where else company,
                "first_name": first_name or None,
                "last_name": last_name or None,
            },
            empty_statuses=_NO_ANSWER,
        )
        email = _clean(data.get("email")) if data else None
        if not email:
            return None
        verification: dict[str, Any] | None = dict(data.get("verification") or {})
        if self.verify:
            verification = self._verification(client, email)
            if verification is None:  # 451 from the verifier: nothing to go on
                verification = {"status": "unknown"}
        return {
            "email": email,
            "first_name": _clean(data.get("first_name")) or first_name,
            "last_name": _clean(data.get("last_name")) or last_name,
            "name": _full_name(
                data.get("first_name") or first_name, data.get("last_name") or last_name
            ),
            "title": _clean(data.get("position")),
            "phone": _clean(data.get("phone_number")),
            "company": _clean(data.get("company")) or company,
            "domain": normalise_domain(data.get("domain")) or where,
            "linkedin": _clean(data.get("linkedin_url")),
            "confidence": data.get("score"),
            "verification": verification,
            "source_provider": NAME,
        }

    def verify_email(self, email: str) -> dict[str, Any] | None:
        if not isinstance(email, str) or "@" not in email:
            raise LeadProviderError(f"hunter_io verify_email needs an email address, not {email!r}")
        verification = self._verification(self._client(), email.strip())
        if verification is None:
            return None
        return {"email": email.strip(), "verification": verification, "source_provider": NAME}

    def _verification(self, client: ApiClient, email: str) -> dict[str, Any] | None:
        _document, data = self._data(
            client,
            "/v2/email-verifier",
            {"email": email},
            retry_statuses=_VERIFY_RETRY,
            empty_statuses=_NO_ANSWER,
        )
        if data is None:
            return None
        keys = ("status", "result", "score", "accept_all", "disposable", "webmail", "block")
        return {k: data.get(k) for k in keys if k in data}
