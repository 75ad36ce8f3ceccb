"""The files people bring to `hunter leads import`: reading them (CSV as spreadsheets save it),
and which of their columns fill which lead field, under the names spreadsheets and CRMs give
them ("E-mail", "Company Name", "Job Title"); and the cell escaping export and import share."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hunter_cli.csvfiles import (
    CsvEncodingError,
    CsvFileMissing,
    CsvReadError,
    StrayQuote,
    parse_csv,
    read_text,
)
from hunter_cli.errors import NotFoundError, UsageError

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
# Spreadsheets run a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
# Columns of an export that hunter keeps for itself: a lead is matched by its email, or domain
# and name, and when it was seen is the store's own record. An `id` column is one only when
# it holds hunter's lead ids (see `lead_id_column`); a CRM's own ids are kept in data.
BOOKKEEPING_COLUMNS = ("first_seen", "last_seen")
LEAD_ID_COLUMN = "id"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


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


def lead_id_column(headers: list[str], rows: list[tuple[int, list[Any]]]) -> int | None:
    """The column holding hunter's lead ids, as an export writes them: the first named `id`
    whose every value is a lead id (a UUID). A CRM's own `ID` (1001, 0035g00000XyZ) is not."""
    for index, header in enumerate(headers):
        if header.lower() != LEAD_ID_COLUMN:
            continue
        values = [cells[index] for _n, cells in rows if index < len(cells)]
        if all(_UUID.fullmatch(str(v).strip()) for v in values if v is not None and str(v).strip()):
            return index
    return None


def plan_columns(
    headers: list[str], bookkeeping: tuple[str, ...] = (), lead_id: int | None = None
) -> ColumnPlan:
    """Which column fills which field. A column named exactly as the field wins (an export's
    `domain` over a `website` kept in its data); else the first column of that name. The
    others are kept in data, as is a first/last name when a name column is there. Columns
    named in `bookkeeping` are skipped, as an export's first_seen and last_seen are, and so
    is the `lead_id` column (which `lead_id_column` found); another `id` is kept in data."""
    candidates: dict[str, list[tuple[int, int]]] = {}
    skipped: dict[int, str] = {}
    for index, header in enumerate(headers):
        if not header:
            skipped[index] = "no header"
        elif index == lead_id:
            skipped[index] = "hunter's lead id"
        elif header.lower() in (*BOOKKEEPING_COLUMNS, *bookkeeping):
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
    return ColumnPlan(list(headers), fields, data, skipped, unused, lead_id)


# --- cells -----------------------------------------------------------------------------------


def formula_escaped(text: str) -> bool:
    """Whether export writes this text behind a "'": it would run as a formula (a plain
    number such as -3 would not), or it already starts with "'" before such text, so that
    import, which removes one "'" from exactly these, gives every text back as it was."""
    rest = text.lstrip("'")
    return rest.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(rest)


def escape_formula(text: str) -> str:
    return "'" + text if formula_escaped(text) else text


def unescape_formula(text: str) -> str:
    return text[1:] if text.startswith("'") and formula_escaped(text[1:]) else text


def _number(value: str) -> int | float | None:
    """The number that export writes as exactly this text, else None: "02134", "+1", "1.50"
    and "nan" are text, as they were when exported."""
    number: int | float
    try:
        number = int(value)
    except ValueError:
        try:
            number = float(value)
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
    return number if str(number) == value else None


def parse_extra(value: str) -> Any:
    """An extra column's cell back as the type export wrote: JSON lists and mappings,
    booleans ("True", "False") and numbers written exactly as export writes them."""
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if value in ("True", "False"):
        return value == "True"
    number = _number(value)
    return value if number is None else number


# --- files -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadFile:
    """A file's columns and its rows by number, blank rows left out, and the rows that could
    not be read, with the reason. A CSV's rows are numbered as a spreadsheet shows them (the
    header is row 1 unless blank rows come before it); a JSON list's leads from 1. `typed`:
    cells are JSON values (a CSV's are text, read back by `parse_extra`)."""

    format: str  # "csv" or "json"
    headers: list[str]
    rows: list[tuple[int, list[Any]]]
    rejected: list[tuple[int, str]] = field(default_factory=list)
    # Columns hunter keeps for itself beyond BOOKKEEPING_COLUMNS (a JSON export's `source`).
    bookkeeping: tuple[str, ...] = ()
    lead_id: int | None = None  # the column of hunter's lead ids, if there is one
    blank: int = 0  # rows with nothing in any cell, left out (counted, so the report adds up)

    def plan(self) -> ColumnPlan:
        """Which column fills which field."""
        return plan_columns(self.headers, self.bookkeeping, self.lead_id)

    @property
    def typed(self) -> bool:
        return self.format == "json"


def read_lead_file(path: Path, encoding: str | None = None) -> LeadFile:
    """The rows of a lead file: a CSV, or a JSON list of leads (what `hunter leads export
    --format json` writes, or `leads list --json`'s document). UsageError when it is missing
    or unreadable, is not text in its encoding, or names no usable columns."""
    text = _read_text(path, encoding)
    if text.lstrip()[:1] in ("[", "{"):
        return _read_json(path, text)
    headers, header_row, rows, stray_quotes = _read_csv(path, text)
    numbered: list[tuple[int, list[Any]]] = []
    rejected: list[tuple[int, str]] = []
    blank = 0
    for number, cells in enumerate(rows, start=header_row + 1):
        if not any(cell.strip() for cell in cells):
            blank += 1  # blank lines are not rows anyone meant
            continue
        if number in stray_quotes:
            rejected.append((number, _stray_quote_reason(stray_quotes[number])))
        else:
            numbered.append((number, cells))
    lead_id = lead_id_column(headers, numbered)
    # An export of leads with a CRM's "ID" in their data has both: hunter's and that one.
    lowered = [c.lower() for i, c in enumerate(headers) if c and i != lead_id]
    doubled = sorted({c for c in lowered if lowered.count(c) > 1})
    if doubled:
        raise UsageError(f"{path}: column {doubled[0]!r} appears more than once in the header")
    return LeadFile("csv", headers, numbered, rejected, lead_id=lead_id, blank=blank)


def _read_text(path: Path, encoding: str | None) -> str:
    try:
        return read_text(path, encoding)
    except CsvEncodingError as exc:
        if encoding is not None:
            raise UsageError(f"{exc}: is --encoding {encoding} the file's encoding?") from None
        if exc.encoding != "UTF-8":  # a byte-order mark named it, and a NUL is in the text
            raise UsageError(str(exc)) from None
        # Excel on Windows saves "CSV" in the system's code page: cp1252 in the West.
        named = (
            "--encoding utf-16-le (it looks like UTF-16 without a byte-order mark)"
            if exc.byte == 0
            else "--encoding cp1252 (Excel on Windows) or --encoding latin-1"
        )
        raise UsageError(
            f"{path}: line {exc.line}: byte 0x{exc.byte:02x} is not UTF-8 text: save the file "
            f'as UTF-8 (Excel: "CSV UTF-8"), or name its encoding, e.g. {named}'
        ) from None
    except CsvFileMissing as exc:  # a file a command reads that is not there: not found
        raise NotFoundError(str(exc)) from None
    except CsvReadError as exc:
        raise UsageError(str(exc)) from None


def _read_csv(
    path: Path, text: str
) -> tuple[list[str], int, list[list[str]], dict[int, StrayQuote]]:
    """The header, its row number, the rows after it, and by row number the quoted fields
    that took in the lines after them (a quote never closed)."""

    def usable(header: list[str]) -> bool:
        return plan_columns([unescape_formula(h.strip()) for h in header]).usable

    try:
        read = parse_csv(path, text, usable)
    except CsvReadError as exc:
        raise UsageError(str(exc)) from None
    content, rows = read.content, read.rows
    if rows is not None:
        stray = {quote.row: quote for quote in reversed(read.stray_quotes)}  # first per row
        if read.header_row in stray:
            raise UsageError(
                f"{path}: line {stray[read.header_row].line}: the header has a quoted field "
                "that is never closed, so it takes in the lines after it"
            )
        header = [unescape_formula(unicodedata.normalize("NFC", h.strip())) for h in rows[0]]
        return header, read.header_row, rows[1:], stray
    if not content.strip():
        raise UsageError(
            f"{path}: the file is empty; expected a header row such as name,email,company,domain"
        )
    rows_found = csv.reader(io.StringIO(content, newline=""))
    found = next((row for row in rows_found if any(cell.strip() for cell in row)), [])
    names = ", ".join(h.strip() for h in found if h.strip()) or "nothing"
    raise UsageError(
        f"{path}: no usable header: the first row must name an email column (email, e-mail, "
        "email address...), or domain (domain, website...) and name (name, or first name and "
        f"last name) columns (found: {names})"
    )


def _read_json(path: Path, text: str) -> LeadFile:
    """A JSON list of leads as rows: each lead's keys and its `data`'s keys are the columns
    (a data key that is also a lead's own key, and its provenance, are left out, as a CSV
    export leaves them out)."""
    from hunter_cli.leads import PROVENANCE  # the store's: imported here, as leads imports us

    try:
        document = json.loads(text)
    except ValueError as exc:
        where = f"line {exc.lineno}: " if isinstance(exc, json.JSONDecodeError) else ""
        raise UsageError(
            f"{path}: {where}not valid JSON ({getattr(exc, 'msg', exc)}); import reads a CSV "
            "file, or the JSON list of leads that `hunter leads export --format json` writes"
        ) from None
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        document = document["data"]  # the {"status": "ok", "data": [...]} of `--json`
    if not isinstance(document, list):
        raise UsageError(
            f"{path}: a JSON import is a list of leads, as `hunter leads export --format json` "
            f"writes; this file holds a {type(document).__name__}"
        )
    own: dict[str, None] = {}  # keys in order, as the columns of a CSV
    for item in document:
        if isinstance(item, dict):
            own.update((str(key), None) for key in item if key != "data")
    nested: dict[str, None] = {}
    for item in document:
        data = item.get("data") if isinstance(item, dict) else None
        if isinstance(data, dict):
            nested.update((str(k), None) for k in data if k != PROVENANCE and k not in own)
    headers = [unicodedata.normalize("NFC", h.strip()) for h in [*own, *nested]]
    rows: list[tuple[int, list[Any]]] = []
    rejected: list[tuple[int, str]] = []
    for number, item in enumerate(document, start=1):
        if not isinstance(item, dict):
            rejected.append((number, f"not a lead (a JSON object) but {json.dumps(item)[:40]}"))
            continue
        data = item["data"] if isinstance(item.get("data"), dict) else {}
        rows.append((number, [item[k] if k in item else data.get(k) for k in [*own, *nested]]))
    read = LeadFile("json", headers, rows, rejected, ("source",), lead_id_column(headers, rows))
    if document and not read.plan().usable:
        raise UsageError(
            f"{path}: no usable keys: the leads must have an email, or a domain and a name "
            f"(found: {', '.join(headers) or 'nothing'})"
        )
    return read


def _stray_quote_reason(quote: StrayQuote) -> str:
    taken = quote.lines_taken
    rest = f", so the {taken} line(s) after it were read into it" if taken else ""
    return (
        f"an unterminated quoted field: the quote opening it on line {quote.line} is never "
        f"closed{rest}; close it and import again"
    )
