"""Rendering results for people (rich tables) and scripts (the JSON envelope), and turning
errors into one line and a documented exit code. The one place that writes to the terminal."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import traceback
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import typer

from hunter_cli.errors import ExitCode, HunterError, Interrupted

if TYPE_CHECKING:
    from rich.console import JustifyMethod
    from rich.table import Table


# Off a terminal, with no COLUMNS, lines are as long as their values: rich would wrap a pipe
# or a file at 80 columns, splitting an address or a number in two.
PIPE_WIDTH = 10_000


def _make_console(**options: Any) -> Any:
    from rich.console import Console, ConsoleDimensions

    class HunterConsole(Console):
        """A rich Console as wide as PIPE_WIDTH off a terminal (unless COLUMNS says
        otherwise), that never crops a line: a table wider than the terminal, whose numbers
        and ids keep their whole width (see `table`), wraps on screen instead of losing its
        right-hand columns."""

        @property
        def size(self) -> ConsoleDimensions:
            size = super().size
            if not self.is_terminal and not os.environ.get("COLUMNS", "").strip().isdigit():
                return ConsoleDimensions(PIPE_WIDTH, size.height)
            return size

        @size.setter
        def size(self, new_size: tuple[int, int]) -> None:
            self.width, self.height = new_size

        def print(self, *objects: Any, **print_options: Any) -> None:
            print_options.setdefault("crop", False)
            super().print(*objects, **print_options)

    return HunterConsole(**options)


class _LazyConsole:
    """A rich Console made on first use: `hunter --help` should not pay for importing rich."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            self._console = _make_console(**self._options)
        return getattr(self._console, name)


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


console: Any = _LazyConsole(highlight=False, soft_wrap=False)
err_console: Any = _LazyConsole(stderr=True, highlight=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=_json_default, ensure_ascii=False))
    sys.stdout.write("\n")
    sys.stdout.flush()


def emit(data: Any, *, json_output: bool, render: Callable[[], None] | None = None) -> None:
    """Print a command's result: the envelope for scripts, or the rendering for people."""
    if json_output:
        print_json({"status": "ok", "data": data})
    elif render is not None:
        render()


def note_more(
    limit: int, *, json_output: bool, order: str = "newest", offset: int | None = None
) -> None:
    """Say that a list stopped at its --limit with more left: after the table for people,
    and on stderr with --json, whose stdout stays the plain list scripts parse. `offset` is
    given by the lists that take --offset."""
    if offset is None:
        note = f"Showing the {order} {limit}; use --limit to see more."
    elif offset == 0:
        note = (
            f"Showing the {order} {limit}; use --limit to see more "
            f"(or --offset {limit} for the next {limit})."
        )
    else:
        note = (
            f"Showing {limit} after the {order} {offset}; "
            f"use --offset {offset + limit} for the next {limit}."
        )
    if json_output:
        err_console.print(f"note: {note}", soft_wrap=True, markup=False)
    else:
        console.print(note, style="dim", soft_wrap=True, markup=False)


# Columns of times and ids: never split mid-value.
_NO_WRAP = {
    "when",
    "period ends",
    "#",
    "last seen",
    "first seen",
    "created",
    "started",
    "id",
    "execution",
}
# The narrowest a column of free text folds to on a narrow screen.
_TEXT_FLOOR = 10


@functools.cache
def _wide_table_class() -> type[Table]:
    from rich.table import Table

    class WideTable(Table):
        """A table never narrower than its columns' min_width: rich would shrink a column
        of text to nothing, then cut the numbers, to fit a narrow screen."""

        def __rich_console__(self, console, options):  # type: ignore[no-untyped-def]
            floor = self._extra_width + sum(
                (column.min_width or 0) + self._get_padding_width(column._index)
                for column in self.columns
            )
            if options.max_width < floor:
                options = options.update_width(floor)
            yield from super().__rich_console__(console, options)

    return WideTable


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Text with its control characters (escape sequences, bells, C1 codes) written as
    \\xNN: lead data is untrusted, and a terminal obeys what it prints."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    justify: dict[str, str] | None = None,
) -> Table:
    from rich.text import Text

    # Text, not markup: a value like "[ai]" or "[bold]" is data, shown as it is; control
    # characters in it (an imported "\x1b[31m") are shown, not obeyed by the terminal.
    cells = [[Text("" if cell is None else printable(str(cell))) for cell in row] for row in rows]
    result = _wide_table_class()(title=title, title_justify="left", header_style="bold")
    for index, name in enumerate(columns):
        side = cast("JustifyMethod", (justify or {}).get(name, "left"))
        # Numbers, ids and times are never wrapped or cut: such a column is as wide as its
        # widest value (its header may wrap). On a narrow screen free text folds instead,
        # down to _TEXT_FLOOR columns; a table that still does not fit is wider than the
        # screen (the console never crops) rather than lose a value.
        whole = side == "right" or name in _NO_WRAP
        widest = max(
            [row[index].cell_len for row in cells if index < len(row)]
            + [len(word) for word in name.split()]
        )
        result.add_column(
            Text(name, no_wrap=False, overflow="fold"),
            justify=side,
            overflow="fold",
            no_wrap=whole,
            min_width=widest if whole else min(widest, _TEXT_FLOOR),
        )
    for row_cells in cells:
        result.add_row(*row_cells)
    return result


def fmt_credits(value: Decimal | str | None) -> str:
    """Credits are exact to 4 places; people read 2 unless the rest matters."""
    if value is None:
        return ""
    amount = Decimal(value)
    return f"{amount:,.2f}" if amount == amount.quantize(Decimal("0.01")) else f"{amount:,.4f}"


def fmt_credits_column(values: list[Decimal | str | None]) -> list[str]:
    """A column of credits with one number of places: 2, or 4 if any value needs them."""
    amounts = [None if v is None else Decimal(v) for v in values]
    exact = all(a is None or a == a.quantize(Decimal("0.01")) for a in amounts)
    places = ",.2f" if exact else ",.4f"
    return ["" if a is None else format(a, places) for a in amounts]


def fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def note_new_database(state: str | None, where: str) -> None:
    """Say on stderr (JSON or not) that a command setting a database up made a new one: the
    file may have been lost (`new_sqlite_file` tells "missing" from "empty")."""
    if state == "missing":
        err_console.print(f"note: {escape(where)} did not exist: created it", soft_wrap=True)
    elif state == "empty":
        err_console.print(
            f"[yellow]warning:[/] {escape(where)} was an empty file (0 bytes): it now has a "
            "new, empty hunter schema; if it held your data, restore it from a backup",
            soft_wrap=True,
        )


def fail(error: HunterError, *, json_output: bool) -> typer.Exit:
    if json_output:
        print_json({"status": "error", "error": error.to_dict()})
    else:
        # The message is text, not markup ("[database] url" must survive), and stays one
        # line however narrow the terminal or pipe. It may quote a file's or a lead's text:
        # its control characters are shown, not obeyed (--json escapes them its own way).
        err_console.print(
            f"[bold red]error:[/] {escape(printable(error.message))}",
            markup=True,
            highlight=False,
            soft_wrap=True,
        )
    return typer.Exit(error.exit_code)


def unstorable_text_error(exc: BaseException) -> HunterError | None:
    """The one-line error for text from outside that the database refused, else None. Such
    text is to be caught where it comes in; one that got past is bad input, not a bug to
    report with its SQL statement and values."""
    from hunter_cli.errors import ValidationError
    from hunter_cli.text_hygiene import refused_character

    what = refused_character(exc)
    if what is None:
        return None
    return ValidationError(
        f"the input holds {what}, which the database refuses: remove it from the file, the "
        "recipe's inputs or the data they came from, and try again"
    )


# What a unique constraint stands for, for people: (table, column) as the database names them.
_UNIQUE_THINGS = {
    ("credit_transactions", "idempotency_key"): "ledger entry with this idempotency key",
    ("customers", "slug"): "customer with this slug",
}


def concurrent_conflict_error(exc: BaseException) -> HunterError | None:
    """A unique constraint that refused a row another process inserted between our check and
    our insert (two `credits grant --idempotency-key K` or `customers add S` at once): the
    same mistake the check reports when the commands run one after the other, not a bug."""
    import re

    from sqlalchemy.exc import IntegrityError

    from hunter_cli.errors import ValidationError

    if not isinstance(exc, IntegrityError):
        return None
    text = str(exc.orig)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate != "23505" and "UNIQUE constraint failed" not in text:
        return None
    table = column = ""
    found = re.search(r"UNIQUE constraint failed: (\w+)\.(\w+)", text)
    if found:  # SQLite
        table, column = found.groups()
    diag = getattr(exc.orig, "diag", None)  # PostgreSQL (psycopg)
    if diag is not None and diag.table_name and diag.constraint_name:
        table = diag.table_name
        column = diag.constraint_name.removeprefix(f"{table}_").removesuffix("_key")
    if table == "audit_logs":  # appends are serialised: a clash there is a bug to report
        return None
    what = _UNIQUE_THINGS.get(
        (table, column), f"{table} row with this {column}" if table else "row"
    )
    return ValidationError(
        f"another command created the same {what} at the same moment; run this command again "
        "to see what is there now"
    )


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Every command goes through this: a HunterError becomes one line (or the JSON error
    envelope) and its exit code; only a bug shows a traceback, with a hint to report it."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        json_output = bool(kwargs.get("json_output", False))
        try:
            return func(*args, **kwargs)
        except HunterError as error:
            raise fail(error, json_output=json_output) from None
        except KeyboardInterrupt:
            raise fail(Interrupted("interrupted"), json_output=json_output) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:  # a bug: say so, and how to report it
            refused = unstorable_text_error(exc) or concurrent_conflict_error(exc)
            if refused is not None:
                raise fail(refused, json_output=json_output) from None
            if json_output:
                print_json(
                    {
                        "status": "error",
                        "error": {
                            "code": "internal_error",
                            "message": f"{type(exc).__name__}: {exc}",
                        },
                    }
                )
            else:
                traceback.print_exc()
                err_console.print(
                    "[bold red]internal error[/]: this is a bug in hunter; please report it "
                    "with the traceback above."
                )
            raise typer.Exit(ExitCode.FAILURE) from None

    return wrapper
