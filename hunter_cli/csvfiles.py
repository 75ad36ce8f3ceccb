"""Reading the CSV files people export from spreadsheets: UTF-8 (with or without a BOM),
UTF-16 or UTF-32 with a BOM, or an encoding the caller names; and ',' or ';' or tab as the
delimiter, whichever gives a header the caller can use."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

# After a field's opening quote: its text up to the closing quote ("" is a quote in it).
# Excel's first line naming the delimiter: `sep=;` (some tools quote it or pad it).
_SEP_LINE = re.compile(r'"?sep=([^\r\n"])"?[,;\t]*(?:\r\n|\r|\n|$)', re.IGNORECASE)
_QUOTED_REST = re.compile(r'(?:[^"]++|"")*+"')
_LINE_BREAK = re.compile(r"\r\n?|\n")


# Byte-order marks and the encodings they announce; UTF-32's first, as UTF-32-LE's begins
# with UTF-16-LE's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class CsvReadError(Exception):
    """The file could not be read as CSV; the message says why, for the user."""


class CsvFileMissing(CsvReadError):
    """There is no such file (a command reports it as not found, exit 3)."""


class CsvEncodingError(CsvReadError):
    """The file's bytes are not text in the encoding it was read with."""

    def __init__(self, message: str, *, line: int, byte: int, encoding: str) -> None:
        super().__init__(message)
        self.line = line  # where the first byte that could not be read is
        self.byte = byte  # that byte's value
        self.encoding = encoding  # what was tried: "UTF-8", or the name the caller gave


@dataclass(frozen=True)
class StrayQuote:
    """A quoted field that took in the lines after it: its quote is never closed (the field
    runs to the end of the file), or only by a later field's opening quote (text follows)."""

    line: int  # where the quote opens
    row: int  # the row it is in, numbered as CsvFile.header_row is
    lines_taken: int  # how many following lines the field took in


@dataclass(frozen=True)
class CsvFile:
    content: str  # the file's text (without an Excel `sep=` line)
    rows: list[list[str]] | None  # from the header on; None when no delimiter gives a usable one
    stray_quotes: list[StrayQuote] = field(default_factory=list)
    header_row: int = 1  # the header's row number: blank rows before it count, `sep=` not


def read_csv_rows(
    path: Path, usable_header: Callable[[list[str]], bool]
) -> tuple[str, list[list[str]] | None]:
    """(the file's text, its rows) with the first delimiter whose header `usable_header`
    accepts; rows is None when no delimiter gives one (the caller words that error)."""
    read = read_csv_file(path, usable_header)
    return read.content, read.rows


def find_stray_quotes(content: str, delimiter: str) -> list[StrayQuote]:
    """Quoted fields that took in the following lines by mistake, found by splitting fields
    as the csv module does (text after a closing quote stays in the field). A well-formed
    field spanning lines is closed by a quote that a delimiter or line break follows."""
    unquoted = re.compile(f"[^{re.escape(delimiter)}\r\n]*")
    found: list[StrayQuote] = []
    position, row, end_of_file = 0, 1, len(content)
    while position < end_of_file:
        if content[position] == '"':
            closed = _QUOTED_REST.match(content, position + 1)
            end = closed.end() if closed else end_of_file
            spans_lines = _LINE_BREAK.search(content, position, end) is not None
            text_follows = end < end_of_file and content[end] not in (delimiter, "\r", "\n")
            if closed is None or (spans_lines and text_follows):
                taken = _LINE_BREAK.findall(content[position:end].rstrip("\r\n"))
                found.append(StrayQuote(content.count("\n", 0, position) + 1, row, len(taken)))
            position = end
        unquoted_end = unquoted.match(content, position)
        position = unquoted_end.end() if unquoted_end else position
        if content.startswith("\r\n", position):
            position, row = position + 2, row + 1
        elif content.startswith(("\r", "\n"), position):
            position, row = position + 1, row + 1
        else:
            position += 1  # the delimiter
    return found


def _stray_quotes(content: str, delimiter: str) -> list[StrayQuote]:
    # Both kinds are errors to the csv module's strict mode, which is four times quicker
    # than looking for them: a file it reads has none.
    try:
        for _row in csv.reader(io.StringIO(content, newline=""), delimiter=delimiter, strict=True):
            pass
    except csv.Error:
        return find_stray_quotes(content, delimiter)
    return []


def read_text(path: Path, encoding: str | None = None) -> str:
    """The file's text: in `encoding` when given, else UTF-16 or UTF-32 when a byte-order mark
    says so, else UTF-8. Line endings are kept as they are (a "\r" inside a quoted field is
    data, as the csv module expects). CsvEncodingError names the line of the first byte that
    is not text in that encoding."""
    if encoding is not None:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise CsvReadError(
                f"unknown encoding {encoding!r}: use one such as utf-8, cp1252, latin-1 or utf-16"
            ) from None
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CsvFileMissing(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CsvReadError(f"{path}: is a folder, not a CSV file") from None
    except OSError as exc:
        raise CsvReadError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if encoding is None:
        codec = next((name for bom, name in _BOMS if raw.startswith(bom)), "utf-8")
    named = encoding or ("UTF-8" if codec == "utf-8" else codec)
    try:
        if codec == "utf-8" and b"\x00" in raw:
            # Valid UTF-8, but no text file has NULs: UTF-16 saved without a byte-order mark.
            raise UnicodeDecodeError(codec, raw, raw.index(b"\x00"), len(raw), "NUL")
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        hint = "; save the file as UTF-8" if encoding is None else ""
        raise CsvEncodingError(
            f"{path}: line {line}: byte 0x{raw[exc.start]:02x} is not {named} text{hint}",
            line=line,
            byte=raw[exc.start],
            encoding=named,
        ) from None
    if "\x00" in text:
        # No text file holds a NUL: a UTF-16 file read as cp1252 or latin-1 has one between
        # every two letters. Read on, it would reach the data (PostgreSQL refuses it).
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise CsvEncodingError(
            f"{path}: line {line}: a NUL character (byte 0x00) is not {named} text",
            line=line,
            byte=0,
            encoding=named,
        )
    return text.removeprefix("\ufeff")  # a BOM the named encoding leaves in


def read_csv_file(
    path: Path, usable_header: Callable[[list[str]], bool], encoding: str | None = None
) -> CsvFile:
    """The file read with the first delimiter whose header `usable_header` accepts."""
    return parse_csv(path, read_text(path, encoding), usable_header)


def parse_csv(path: Path, content: str, usable_header: Callable[[list[str]], bool]) -> CsvFile:
    """A file's text as rows, with the first delimiter whose header `usable_header` accepts,
    or the one an Excel `sep=;` first line names. Blank lines before the header are passed
    over; `path` names the file in errors."""
    delimiters: tuple[str, ...] = (",", ";", "\t")  # spreadsheets in many locales save ';'
    skipped_lines = 0
    sep = _SEP_LINE.match(content)
    if sep:
        # Excel reads this line as the delimiter to use and shows no row for it.
        delimiters, content, skipped_lines = (sep[1],), content[sep.end() :], 1
    for delimiter in delimiters:
        reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
        try:
            rows = list(reader)
        except csv.Error as exc:
            raise CsvReadError(f"{path}: line {reader.line_num + skipped_lines}: {exc}") from None
        header = next((i for i, row in enumerate(rows) if any(cell.strip() for cell in row)), None)
        if header is None:
            break
        if usable_header(rows[header]):
            stray = [
                replace(quote, line=quote.line + skipped_lines)
                for quote in _stray_quotes(content, delimiter)
            ]
            return CsvFile(content, rows[header:], stray, header_row=header + 1)
    return CsvFile(content, None)
