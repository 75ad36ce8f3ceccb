"""Reading the CSV files people export from spreadsheets: UTF-8 (with or without a BOM), and
',' or ';' or tab as the delimiter, whichever gives a header the caller can use."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path


class CsvReadError(Exception):
    """The file could not be read as CSV; the message says why, for the user."""


def read_csv_rows(
    path: Path, usable_header: Callable[[list[str]], bool]
) -> tuple[str, list[list[str]] | None]:
    """(the file's text, its rows) with the first delimiter whose header `usable_header`
    accepts; rows is None when no delimiter gives one (the caller words that error)."""
    try:
        # newline="": a "\r" inside a quoted field is data, as the csv module expects.
        with path.open(encoding="utf-8-sig", newline="") as file:
            content = file.read()
    except FileNotFoundError:
        raise CsvReadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CsvReadError(f"{path}: is a folder, not a CSV file") from None
    except UnicodeDecodeError:
        raise CsvReadError(f"{path}: not UTF-8 text; save the CSV as UTF-8") from None
    except OSError as exc:
        raise CsvReadError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    # Spreadsheets in many locales save with ';' (or tabs).
    for delimiter in (",", ";", "\t"):
        reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
        try:
            rows = list(reader)
        except csv.Error as exc:
            raise CsvReadError(f"{path}: line {reader.line_num}: {exc}") from None
        if not rows:
            break
        if usable_header(rows[0]):
            return content, rows
    return content, None
