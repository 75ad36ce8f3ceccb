"""The files people bring to `hunter leads import`: which of their columns fill which lead field,
under the names spreadsheets and CRMs give them ("E-mail", "Company Name", "Job Title")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# The fields a column can fill and the names it goes by. A header matches whatever its case,
# spacing and punctuation: "E-mail", "EMAIL_ADDRESS" and "Email Address" are one name.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "e-mail", "email address", "e-mail address", "work email"),
    "name": ("name", "full name", "contact name"),
    "first_name": ("first name", "given name"),
    "last_name": ("last name", "surname", "family name"),
    "company": ("company", "company name", "organization", "organisation", "account name"),
    "domain": ("domain", "website", "website url", "company website", "company domain", "url"),
    "title": ("title", "job title", "position"),
    "phone": ("phone", "phone number", "mobile", "mobile phone", "telephone"),
    "score": ("score",),
    "tier": ("tier",),
}
# The parts of a name fill the lead's name (first and last, joined by a space).
NAME_PARTS = ("first_name", "last_name")
# Columns of an export that hunter keeps for itself: a lead is matched by its email, or domain
# and name, and when it was seen is the store's own record.
BOOKKEEPING_COLUMNS = ("id", "first_seen", "last_seen")


# What people type in a cell that has no value; any column treats them as empty.
PLACEHOLDERS = frozenset(
    {"n/a", "n.a.", "#n/a", "-", "--", "---", "\u2013", "\u2014", "?", "tbd", "tba", "none",
     "null", "nil", "(none)", "(blank)", "(empty)"}
)  # fmt: skip


def is_placeholder(text: str) -> bool:
    """Whether a cell's text stands for no value: `N/A`, `-`, `tbd`, `none`, `null`..."""
    return text.strip().casefold() in PLACEHOLDERS


def alias_key(header: str) -> str:
    """A header as compared with the aliases: lower case, letters and digits only."""
    return re.sub(r"[\W_]+", "", header.casefold())


_FIELD_OF = {alias_key(alias): name for name, aliases in FIELD_ALIASES.items() for alias in aliases}


def field_of(header: str) -> str | None:
    """The field a column of this name fills (first_name and last_name for a name's parts)."""
    return _FIELD_OF.get(alias_key(header))


def public_field(name: str) -> str:
    """The lead field a column fills, as users know it: a name's parts fill `name`."""
    return "name" if name in NAME_PARTS else name


@dataclass(frozen=True)
class ColumnPlan:
    """What import does with each column (by position): fill a field, keep it in `data` under
    its header, or skip it (an export's bookkeeping, or a column with no header)."""

    headers: list[str]
    fields: dict[int, str]
    data: dict[int, str]
    skipped: dict[int, str]  # column -> why
    # Columns naming a field that another column fills: kept in data, column -> that field.
    unused: dict[int, str]
    lead_id: int | None = None  # an export's id column: which lead a row is, for --overwrite

    @property
    def usable(self) -> bool:
        """Whether a row can be a lead: the file names an email, or a domain and a name."""
        named = set(self.fields.values())
        return "email" in named or ("domain" in named and bool(named & {"name", *NAME_PARTS}))

    def label(self, column: int) -> str:
        return self.headers[column] or f"(column {column + 1}, no header)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "mapped": {self.label(i): public_field(f) for i, f in sorted(self.fields.items())},
            "data": [self.label(i) for i in sorted(self.data)],
            "skipped": [self.label(i) for i in sorted(self.skipped)],
            "unused_aliases": {
                self.label(i): public_field(f) for i, f in sorted(self.unused.items())
            },
        }


def plan_columns(headers: list[str]) -> ColumnPlan:
    """Which column fills which field. A column named exactly as the field wins (an export's
    `domain` over a `website` kept in its data); else the first column of that name. The
    others are kept in data, as is a first/last name when a name column is there."""
    candidates: dict[str, list[tuple[int, int]]] = {}
    skipped: dict[int, str] = {}
    for index, header in enumerate(headers):
        if not header:
            skipped[index] = "no header"
        elif header.lower() in BOOKKEEPING_COLUMNS:
            skipped[index] = "hunter's own bookkeeping"
        else:
            name = field_of(header)
            if name is not None:
                exact = alias_key(header) == alias_key(name)
                candidates.setdefault(name, []).append((0 if exact else 1, index))
    fields: dict[int, str] = {}
    unused: dict[int, str] = {}
    for name, found in candidates.items():
        _rank, chosen = min(found)
        fields[chosen] = name
        unused.update((index, name) for _r, index in found if index != chosen)
    if "name" in fields.values():
        for index in [i for i, name in fields.items() if name in NAME_PARTS]:
            unused[index] = "name"
            del fields[index]
    data = {
        index: header
        for index, header in enumerate(headers)
        if index not in fields and index not in skipped
    }
    lead_id = next((i for i, h in enumerate(headers) if h.lower() == "id"), None)
    return ColumnPlan(list(headers), fields, data, skipped, unused, lead_id)
