"""Fake Hunter.io and Apollo.io APIs on loopback (routes on tests/servers.py's LoopbackServer)
answering with the vendors' real JSON shapes, paging like them, and refusing a wrong key the
way they do: Hunter reads `api_key` from the query string, Apollo `X-Api-Key` from the
headers.

    with LoopbackServer() as server:
        hunter = FakeHunter(server)             # northwind.example has 23 people
        hunter.fail("/v2/domain-search", 429, retry_after="1")
        ... HunterIoProvider(base_url=server.url, backoff=0).search(...) ...
        assert hunter.calls("/v2/domain-search")[0].arg("api_key") == HUNTER_KEY
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

from tests.servers import LoopbackServer, RecordedRequest, Reply

__all__ = [
    "APOLLO_KEY",
    "HUNTER_KEY",
    "FakeApollo",
    "FakeHunter",
    "Person",
]

# Characters that change when URL-encoded, so a key leaking in any form is caught.
HUNTER_KEY = "hk_test_9f8e+7d/6c=="
APOLLO_KEY = "apollo_test_Zx+y/w=="

FIRST = ["Ada", "Ben", "Cleo", "Dev", "Eva", "Finn", "Gia", "Hugo", "Iris", "Jon", "Kai", "Lena"]
LAST = ["Stone", "Reyes", "Nakamura", "Okafor", "Lindqvist", "Moreau", "Patel", "Quinn"]
TITLES = ["Founder & CEO", "CTO", "VP Sales", "Head of Marketing", "Sales Manager", "Engineer"]


@dataclass
class Person:
    first_name: str
    last_name: str
    title: str
    email: str
    domain: str
    company: str
    phone: str | None = None
    verification: str = "valid"  # what Hunter's verifier says about the address
    apollo_email_status: str = "verified"

    @property
    def apollo_id(self) -> str:
        return hashlib.sha1(self.email.encode()).hexdigest()[:24]


def make_people(domain: str, company: str, count: int) -> list[Person]:
    people = []
    for i in range(count):
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
        people.append(
            Person(
                first_name=first,
                last_name=last,
                title=TITLES[i % len(TITLES)],
                email=f"{first.lower()}.{last.lower()}{i}@{domain}",
                domain=domain,
                company=company,
                phone=f"+1415555{i:04d}" if i % 3 == 0 else None,
            )
        )
    return people


def _failure(status: int, body: Any, retry_after: str | None) -> Reply:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    if isinstance(body, str):
        return Reply(status=status, body=body, headers=headers)
    return Reply(status=status, json=body, headers=headers)


@dataclass
class _Fake:
    server: LoopbackServer
    key: str
    people: list[Person] = field(default_factory=list)
    _handlers: dict[tuple[str, str], Any] = field(default_factory=dict)

    def calls(self, path: str) -> list[RecordedRequest]:
        return self.server.requests_to(path)

    def _route(self, method: str, path: str, handler: Any) -> None:
        self.server.route(method, path, handler)

    def _fail(
        self, method: str, path: str, status: int, body: Any, retry_after: str | None, times: int
    ) -> None:
        """The next `times` requests fail (0: every one), then the route answers again."""
        failure = _failure(status, body, retry_after)
        if times == 0:
            self.server.route(method, path, failure)
        else:
            self.server.route(method, path, *[failure] * times, self._handlers[(method, path)])


# --- Hunter.io ------------------------------------------------------------------------------


class FakeHunter(_Fake):
    """Domain Search, Email Finder and Email Verifier of Hunter.io API v2."""

    COMPANIES = {
        "northwind.example": {
            "organization": "Northwind Analytics",
            "industry": "Information Technology",
            "headcount": "51-200",
            "country": "US",
            "state": "CA",
            "city": "San Francisco",
            "description": "Analytics for subscription businesses.",
            "technologies": ["stripe", "segment"],
        },
        "tinyco.example": {
            "organization": "TinyCo",
            "industry": None,
            "headcount": "1-10",
            "country": "DE",
            "state": None,
            "city": "Berlin",
            "description": None,
            "technologies": [],
        },
    }

    def __init__(self, server: LoopbackServer, key: str = HUNTER_KEY, people: int = 23) -> None:
        super().__init__(server, key)
        self.people = make_people("northwind.example", "Northwind Analytics", people)
        self.people += make_people("tinyco.example", "TinyCo", 2)
        self._handlers = {
            ("GET", "/v2/domain-search"): self.domain_search,
            ("GET", "/v2/email-finder"): self.email_finder,
            ("GET", "/v2/email-verifier"): self.email_verifier,
        }
        for (method, path), handler in self._handlers.items():
            self._route(method, path, handler)

    def fail(self, path: str, status: int, retry_after: str | None = None, times: int = 1) -> None:
        self._fail("GET", path, status, self.error_body(status), retry_after, times)

    @staticmethod
    def error_body(status: int) -> dict[str, Any]:
        ids = {
            401: ("authentication_failed", "No user found for the API key supplied"),
            403: ("too_many_requests", "You have reached the rate limit for this endpoint."),
            429: ("too_many_requests", "You have reached your monthly usage limit."),
            500: ("server_error", "Something went wrong on our side."),
        }
        ident, details = ids.get(status, ("error", "Error"))
        return {"errors": [{"id": ident, "code": status, "details": details}]}

    def _authorised(self, request: RecordedRequest) -> Reply | None:
        if request.arg("api_key") != self.key:
            return Reply(status=401, json=self.error_body(401))
        return None

    def _email_item(self, person: Person) -> dict[str, Any]:
        return {
            "value": person.email,
            "type": "personal",
            "confidence": 94,
            "sources": [
                {
                    "domain": person.domain,
                    "uri": f"http://{person.domain}/team",
                    "extracted_on": "2024-03-01",
                    "last_seen_on": "2025-01-10",
                    "still_on_page": True,
                }
            ],
            "first_name": person.first_name,
            "last_name": person.last_name,
            "position": person.title,
            "position_raw": person.title,
            "seniority": "executive" if "CEO" in person.title else "senior",
            "department": "executive" if "CEO" in person.title else "sales",
            "linkedin": f"https://www.linkedin.com/in/{person.first_name.lower()}-{person.last_name.lower()}",
            "twitter": None,
            "phone_number": person.phone,
            "verification": {"date": "2025-01-10", "status": person.verification},
        }

    def domain_search(self, request: RecordedRequest) -> Reply:
        refused = self._authorised(request)
        if refused:
            return refused
        domain = request.arg("domain")
        limit = int(request.arg("limit") or 10)
        offset = int(request.arg("offset") or 0)
        if limit > 100:
            return Reply(
                status=400,
                json={
                    "errors": [
                        {
                            "id": "pagination_error",
                            "code": 400,
                            "details": "The limit value cannot exceed 100.",
                        }
                    ]
                },
            )
        company = self.COMPANIES.get(domain or "")
        people = [p for p in self.people if p.domain == domain]
        page = people[offset : offset + limit]
        data = {
            "domain": domain,
            "disposable": False,
            "webmail": False,
            "accept_all": False,
            "pattern": "{first}.{last}",
            "organization": company["organization"] if company else None,
            "description": company["description"] if company else None,
            "industry": company["industry"] if company else None,
            "twitter": None,
            "facebook": None,
            "linkedin": None,
            "instagram": None,
            "youtube": None,
            "technologies": company["technologies"] if company else [],
            "country": company["country"] if company else None,
            "state": company["state"] if company else None,
            "city": company["city"] if company else None,
            "postal_code": None,
            "street": None,
            "headcount": company["headcount"] if company else None,
            "company_type": "privately held",
            "emails": [self._email_item(p) for p in page],
            "linked_domains": [],
        }
        meta = {
            "results": len(people),
            "limit": limit,
            "offset": offset,
            "params": {
                "domain": domain,
                "company": request.arg("company"),
                "type": request.arg("type"),
                "seniority": request.arg("seniority"),
                "department": request.arg("department"),
            },
        }
        return Reply(json={"data": data, "meta": meta})

    def email_finder(self, request: RecordedRequest) -> Reply:
        refused = self._authorised(request)
        if refused:
            return refused
        domain, first, last = (
            request.arg("domain"),
            request.arg("first_name"),
            request.arg("last_name"),
        )
        person = next(
            (
                p
                for p in self.people
                if p.domain == domain
                and p.first_name.lower() == (first or "").lower()
                and p.last_name.lower() == (last or "").lower()
            ),
            None,
        )
        data = {
            "first_name": first,
            "last_name": last,
            "email": person.email if person else None,
            "score": 91 if person else None,
            "domain": domain,
            "accept_all": False,
            "position": person.title if person else None,
            "twitter": None,
            "linkedin_url": None,
            "phone_number": person.phone if person else None,
            "company": self.COMPANIES.get(domain or "", {}).get("organization"),
            "sources": [],
            "verification": {"date": None, "status": None},
        }
        meta = {
            "params": {
                "first_name": first,
                "last_name": last,
                "full_name": None,
                "domain": domain,
                "company": None,
                "max_duration": None,
            }
        }
        return Reply(json={"data": data, "meta": meta})

    def email_verifier(self, request: RecordedRequest) -> Reply:
        refused = self._authorised(request)
        if refused:
            return refused
        email = request.arg("email") or ""
        person = next((p for p in self.people if p.email == email), None)
        status = person.verification if person else "invalid"
        result = {"valid": "deliverable", "invalid": "undeliverable"}.get(status, "risky")
        data = {
            "status": status,
            "result": result,
            "_deprecation_notice": "Using result is deprecated, use status instead",
            "score": {"valid": 100, "invalid": 0}.get(status, 68),
            "email": email,
            "regexp": True,
            "gibberish": False,
            "disposable": False,
            "webmail": False,
            "mx_records": True,
            "smtp_server": True,
            "smtp_check": status == "valid",
            "accept_all": status == "accept_all",
            "block": False,
            "sources": [],
        }
        return Reply(json={"data": data, "meta": {"params": {"email": email}}})


# --- Apollo.io ------------------------------------------------------------------------------


class FakeApollo(_Fake):
    """People API Search (and the older mixed_people/search), Bulk People Enrichment,
    People Enrichment and Organization Enrichment of Apollo's API v1."""

    ORGANIZATIONS = {
        "orbit.example": {
            "name": "Orbit Payments",
            "industry": "financial services",
            "estimated_num_employees": 120,
            "city": "London",
            "state": "England",
            "country": "United Kingdom",
            "short_description": "Payment infrastructure for marketplaces.",
            "technology_names": ["Stripe", "Salesforce"],
            "founded_year": 2017,
        },
        "lumen.example": {
            "name": "Lumen CRM",
            "industry": "computer software",
            "estimated_num_employees": 45,
            "city": "Austin",
            "state": "Texas",
            "country": "United States",
            "short_description": "A CRM for small agencies.",
            "technology_names": ["Hubspot"],
            "founded_year": 2020,
        },
    }

    def __init__(self, server: LoopbackServer, key: str = APOLLO_KEY, people: int = 27) -> None:
        super().__init__(server, key)
        half = people // 2
        self.people = make_people("orbit.example", "Orbit Payments", half)
        self.people += make_people("lumen.example", "Lumen CRM", people - half)
        self._handlers = {
            ("POST", "/api/v1/mixed_people/api_search"): self.api_search,
            ("POST", "/api/v1/mixed_people/search"): self.legacy_search,
            ("POST", "/api/v1/people/bulk_match"): self.bulk_match,
            ("POST", "/api/v1/people/match"): self.match,
            ("GET", "/api/v1/organizations/enrich"): self.organization_enrich,
        }
        for (method, path), handler in self._handlers.items():
            self._route(method, path, handler)

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        retry_after: str | None = None,
        times: int = 1,
    ) -> None:
        self._fail(method, path, status, self.error_body(status, path), retry_after, times)

    @staticmethod
    def error_body(status: int, path: str = "") -> Any:
        endpoint = "api/v1" + path.removeprefix("/api/v1")
        if status == 401:
            return (
                "Invalid API key. See https://docs.apollo.io/reference/authentication for how "
                "to authenticate."
            )
        if status == 403:
            return {
                "error": f"This API key is not authorized to access {endpoint}. Request an API "
                "key from your administrator that includes this endpoint in its configured "
                "scope.",
                "error_code": "API_INACCESSIBLE",
            }
        if status == 429:
            return {
                "message": f"The maximum number of api calls allowed for {endpoint} is 600 "
                "times per hour. Please upgrade your plan from "
                "https://app.apollo.io/#/settings/plans/upgrade."
            }
        return {"error": "Internal server error"}

    def _authorised(self, request: RecordedRequest) -> Reply | None:
        if request.headers.get("x-api-key") != self.key:
            return Reply(status=401, body=self.error_body(401))
        return None

    def _organization(self, domain: str) -> dict[str, Any]:
        org = self.ORGANIZATIONS[domain]
        return {
            "id": hashlib.sha1(domain.encode()).hexdigest()[:24],
            "name": org["name"],
            "website_url": f"http://www.{domain}",
            "blog_url": None,
            "angellist_url": None,
            "linkedin_url": f"http://www.linkedin.com/company/{domain.split('.')[0]}",
            "twitter_url": None,
            "facebook_url": None,
            "primary_phone": {},
            "languages": [],
            "alexa_ranking": None,
            "phone": None,
            "founded_year": org["founded_year"],
            "logo_url": None,
            "primary_domain": domain,
            "industry": org["industry"],
            "keywords": ["payments"],
            "estimated_num_employees": org["estimated_num_employees"],
            "industries": [org["industry"]],
            "raw_address": None,
            "street_address": None,
            "city": org["city"],
            "state": org["state"],
            "postal_code": None,
            "country": org["country"],
            "short_description": org["short_description"],
            "technology_names": org["technology_names"],
            "annual_revenue": None,
        }

    def _search_record(self, person: Person) -> dict[str, Any]:
        """What People API Search shows: no email, the surname obfuscated."""
        last = person.last_name
        return {
            "id": person.apollo_id,
            "first_name": person.first_name,
            "last_name_obfuscated": f"{last[:2]}***{last[-1]}",
            "title": person.title,
            "last_refreshed_at": "2025-11-04T23:20:32.690+00:00",
            "has_email": True,
            "has_city": True,
            "has_state": True,
            "has_country": True,
            "has_direct_phone": "Yes",
            "organization": {
                "name": person.company,
                "has_industry": True,
                "has_phone": False,
                "has_city": True,
                "has_state": True,
                "has_country": True,
                "has_zip_code": False,
                "has_revenue": False,
                "has_employee_count": True,
            },
        }

    def _full_record(self, person: Person) -> dict[str, Any]:
        """What the enrichment endpoints answer."""
        org = self._organization(person.domain)
        return {
            "id": person.apollo_id,
            "first_name": person.first_name,
            "last_name": person.last_name,
            "name": f"{person.first_name} {person.last_name}",
            "linkedin_url": f"http://www.linkedin.com/in/{person.first_name.lower()}-{person.last_name.lower()}",
            "title": person.title,
            "email_status": person.apollo_email_status,
            "photo_url": None,
            "twitter_url": None,
            "github_url": None,
            "facebook_url": None,
            "extrapolated_email_confidence": None,
            "headline": f"{person.title} at {person.company}",
            "email": person.email,
            "organization_id": org["id"],
            "employment_history": [],
            "state": org["state"],
            "city": org["city"],
            "country": org["country"],
            "organization": org,
            "departments": ["master_sales"],
            "subdepartments": [],
            "seniority": "founder" if "Founder" in person.title else "manager",
            "functions": ["sales"],
            "phone_numbers": (
                [
                    {
                        "raw_number": person.phone,
                        "sanitized_number": person.phone,
                        "type": "work_direct",
                        "position": 0,
                        "status": "valid_number",
                    }
                ]
                if person.phone
                else []
            ),
        }

    def _matching(self, body: dict[str, Any]) -> list[Person]:
        people = self.people
        domains = body.get("q_organization_domains_list")
        if domains:
            people = [p for p in people if p.domain in domains]
        titles = [t.lower() for t in body.get("person_titles") or []]
        if titles:
            people = [p for p in people if any(t in p.title.lower() for t in titles)]
        return people

    def _page(self, request: RecordedRequest) -> tuple[list[Person], int, int, int]:
        body = request.json() or {}
        page, per_page = int(body.get("page") or 1), int(body.get("per_page") or 10)
        people = self._matching(body)
        start = (page - 1) * per_page
        return people[start : start + per_page], len(people), page, per_page

    def api_search(self, request: RecordedRequest) -> Reply:
        refused = self._authorised(request)
        if refused:
            return refused
        page, total, _page, _per_page = self._page(request)
        return Reply(
            json={"total_entries": total, "people": [self._search_record(p) for p in page]}
        )

    def legacy_search(self, request: RecordedRequest) -> Reply:
        refused = self._authorised(request)
        if refused:
            return refused
        page, total, number, per_page = self._page(request)
        return Reply(
            json={
                "breadcrumbs": [],
                "partial_results_only": False,
                "disable_eu_prospecting": False,
                "partial_results_limit": 10000,
                "pagination": {
                    "page": number,
                    "per_page": per_page,
                    "total_entries": total,
                    "total_pages": math.ceil(total / per_page),
                },
                "contacts": [],
                "people": [self._full_record(p) for p in page],
                "model_ids": [p.apollo_id for p in page],
                "num_fetch_result": None,
            }
        )

    def bulk_match(self, request: RecordedRequest) -> Reply:
        refused = self._authorised(request)
        if refused:
            return refused
        details = (request.json() or {}).get("details") or []
        by_id = {p.apollo_id: p for p in self.people}
        matches = [
            self._full_record(by_id[d["id"]]) if d.get("id") in by_id else None for d in details
        ]
        found = sum(1 for m in matches if m)
        return Reply(
            json={
                "status": "success",
                "error_code": None,
                "error_message": None,
                "total_requested_enrichments": len(details),
                "unique_enriched_records": found,
                "missing_records": len(details) - found,
                "credits_consumed": found,
                "matches": matches,
            }
        )

    def match(self, request: RecordedRequest) -> Reply:
        refused = self._authorised(request)
        if refused:
            return refused
        body = request.json() or {}
        person = next(
            (
                p
                for p in self.people
                if p.domain == body.get("domain")
                and p.first_name.lower() == str(body.get("first_name", "")).lower()
                and p.last_name.lower() == str(body.get("last_name", "")).lower()
            ),
            None,
        )
        return Reply(json={"person": self._full_record(person) if person else None})

    def organization_enrich(self, request: RecordedRequest) -> Reply:
        refused = self._authorised(request)
        if refused:
            return refused
        domain = request.arg("domain") or ""
        if domain not in self.ORGANIZATIONS:
            return Reply(json={})
        return Reply(json={"organization": self._organization(domain)})
