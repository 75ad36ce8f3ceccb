"""The `csv` lead provider: a user's own CSV file of people or companies, searched with the
same matching rules as `local` (role words against titles, company words against the
company, the same filters).

The file needs a header row. Columns are recognised case-insensitively under common names
(name or first_name/last_name, title/position, email, phone, company, domain/website,
industry, size/employees, city, region/state, country, technologies, keywords, description,
linkedin, founded); any other column is kept in the lead's data. Rows are grouped into
companies by domain (else company name); a row without a person is the company itself.
Delimiters `,`, `;` and tabs are recognised, as spreadsheets in many locales save with `;`.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from hunter_cli.csvfiles import CsvReadError, read_csv_rows
from hunter_cli.providers.leads.base import (
    LeadProviderError,
    LeadQuery,
    check_file_settings,
    normalise_domain,
)
from hunter_cli.providers.leads.local import FILTERS as LOCAL_FILTERS
from hunter_cli.providers.leads.local import (
    find_company,
    find_person_email,
    search_companies,
)

NAME = "csv"
# The filters of `local`, whose matching rules a file is searched with.
FILTERS = LOCAL_FILTERS

# column name (lower case, spaces and dashes as underscores) -> our field
ALIASES: dict[str, str] = {
    **dict.fromkeys(("name", "full_name", "contact", "contact_name", "person"), "name"),
    **dict.fromkeys(("first_name", "firstname", "given_name"), "first_name"),
    **dict.fromkeys(("last_name", "lastname", "surname", "family_name"), "last_name"),
    **dict.fromkeys(("title", "position", "job_title", "role"), "title"),
    **dict.fromkeys(("email", "email_address", "work_email", "e_mail"), "email"),
    **dict.fromkeys(("phone", "phone_number", "telephone", "mobile"), "phone"),
    **dict.fromkeys(
        ("company", "company_name", "organization", "organisation", "account"), "company"
    ),
    **dict.fromkeys(("domain", "website", "company_domain", "url", "web"), "domain"),
    **dict.fromkeys(("industry", "sector"), "industry"),
    **dict.fromkeys(("size", "employees", "employee_count", "headcount"), "size"),
    "size_band": "size_band",
    "city": "city",
    **dict.fromkeys(("region", "state", "province"), "region"),
    "country": "country",
    **dict.fromkeys(("technologies", "technology", "tech", "tech_stack"), "technologies"),
    **dict.fromkeys(("keywords", "tags"), "keywords"),
    **dict.fromkeys(("description", "about", "summary"), "description"),
    **dict.fromkeys(("linkedin", "linkedin_url"), "linkedin"),
    **dict.fromkeys(("founded", "founded_year", "year_founded"), "founded"),
}
PERSON_FIELDS = ("name", "title", "email", "phone", "linkedin")
COMPANY_FIELDS = ("industry", "size_band", "description", "founded")


def _column_key(header: str) -> str:
    return re.sub(r"[\s\-]+", "_", header.strip().lower())


def _list(value: str) -> list[str]:
    """`a; b`, `a|b`, `a, b` or a JSON list (what `hunter leads export` writes)."""
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return [str(v).strip() for v in parsed if str(v).strip()]
    return [part.strip() for part in re.split(r"[;|,]", value) if part.strip()]


def _int(value: str) -> int | None:
    digits = value.replace(",", "").replace("_", "").strip()
    return int(digits) if digits.isdigit() else None


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    def usable(header: list[str]) -> bool:
        known = {ALIASES.get(_column_key(h)) for h in header}
        return bool(known & {"email", "domain", "company", "name", "first_name"})

    try:
        _, rows = read_csv_rows(path, usable)
    except CsvReadError as exc:
        raise LeadProviderError(f"csv: {exc}") from None
    if rows is None:
        raise LeadProviderError(
            f"csv: {path}: no usable header: the first row must name columns such as name, "
            "email, company and domain"
        )
    return rows[0], rows[1:]


def _row_record(columns: list[str], cells: list[str]) -> tuple[dict[str, str], dict[str, Any]]:
    """(known fields, other columns) of one row, blank cells left out."""
    known: dict[str, str] = {}
    extra: dict[str, Any] = {}
    for header, cell in zip(columns, cells, strict=False):
        value = cell.strip()
        if not header.strip() or not value:
            continue
        field = ALIASES.get(_column_key(header))
        if field is None:
            extra[header.strip()] = value
        elif field not in known:
            known[field] = value
    if "name" not in known and ("first_name" in known or "last_name" in known):
        known["name"] = " ".join(known[k] for k in ("first_name", "last_name") if k in known)
    return known, extra


def companies_from_rows(columns: list[str], rows: list[list[str]]) -> list[dict[str, Any]]:
    """The rows as companies with contacts: the shape of the local dataset."""
    companies: dict[str, dict[str, Any]] = {}
    for number, cells in enumerate(rows, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        known, extra = _row_record(columns, cells)
        domain = normalise_domain(known.get("domain"))
        if domain is None and "@" in known.get("email", ""):
            domain = normalise_domain(known["email"])
        company_name = known.get("company")
        key = domain or (company_name.casefold() if company_name else f"row:{number}")
        company = companies.setdefault(key, {"contacts": []})
        company.setdefault("name", company_name)
        company.setdefault("domain", domain)
        for field in COMPANY_FIELDS:
            if field in known and not company.get(field):
                company[field] = _int(known[field]) if field == "founded" else known[field]
        if "size" in known and company.get("size") is None:
            company["size"] = _int(known["size"])
        location = company.setdefault("location", {})
        for field in ("city", "region", "country"):
            if field in known and not location.get(field):
                location[field] = known[field]
        for field in ("technologies", "keywords"):
            if field in known and not company.get(field):
                company[field] = _list(known[field])
        person = {f: known[f] for f in PERSON_FIELDS if f in known}
        # A row without a person is the company itself: still a lead (company and domain).
        contact: dict[str, Any] = {**{f: None for f in PERSON_FIELDS}, **person}
        if extra:
            contact["extra"] = extra
        company["contacts"].append(contact)
    for company in companies.values():
        if not company.get("location"):
            company["location"] = None
    return list(companies.values())


@functools.lru_cache(maxsize=8)
def _load(path: str, _mtime_ns: int, _size: int) -> tuple[dict[str, Any], ...]:
    columns, rows = _read_rows(Path(path))
    return tuple(companies_from_rows(columns, rows))


def load_csv_companies(path: str | Path) -> tuple[dict[str, Any], ...]:
    """The file's companies, read again only when the file changed."""
    file = Path(path)
    try:
        stat = file.stat()
    except FileNotFoundError:
        raise LeadProviderError(f"csv: {file}: no such file") from None
    except OSError as exc:
        raise LeadProviderError(f"csv: {file}: cannot read it ({exc.strerror or exc})") from None
    return _load(str(file), stat.st_mtime_ns, stat.st_size)


def _with_extras(leads: list[dict[str, Any]], companies: tuple[dict[str, Any], ...]) -> None:
    """Other columns of a row belong in that lead's data."""
    extras = {
        (c.get("domain"), contact.get("email"), contact.get("name")): contact["extra"]
        for c in companies
        for contact in c.get("contacts") or []
        if contact.get("extra")
    }
    for lead in leads:
        extra = extras.get((lead.get("domain"), lead.get("email"), lead.get("name")))
        if extra:
            lead["data"] = {**extra, **{k: v for k, v in lead["data"].items() if v is not None}}


class CsvProvider:
    """Searches a CSV file of people or companies (`path`: the step's `path` parameter or
    [providers.csv] path in hunter.toml)."""

    name = NAME
    api_key_env = None

    def __init__(self, path: str | None = None, **others: Any) -> None:
        check_file_settings(NAME, path, others)
        self.path = str(path) if path else None

    def _companies(self) -> tuple[dict[str, Any], ...]:
        if not self.path:
            raise LeadProviderError(
                "csv: no file to search: give the step a `path`, or set providers.csv.path in "
                "hunter.toml"
            )
        return load_csv_companies(self.path)

    def search(self, query: LeadQuery) -> list[dict[str, Any]]:
        companies = self._companies()
        leads = search_companies(companies, query, NAME)
        _with_extras(leads, companies)
        return leads

    def find_email(
        self,
        first_name: str | None,
        last_name: str | None,
        domain: str | None,
        company: str | None = None,
    ) -> dict[str, Any] | None:
        return find_person_email(self._companies(), NAME, first_name, last_name, domain, company)

    def enrich_company(self, domain: str) -> dict[str, Any] | None:
        return find_company(self._companies(), NAME, domain)
