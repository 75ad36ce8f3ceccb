"""The `local` lead provider: searches the bundled sample dataset of fictional companies
(seeds/companies.json), so recipes can be tried with no account anywhere.

Keywords are split into role words (founder, ceo, vp, marketing...), matched against a
contact's title, and company words (saas, fintech, berlin...), matched against the company.
A contact qualifies when its title has one of the role words (if any were given) and its
company matches one of the company words (if any were given): "saas founders" means founders
at SaaS-like companies, not every founder anywhere.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hunter_cli.providers.leads.base import (
    LeadProviderError,
    LeadQuery,
    check_file_settings,
    normalise_domain,
    normalise_name,
)

NAME = "local"

# Words found in job titles. Function words (marketing, sales, growth...) count as roles
# too: the offline AI step expands role words into them, and they must not turn into company
# requirements.
ROLE_WORDS = frozenset(
    {
        "founder", "co-founder", "cofounder", "owner", "ceo", "cto", "coo", "cfo", "cmo", "cro",
        "cpo", "ciso", "vp", "svp", "evp", "head", "director", "manager", "chief", "executive",
        "president", "officer", "leader", "marketing", "sales", "growth", "engineering",
        "operations", "partnerships", "revenue", "acquisition", "brand",
    }
)  # fmt: skip
# Multi-word roles whose words are not all role words themselves.
ROLE_PHRASES = frozenset(
    {
        "business development", "account executive", "demand generation", "customer success",
        "sales development",
    }
)  # fmt: skip
# Words that describe a market or stage rather than what a company does: they rank a match
# higher but cannot make a company match on their own (nearly every company is "b2b").
GENERIC_WORDS = frozenset(
    {
        "b2b", "b2c", "startup", "scale-up", "scaleup", "smb", "enterprise", "business",
        "platform", "tech", "technology",
    }
)  # fmt: skip
STOPWORDS = frozenset(
    {
        "a", "an", "and", "the", "of", "for", "in", "at", "to", "with", "on", "or", "who",
        "that", "find", "me", "companies", "company", "people", "leads", "lead", "based",
    }
)  # fmt: skip

FILTERS = ("industry", "country", "city", "size_min", "size_max", "technologies", "domain", "title")
COUNTRY_ALIASES = {"GB": "UK"}

# How much a company word weighs by where it matched: the industry itself beats a keyword,
# which beats a passing mention in the description.
WEIGHT_INDUSTRY_EXACT = 5
WEIGHT_INDUSTRY_WORD = 3
WEIGHT_KEYWORD = 3
WEIGHT_PARTIAL = 2  # inside a keyword, a technology or the city
WEIGHT_TEXT = 1  # the description or the company name
WEIGHT_GENERIC = 1
WEIGHT_ROLE = 2  # per role word in the title: "vp sales" ranks VP Sales above VP Marketing


def dataset_path() -> Path:
    from hunter_cli.resources import bundled_dir

    return bundled_dir("seeds") / "companies.json"


@functools.lru_cache(maxsize=4)
def load_companies(path: str) -> tuple[dict[str, Any], ...]:
    """The dataset's companies, read once per process."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LeadProviderError(f"cannot read the local lead dataset {path}: {exc}") from None
    companies = document.get("companies") if isinstance(document, dict) else None
    if not isinstance(companies, list):
        raise LeadProviderError(f"{path} has no `companies` list")
    return tuple(c for c in companies if isinstance(c, dict))


def _squash(text: Any) -> str:
    """Letters and digits only: `E-commerce`, `ecommerce` and `E commerce` compare equal."""
    return re.sub(r"[^0-9a-z]", "", str(text).lower())


def _variants(word: str) -> set[str]:
    """A word with its singular and plural, so `agencies` finds `agency`."""
    forms = {word}
    if word.endswith("ies") and len(word) > 4:
        forms.add(word[:-3] + "y")
    elif word.endswith("s") and not word.endswith(("ss", "us", "is", "as")) and len(word) > 3:
        forms.add(word[:-1])
    else:
        forms.add(word[:-1] + "ies" if word.endswith("y") else word + "s")
    return forms


def _term_pattern(term: str) -> re.Pattern[str]:
    alternatives = "|".join(sorted((re.escape(v) for v in _variants(term)), key=len, reverse=True))
    return re.compile(rf"(?<![0-9a-z])(?:{alternatives})(?![0-9a-z])")


def _content_words(term: str) -> list[str]:
    return [w for w in re.findall(r"[0-9a-z][0-9a-z&+/.-]*", term) if w not in STOPWORDS]


def _in_vocabulary(word: str, vocabulary: frozenset[str]) -> bool:
    return any(form in vocabulary for form in _variants(word))


def is_role_term(term: str) -> bool:
    """A job-title term (founder, vp sales, head of engineering) rather than a company word."""
    if term in ROLE_PHRASES:
        return True
    words = _content_words(term)
    return bool(words) and all(_in_vocabulary(w, ROLE_WORDS) for w in words)


def _terms(query: LeadQuery) -> list[str]:
    """The keywords plus the words of the free-text query, lower-case, without duplicates."""
    found: list[str] = []
    seen: set[str] = set()
    candidates = [*query.keywords, *re.findall(r"[0-9a-z][0-9a-z&+/.-]*", query.query.lower())]
    for raw in candidates:
        term = " ".join(str(raw).lower().split()).strip(" .,;")
        # `founders` and `founder` are one word: counting both would double its weight.
        if term and term not in STOPWORDS and not _variants(term) & seen:
            found.append(term)
            seen |= _variants(term)
    return found


class _Matcher:
    """Scores one company and one title against the query's role and company terms."""

    def __init__(self, terms: list[str]) -> None:
        self.roles = [t for t in terms if is_role_term(t)]
        company = [t for t in terms if not is_role_term(t)]
        self.generic = [t for t in company if _in_vocabulary(t, GENERIC_WORDS)]
        self.specific = [t for t in company if t not in self.generic]
        self.patterns = {t: _term_pattern(t) for t in company}
        # A multi-word role matches a title holding all of its words, in any order.
        self.role_patterns = {t: [_term_pattern(w) for w in _content_words(t)] for t in self.roles}

    def role_score(self, title: str) -> int:
        lowered = title.lower()
        return sum(
            1
            for patterns in self.role_patterns.values()
            if patterns and all(p.search(lowered) for p in patterns)
        )

    def _word_weight(self, term: str, company: dict[str, Any]) -> int:
        pattern = self.patterns[term]
        industry = str(company.get("industry") or "").lower()
        if industry and any(_squash(v) == _squash(industry) for v in _variants(term)):
            return WEIGHT_INDUSTRY_EXACT
        if pattern.search(industry):
            return WEIGHT_INDUSTRY_WORD
        keywords = [str(k).lower() for k in company.get("keywords") or []]
        if any(_squash(v) == _squash(k) for k in keywords for v in _variants(term)):
            return WEIGHT_KEYWORD
        location = company.get("location") or {}
        places = (
            [location.get("city"), location.get("region")]
            if isinstance(location, dict)
            else [location]
        )
        partial = [
            *keywords,
            *(str(t).lower() for t in company.get("technologies") or []),
            *(str(p).lower() for p in places if p),
        ]
        if any(pattern.search(text) for text in partial):
            return WEIGHT_PARTIAL
        text = f"{company.get('name') or ''} {company.get('description') or ''}".lower()
        return WEIGHT_TEXT if pattern.search(text) else 0

    def company_score(self, company: dict[str, Any]) -> int | None:
        """None when the company does not match; otherwise how well it matches."""
        specific = sum(self._word_weight(t, company) for t in self.specific)
        generic = sum(WEIGHT_GENERIC for t in self.generic if self._word_weight(t, company))
        if self.specific:
            return specific + generic if specific else None
        if self.generic:
            return generic or None
        return 0


def _as_list(name: str, value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, str | int) for v in value):
        return [str(v) for v in value]
    raise LeadProviderError(f"filter {name} must be a string or a list of strings")


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise LeadProviderError(f"filter {name} must be a whole number, not {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise LeadProviderError(f"filter {name} must be a whole number, not {value!r}") from None


class _Filters:
    def __init__(self, filters: dict[str, Any], provider: str = NAME) -> None:
        unknown = sorted(set(filters) - set(FILTERS))
        if unknown:
            raise LeadProviderError(
                f"unknown filter {unknown[0]!r} for the {provider} lead provider; known "
                "filters: " + ", ".join(FILTERS)
            )
        given = {k: v for k, v in filters.items() if v is not None and v != "" and v != []}

        def each(name: str, normalise: Any) -> set[str] | None:
            return {normalise(v) for v in _as_list(name, given[name])} if name in given else None

        self.industries = each("industry", _squash)
        self.countries = each("country", lambda v: COUNTRY_ALIASES.get(v.upper(), v.upper()))
        self.cities = each("city", lambda v: v.strip().casefold())
        self.technologies = each("technologies", lambda v: v.strip().casefold())
        self.titles = each("title", lambda v: v.strip().casefold())
        self.size_min = _as_int("size_min", given["size_min"]) if "size_min" in given else None
        self.size_max = _as_int("size_max", given["size_max"]) if "size_max" in given else None
        self.domain = normalise_domain(given["domain"]) if "domain" in given else None
        if "domain" in given and (self.domain is None or not isinstance(given["domain"], str)):
            # Not "no filter": searching everyone for a domain that is not one would hand
            # strangers to the steps after.
            raise LeadProviderError(f"filter domain {given['domain']!r} is not a domain")

    def company_ok(self, company: dict[str, Any]) -> bool:
        place = company.get("location")
        location: dict[str, Any] = place if isinstance(place, dict) else {}
        size = company.get("size")
        checks = (
            self.industries is None or _squash(company.get("industry") or "") in self.industries,
            self.countries is None or str(location.get("country") or "").upper() in self.countries,
            self.cities is None or str(location.get("city") or "").casefold() in self.cities,
            self.size_min is None or (isinstance(size, int) and size >= self.size_min),
            self.size_max is None or (isinstance(size, int) and size <= self.size_max),
            self.technologies is None
            or any(
                str(t).casefold() in self.technologies for t in company.get("technologies") or []
            ),
            self.domain is None or normalise_domain(company.get("domain")) == self.domain,
        )
        return all(checks)

    def title_ok(self, title: str) -> bool:
        return self.titles is None or any(t in title.casefold() for t in self.titles)


def company_data(company: dict[str, Any], contact: dict[str, Any] | None = None) -> dict[str, Any]:
    """A lead's `data`: the company's details (and the person's LinkedIn)."""
    return {
        "industry": company.get("industry"),
        "size": company.get("size"),
        "size_band": company.get("size_band"),
        "location": company.get("location"),
        "technologies": list(company.get("technologies") or []),
        "description": company.get("description"),
        "linkedin": (contact or {}).get("linkedin"),
        "founded": company.get("founded"),
    }


def _lead(company: dict[str, Any], contact: dict[str, Any], provider: str) -> dict[str, Any]:
    return {
        "name": contact.get("name"),
        "title": contact.get("title"),
        "email": contact.get("email"),
        "phone": contact.get("phone"),
        "company": company.get("name"),
        "domain": normalise_domain(company.get("domain")),
        "data": company_data(company, contact),
        "source_provider": provider,
    }


def search_companies(
    companies: Iterable[dict[str, Any]], query: LeadQuery, provider: str
) -> list[dict[str, Any]]:
    """The people of these companies that match the query, best first: the matching rules of
    `local`, shared with every provider that searches a dataset of the same shape (csv)."""
    matcher = _Matcher(_terms(query))
    filters = _Filters(dict(query.filters or {}), provider)
    ranked: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for company in companies:
        if not filters.company_ok(company):
            continue
        company_score = matcher.company_score(company)
        if company_score is None:
            continue
        for contact in company.get("contacts") or []:
            title = str(contact.get("title") or "")
            if not filters.title_ok(title):
                continue
            role_score = matcher.role_score(title)
            if matcher.roles and not role_score:
                continue
            # Best match first; names break ties so the same query gives the same list.
            key = (
                -(company_score + WEIGHT_ROLE * role_score),
                str(company.get("name") or "").casefold(),
                str(contact.get("name") or "").casefold(),
            )
            ranked.append((key, _lead(company, contact, provider)))
    ranked.sort(key=lambda pair: pair[0])
    return [lead for _key, lead in ranked[: max(0, query.limit)]]


def find_person_email(
    companies: Iterable[dict[str, Any]],
    provider: str,
    first_name: str | None,
    last_name: str | None,
    domain: str | None,
    company: str | None = None,
) -> dict[str, Any] | None:
    """A waterfall's find_email against a dataset: the contact of that name at that domain
    (or company). The dataset's addresses were never verified: status `unknown`."""
    wanted = normalise_name(f"{first_name or ''} {last_name or ''}")
    where = normalise_domain(domain)
    if not wanted:
        return None
    for entry in companies:
        same_domain = where is not None and normalise_domain(entry.get("domain")) == where
        same_company = (
            where is None
            and company is not None
            and normalise_name(entry.get("name")) == normalise_name(company)
        )
        if not (same_domain or same_company):
            continue
        for contact in entry.get("contacts") or []:
            if normalise_name(contact.get("name")) == wanted and contact.get("email"):
                lead = _lead(entry, contact, provider)
                return {
                    **lead,
                    "first_name": first_name,
                    "last_name": last_name,
                    "verification": {"status": "unknown", "source": "dataset"},
                }
    return None


def find_company(
    companies: Iterable[dict[str, Any]], provider: str, domain: str | None
) -> dict[str, Any] | None:
    """A waterfall's enrich_company against a dataset."""
    where = normalise_domain(domain)
    for entry in companies:
        if where is not None and normalise_domain(entry.get("domain")) == where:
            return {
                "company": entry.get("name"),
                "domain": where,
                "data": company_data(entry),
                "source_provider": provider,
            }
    return None


class LocalProvider:
    """Searches the bundled sample dataset (or `path`, a file of the same shape)."""

    name = NAME
    api_key_env = None

    def __init__(self, path: str | None = None, **others: Any) -> None:
        check_file_settings(NAME, path, others)
        self.path = str(path) if path else str(dataset_path())

    def search(self, query: LeadQuery) -> list[dict[str, Any]]:
        return search_companies(load_companies(self.path), query, NAME)

    def find_email(
        self,
        first_name: str | None,
        last_name: str | None,
        domain: str | None,
        company: str | None = None,
    ) -> dict[str, Any] | None:
        return find_person_email(
            load_companies(self.path), NAME, first_name, last_name, domain, company
        )

    def enrich_company(self, domain: str) -> dict[str, Any] | None:
        return find_company(load_companies(self.path), NAME, domain)
