"""The `apollo` lead provider: Apollo.io's REST API (https://api.apollo.io/api/v1).

- search: People API Search (POST /api/v1/mixed_people/api_search; `search_path` may name the
  older /api/v1/mixed_people/search), paged with page/per_page until the step's limit or
  pagination.total_pages (or total_entries / per_page). The current search endpoint returns
  no emails (last names obfuscated), so people without an email are then enriched with
  Bulk People Enrichment (POST /api/v1/people/bulk_match, 10 per call, `details: [{id}]`,
  answers `matches[]` in the same order) unless `enrich = false`;
- find_email: People Enrichment (POST /api/v1/people/match) by name and domain;
- enrich_company: Organization Enrichment (GET /api/v1/organizations/enrich?domain=).

The key goes in the `X-Api-Key` header, read from APOLLO_API_KEY (or the variable
[providers.apollo] api_key_env names). Shapes relied on: a person {id, first_name, last_name,
last_name_obfuscated, name, title, email, email_status, linkedin_url, headline, seniority,
city, state, country, phone_numbers[].sanitized_number, organization{name, primary_domain,
website_url, industry, estimated_num_employees, city, state, country, short_description,
technology_names, founded_year, linkedin_url}}; search {people[], pagination{page, per_page,
total_entries, total_pages} or total_entries}; match {person}; enrich {organization}; errors
as {"error", "error_code"} or {"message"} JSON, or plain text for a 401.
"""

from __future__ import annotations

import math
from typing import Any

from hunter_cli.providers.leads.api_client import (
    ApiClient,
    HttpOptions,
    check_key_env,
    read_api_key,
)
from hunter_cli.providers.leads.base import LeadProviderError, LeadQuery, normalise_domain
from hunter_cli.providers.leads.local import is_role_term

NAME = "apollo"
DEFAULT_BASE_URL = "https://api.apollo.io"
DEFAULT_KEY_ENV = "APOLLO_API_KEY"
DEFAULT_SEARCH_PATH = "/api/v1/mixed_people/api_search"
MAX_PER_PAGE = 100
MAX_PAGES = 500  # Apollo's display limit: 50,000 records, 100 per page
BULK_MATCH_SIZE = 10
# Filters a lead_search step may give, and the Apollo search field each one feeds. The local
# provider's names (industry, country, city, size_min, size_max, technologies, domain, title)
# all work here too.
FILTERS = (
    "title", "titles", "seniorities", "location", "locations", "city", "country",
    "organization_locations", "domain", "domains", "industry", "size_min", "size_max",
    "technologies", "email_status",
)  # fmt: skip
# Apollo's placeholder for an address the account has not unlocked.
_LOCKED_EMAIL = "email_not_unlocked@domain.com"
# Apollo's email_status in the verifier's words (valid, invalid, unknown) that a waterfall's
# accept check reads; the raw value is kept beside it.
_EMAIL_STATUS = {"verified": "valid", "bounced": "invalid", "unavailable": "invalid"}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(name: str, value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, str | int) for v in value):
        return [str(v) for v in value if str(v).strip()]
    raise LeadProviderError(f"filter {name} must be a string or a list of strings")


def _whole(name: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise LeadProviderError(f"filter {name} must be a whole number, not {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise LeadProviderError(f"filter {name} must be a whole number, not {value!r}") from None


def _words(text: str) -> list[str]:
    return [w for w in text.replace(",", " ").split() if w]


def search_body(query: LeadQuery) -> dict[str, Any]:
    """The People Search fields for a lead query: role words (founder, vp sales) become
    person_titles; the rest of the free text (or, without text, the other keywords) becomes
    q_keywords; filters map onto Apollo's own fields."""
    filters = dict(query.filters or {})
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise LeadProviderError(
            f"unknown filter {unknown[0]!r} for the apollo lead provider; known filters: "
            + ", ".join(FILTERS)
        )
    titles = [k for k in query.keywords if is_role_term(k.lower())]
    titles += [w for w in _words(query.query) if is_role_term(w.lower())]
    titles += _strings("title", filters.get("title")) + _strings("titles", filters.get("titles"))
    text = [w for w in _words(query.query) if not is_role_term(w.lower())]
    if not text:
        text = [k for k in query.keywords if not is_role_term(k.lower())]
    text += _strings("industry", filters.get("industry"))
    locations = [
        *_strings("location", filters.get("location")),
        *_strings("locations", filters.get("locations")),
        *_strings("city", filters.get("city")),
        *_strings("country", filters.get("country")),
    ]
    domains = [
        d
        for d in (
            normalise_domain(v)
            for v in _strings("domain", filters.get("domain"))
            + _strings("domains", filters.get("domains"))
        )
        if d
    ]
    size_min, size_max = (
        _whole("size_min", filters.get("size_min")),
        _whole("size_max", filters.get("size_max")),
    )
    technologies = [
        t.strip().lower().replace(" ", "_").replace(".", "_")
        for t in _strings("technologies", filters.get("technologies"))
    ]
    body: dict[str, Any] = {
        "person_titles": list(dict.fromkeys(titles)),
        "q_keywords": " ".join(dict.fromkeys(text)) or None,
        "person_locations": list(dict.fromkeys(locations)),
        "organization_locations": _strings(
            "organization_locations", filters.get("organization_locations")
        ),
        "q_organization_domains_list": list(dict.fromkeys(domains)),
        "person_seniorities": _strings("seniorities", filters.get("seniorities")),
        "organization_num_employees_ranges": (
            [f"{size_min or 1},{size_max or 1000000}"]
            if size_min is not None or size_max is not None
            else []
        ),
        "currently_using_any_of_technology_uids": technologies,
        "contact_email_status": _strings("email_status", filters.get("email_status")),
    }
    return {k: v for k, v in body.items() if v not in (None, "", [])}


def _email(person: dict[str, Any]) -> str | None:
    email = person.get("email")
    if not isinstance(email, str) or not email.strip() or email.strip() == _LOCKED_EMAIL:
        return None
    return email.strip()


def _name(person: dict[str, Any]) -> str | None:
    if isinstance(person.get("name"), str) and person["name"].strip():
        return person["name"].strip()
    parts = [person.get("first_name"), person.get("last_name")]
    name = " ".join(str(p).strip() for p in parts if p and str(p).strip())
    return name or None


def _phone(person: dict[str, Any]) -> str | None:
    for number in person.get("phone_numbers") or []:
        if isinstance(number, dict) and (
            number.get("sanitized_number") or number.get("raw_number")
        ):
            return number.get("sanitized_number") or number.get("raw_number")
    return _dict(person.get("contact")).get("sanitized_phone") or None


def _location(source: dict[str, Any]) -> dict[str, Any] | None:
    place = {
        "city": source.get("city"),
        "region": source.get("state"),
        "country": source.get("country"),
    }
    return place if any(place.values()) else None


def company_from_organization(organization: dict[str, Any]) -> dict[str, Any]:
    """An Apollo organization as the company part of a lead."""
    return {
        "company": organization.get("name"),
        "domain": normalise_domain(organization.get("primary_domain"))
        or normalise_domain(organization.get("website_url")),
        "data": {
            k: v
            for k, v in {
                "industry": organization.get("industry"),
                "size": organization.get("estimated_num_employees"),
                "location": _location(organization),
                "technologies": list(organization.get("technology_names") or []),
                "description": organization.get("short_description"),
                "founded": organization.get("founded_year"),
                "company_linkedin": organization.get("linkedin_url"),
                "apollo_organization_id": organization.get("id"),
            }.items()
            if v not in (None, "", [])
        },
    }


def lead_from_person(person: dict[str, Any]) -> dict[str, Any]:
    company = company_from_organization(_dict(person.get("organization")))
    data = dict(company["data"])
    if "location" not in data and _location(person):
        data["location"] = _location(person)
    extra = {
        "linkedin": person.get("linkedin_url"),
        "seniority": person.get("seniority"),
        "headline": person.get("headline"),
        "email_status": person.get("email_status"),
        "apollo_id": person.get("id"),
    }
    if not person.get("last_name") and person.get("last_name_obfuscated"):
        extra["last_name_obfuscated"] = person["last_name_obfuscated"]
    data.update({k: v for k, v in extra.items() if v not in (None, "")})
    name = _name(person)
    if name is None or (not person.get("last_name") and person.get("last_name_obfuscated")):
        name = person.get("first_name") or None  # never store "Hu***n" as a surname
    return {
        "name": name,
        "title": person.get("title") or None,
        "email": _email(person),
        "phone": _phone(person),
        "company": company["company"] or person.get("organization_name"),
        "domain": company["domain"],
        "data": data,
        "source_provider": NAME,
    }


def verification_of(person: dict[str, Any]) -> dict[str, Any]:
    raw = person.get("email_status")
    status = _EMAIL_STATUS.get(str(raw).lower(), "unknown") if raw else "unknown"
    return {"status": status, "email_status": raw}


class ApolloProvider:
    """Apollo.io: people search (enriched to emails), people enrichment, organization
    enrichment."""

    name = NAME

    def __init__(
        self,
        base_url: str | None = None,
        api_key_env: str = DEFAULT_KEY_ENV,
        search_path: str = DEFAULT_SEARCH_PATH,
        per_page: int = MAX_PER_PAGE,
        enrich: bool = True,
        **config: Any,
    ) -> None:
        check_key_env(NAME, api_key_env, DEFAULT_KEY_ENV)
        if isinstance(per_page, bool) or not isinstance(per_page, int) or per_page < 1:
            raise LeadProviderError(
                "hunter.toml: providers.apollo.per_page must be a whole number of at least 1, "
                f"not {per_page!r}"
            )
        if not isinstance(search_path, str) or not search_path.startswith("/"):
            raise LeadProviderError(
                "hunter.toml: providers.apollo.search_path must be a path such as "
                + DEFAULT_SEARCH_PATH
            )
        self.api_key_env = api_key_env
        self.search_path = search_path
        self.per_page = min(per_page, MAX_PER_PAGE)
        self.enrich = bool(enrich)
        self.options = HttpOptions.from_config(
            {**config, "base_url": base_url},
            provider=NAME,
            default_base_url=DEFAULT_BASE_URL,
            own_settings=("api_key_env", "search_path", "per_page", "enrich"),
        )
        self.requests_made = 0
        # Set by lead_search to the step's memo: answers its earlier attempts were charged for.
        self.answers: dict[str, Any] | None = None

    # -- plumbing ---------------------------------------------------------------------------
    def _client(self) -> ApiClient:
        key = read_api_key(NAME, self.api_key_env, "Apollo.io API key")

        def auth(_query: dict[str, Any], headers: dict[str, str]) -> None:
            headers["X-Api-Key"] = key

        return ApiClient(
            NAME,
            self.options,
            secret=key,
            key_env=self.api_key_env,
            auth=auth,
            answers=self.answers,
        )

    def _call(self, client: ApiClient, method: str, path: str, **kw: Any) -> dict[str, Any]:
        try:
            document = client.request(method, path, **kw)
        finally:
            self.requests_made += client.requests_made
            client.requests_made = 0
        if not isinstance(document, dict):
            raise LeadProviderError(f"{NAME}: {path} answered without a JSON object")
        return document

    # -- search -----------------------------------------------------------------------------
    def search(self, query: LeadQuery) -> list[dict[str, Any]]:
        body = search_body(query)
        client = self._client()
        people: list[dict[str, Any]] = []
        per_page = min(self.per_page, max(1, query.limit))
        page = 1
        while len(people) < query.limit and page <= MAX_PAGES:
            document = self._call(
                client,
                "POST",
                self.search_path,
                body={**body, "page": page, "per_page": per_page},
            )
            found = [p for p in document.get("people") or [] if isinstance(p, dict)]
            people.extend(found)
            if not found or page >= self._total_pages(document, per_page):
                break
            page += 1
        people = people[: query.limit]
        if self.enrich:
            people = self._enriched(client, people)
        return [lead_from_person(p) for p in people]

    @staticmethod
    def _total_pages(document: dict[str, Any], per_page: int) -> int:
        pagination = _dict(document.get("pagination"))
        pages = pagination.get("total_pages")
        if isinstance(pages, int):
            return pages
        total = pagination.get("total_entries", document.get("total_entries"))
        if isinstance(total, int):
            return math.ceil(total / per_page)
        return MAX_PAGES  # unknown: stop on an empty page instead

    def _enriched(self, client: ApiClient, people: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """People without an email, matched (10 per call) to their full records."""
        missing = [i for i, p in enumerate(people) if _email(p) is None and p.get("id")]
        result = list(people)
        for start in range(0, len(missing), BULK_MATCH_SIZE):
            chunk = missing[start : start + BULK_MATCH_SIZE]
            document = self._call(
                client,
                "POST",
                "/api/v1/people/bulk_match",
                body={"details": [{"id": people[i]["id"]} for i in chunk]},
            )
            matches = document.get("matches") or []
            for index, match in zip(chunk, matches, strict=False):
                if isinstance(match, dict):
                    result[index] = {**people[index], **match}
        return result

    # -- lookups ----------------------------------------------------------------------------
    def find_email(
        self,
        first_name: str | None,
        last_name: str | None,
        domain: str | None,
        company: str | None = None,
    ) -> dict[str, Any] | None:
        where = normalise_domain(domain)
        if where is None and not company:
            raise LeadProviderError("apollo find_email needs a domain (or a company name)")
        if not (first_name or last_name):
            raise LeadProviderError("apollo find_email needs a first and a last name")
        body = {
            "first_name": first_name or None,
            "last_name": last_name or None,
            "domain": where,
            "organization_name": company or None,
        }
        document = self._call(
            self._client(),
            "POST",
            "/api/v1/people/match",
            body={k: v for k, v in body.items() if v is not None},
        )
        person = document.get("person")
        if not isinstance(person, dict) or _email(person) is None:
            return None
        lead = lead_from_person(person)
        return {
            "email": lead["email"],
            "first_name": person.get("first_name") or first_name,
            "last_name": person.get("last_name") or last_name,
            "name": lead["name"],
            "title": lead["title"],
            "phone": lead["phone"],
            "company": lead["company"],
            "domain": lead["domain"] or where,
            "linkedin": person.get("linkedin_url"),
            "verification": verification_of(person),
            "source_provider": NAME,
        }

    def enrich_company(self, domain: str) -> dict[str, Any] | None:
        where = normalise_domain(domain)
        if where is None:
            raise LeadProviderError(f"apollo enrich_company needs a domain, not {domain!r}")
        document = self._call(
            self._client(), "GET", "/api/v1/organizations/enrich", params={"domain": where}
        )
        organization = document.get("organization")
        if not isinstance(organization, dict) or not organization:
            return None
        company = company_from_organization(organization)
        return {**company, "domain": company["domain"] or where, "source_provider": NAME}
