"""`hunter leads`: the leads recipes found for a customer: list, export, import."""

from __future__ import annotations

import io
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hunter_cli.cli.output import console, emit, fmt_time, handle_errors, printable, table
from hunter_cli.cli.params import (
    CustomerOption,
    JsonOption,
    LimitOption,
    database_of,
    settings_of,
)
from hunter_cli.errors import ExitCode

if TYPE_CHECKING:
    from hunter_cli.leads import ImportReport

app = typer.Typer(
    help=(
        "The leads stored for a customer: one per person (by email, or domain and name), "
        "kept by `db_query upsert_leads` steps and `hunter leads import`."
    ),
    no_args_is_help=True,
)


def _silence_stdout() -> None:
    """Send what is still buffered for a closed pipe nowhere, so exiting does not fail too."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"


class ListOrder(StrEnum):
    score = "score"
    recent = "recent"
    name = "name"


# How "Showing the ... N" names the leads a --limit kept, in each order.
_SHOWN_FIRST = {ListOrder.score: "best", ListOrder.recent: "newest", ListOrder.name: "first"}


@app.command("list")
@handle_errors
def list_leads(
    ctx: typer.Context,
    customer: CustomerOption = None,
    min_score: Annotated[
        int | None,
        typer.Option("--min-score", min=0, max=100, help="Only leads scoring at least this."),
    ] = None,
    tier: Annotated[
        list[str] | None,
        typer.Option(
            "--tier", "-t", metavar="TIER", help="Only leads of this tier (A, B, C...); repeatable."
        ),
    ] = None,
    order: Annotated[
        ListOrder,
        typer.Option("--order", help="score: best first; recent: last seen first; name."),
    ] = ListOrder.score,
    limit: LimitOption = 50,
    offset: Annotated[
        int, typer.Option("--offset", min=0, help="Skip this many of the first (paging).")
    ] = 0,
    json_output: JsonOption = False,
) -> None:
    """The customer's leads, best score first (see --order).

    --json prints every field, including data, provenance and source.
    """
    from hunter_cli.customers import resolve_customer
    from hunter_cli.errors import UsageError
    from hunter_cli.leads import find_leads, lead_to_dict

    for given in tier or []:
        if len(given.strip()) != 1 or not given.strip().isalpha():
            raise UsageError(f"--tier {given!r}: a tier is one letter, such as A, B or C")
    settings = settings_of(ctx)
    db = database_of(settings)
    with db.session() as session:
        who = resolve_customer(session, customer or settings.default_customer)
        leads = find_leads(  # one more than asked for tells whether there are more
            session,
            who,
            min_score=min_score,
            tier=tier,
            limit=limit + 1,
            order=order.value,
            offset=offset,
        )
        more, leads = len(leads) > limit, leads[:limit]
        rows = [lead_to_dict(lead) for lead in leads]
        last_seen = [fmt_time(lead.last_seen) for lead in leads]

    filters = [f"--tier {t}" for t in tier or []]
    filters += [f"--min-score {min_score}"] if min_score is not None else []

    def render() -> None:
        if not rows and offset:
            console.print(f"No leads for {who.slug} after the first {offset}.")
            return
        if not rows and filters:
            console.print(
                f"No leads for {who.slug} match {' '.join(filters)}.", markup=False, soft_wrap=True
            )
            return
        if not rows:
            console.print(
                f"No leads for {who.slug} yet: run a recipe that stores them "
                '(e.g. `hunter run discovery --query "SaaS founders"`) or `hunter leads import`.'
            )
            return
        console.print(
            table(
                f"Leads: {who.slug}",
                ["name", "title", "company", "email", "score", "tier", "last seen"],
                [
                    (r["name"], r["title"], r["company"], r["email"], r["score"], r["tier"], seen)
                    for r, seen in zip(rows, last_seen, strict=True)
                ],
                justify={"score": "right"},
            )
        )

    emit(rows, json_output=json_output, render=render)
    if more:
        from hunter_cli.cli.output import note_more

        note_more(limit, json_output=json_output, order=_SHOWN_FIRST[order], offset=offset)


def _check_export_target(output: Path, settings, *, force: bool) -> None:
    """An export never replaces the workspace's own files (its database, hunter.toml), and
    replaces another existing file only with --force: `-o .hunter/hunter.db` destroyed the
    ledger, the audit trail and the outbox without a word."""
    from hunter_cli.errors import UsageError

    target = output.resolve()
    own = []
    if settings.config_path is not None:
        own.append(Path(settings.config_path).resolve())
    url = settings.database_url or ""
    if url.startswith("sqlite:///") and ":memory:" not in url:
        database = Path(url.removeprefix("sqlite:///").split("?", 1)[0]).resolve()
        own += [database, *(database.with_name(database.name + s) for s in ("-wal", "-journal"))]
    if target in own:
        raise UsageError(f"{output} is this workspace's own file: choose another --output")
    if target.is_dir():
        raise UsageError(f"{output} is a folder: give a file name")
    if target.exists() and not force:
        raise UsageError(f"{output} exists already: add --force to replace it")


@app.command("export")
@handle_errors
def export(
    ctx: typer.Context,
    fmt: Annotated[
        ExportFormat,
        typer.Option("--format", "-f", help="csv (data keys become extra columns) or json."),
    ] = ExportFormat.csv,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file (default: standard output)."),
    ] = None,
    customer: CustomerOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace --output if it exists already.")
    ] = False,
    json_output: Annotated[
        bool,
        typer.Option("--json", help="With --output: print the summary as a JSON document."),
    ] = False,
) -> None:
    """Export every lead of a customer as CSV or JSON.

    Without --output the leads are printed, ready for a pipe; with it they are written to the
    file and a one-line summary is printed. The export is recorded in the audit trail.

    In CSV, a cell that a spreadsheet would run as a formula (one starting with =, +, -, @, a
    tab or a carriage return, unless it is a plain number such as -3) is written behind a
    ', as OWASP advises; `hunter leads import` removes it again.
    """
    from hunter_cli.customers import resolve_customer
    from hunter_cli.errors import UsageError
    from hunter_cli.leads import export_leads

    if json_output and output is None:
        raise UsageError(
            "--json prints the summary of an export to a file: add --output FILE"
            + (
                " (without --output, --format json already prints the leads as JSON)"
                if fmt.value == "json"
                else ", or use --format json to print the leads themselves as JSON"
            )
        )
    settings = settings_of(ctx)
    if output is not None:
        _check_export_target(output, settings, force=force)
    db = database_of(settings)
    if output is None:
        reader_gone = False
        with db.session() as session:
            who = resolve_customer(session, customer or settings.default_customer)
            try:
                export_leads(session, who, fmt.value, sys.stdout, actor=settings.actor)
                sys.stdout.flush()
            except BrokenPipeError:  # `hunter leads export | head`: the reader has gone
                reader_gone = True  # some leads did leave: the audit entry still commits
        if reader_gone:
            _silence_stdout()
            raise typer.Exit(ExitCode.FAILURE)
        return

    partial = output.with_name(output.name + ".partial")
    with db.session() as session:
        who = resolve_customer(session, customer or settings.default_customer)
        try:
            # Written beside the target, then renamed: a failed export never leaves half a file.
            with partial.open("w", encoding="utf-8", newline="") as stream:
                count = export_leads(
                    session, who, fmt.value, stream, actor=settings.actor, destination=str(output)
                )
            os.replace(partial, output)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise UsageError(f"{output}: cannot write it ({exc.strerror or exc})") from None

    summary = {"customer": who.slug, "format": fmt.value, "count": count, "path": str(output)}
    emit(
        summary,
        json_output=json_output,
        # One line however long the path, and a path is text, not markup.
        render=lambda: console.print(
            printable(f"Exported {count} lead(s) of {who.slug} to {output} ({fmt.value})."),
            soft_wrap=True,
            markup=False,
        ),
    )


@app.command("import")
@handle_errors
def import_(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV file (UTF-8 unless --encoding says otherwise), or a `leads export "
            "--format json` file. A CSV has a header row: name "
            "(or first name and last name), title, email, phone, company, domain, score, "
            "tier, under these or common names (E-mail, "
            "Email Address, Company Name, Website, Job Title, Phone Number...; any case, "
            "spacing or punctuation); an export's id (hunter's lead ids), first_seen and "
            "last_seen are skipped; "
            "other columns are kept in the lead's data.",
        ),
    ],
    customer: CustomerOption = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace known leads' values, in data too, with the file's non-empty ones "
            "(default: keep them and only fill empty fields and data keys); rows with an "
            "export's id change that lead.",
        ),
    ] = False,
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding",
            metavar="ENCODING",
            help="The file's encoding when it is not UTF-8 (or UTF-16 with a byte-order "
            "mark, which is recognised): e.g. cp1252 (Excel on Windows), latin-1.",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Import leads from a CSV file (UTF-8; see --encoding) or a JSON export.

    A CSV needs a header row; blank lines before it and Excel's `sep=;` first line are
    fine, and `,`, `;` or tabs separate columns. A file from `hunter leads export --format
    json` (a JSON list of leads) imports as its CSV export does, its rows numbered from 1.

    Columns are matched to fields by name, ignoring case, spaces and punctuation: email
    (e-mail, email address, work email), name (full name, contact name; or first name/given
    name with last name/surname/family name), company (company name, organization, account
    name), domain (website, website url, company website, url: reduced to the domain), title
    (job title, position), phone (phone number, mobile, telephone), score, tier. When two
    columns name one field, the one named exactly as the field is used, else the first; the
    other is kept in data. The report lists which column filled which field and which were
    kept only in data.

    Each row needs an email, or a domain and a name. Rows with an invalid email, an email,
    name or domain holding a control character (a NUL, an escape), a score outside 0-100, a
    tier that is not one letter or a quoted field that is never closed (it would take in the
    lines after it) are rejected and listed with their row number (as a spreadsheet numbers
    it: the header is row 1 unless blank rows come before it); the other rows are stored,
    merging with known leads. A row that is the same lead as an earlier row (the same email,
    say) is merged into it and listed with the row it was merged into.

    A lead already stored (the same email, or domain and name) keeps what it has: the file
    fills its empty fields and the data keys it lacks, and a score or tier in the file
    replaces the stored one; a name, title, email, phone, company or domain, or a value in
    its data (listed as data.COLUMN), that differs from the stored one is kept and listed.
    With --overwrite the file's non-empty values replace the stored ones (empty cells never
    erase anything), and a row carrying an export's id is that lead, so a name, email or
    domain edited in an export changes it (a row that would turn it into another stored lead
    is rejected).

    Importing a file from `hunter leads export` changes nothing but last_seen: its id,
    first_seen and last_seen columns are hunter's own bookkeeping and are skipped (a lead is
    matched by its email, or domain and name; with --overwrite by its id), and the other
    columns are read back as the types export wrote: numbers written exactly as export
    writes them (3, 2016, -1.5) and True/False come back as numbers and booleans, JSON lists
    and mappings as lists and mappings, and anything else, such as 02134 or +1, stays text.
    An id column counts as
    hunter's only when every value in it is a lead id (a UUID); a CRM's own ID column
    (1001, 0035g00000XyZ) is kept in data like any other column.

    Exit codes: 0 when rows were stored, 3 when the file is missing, 2 when it is
    unreadable, has no usable header, or every row was rejected.
    """
    from hunter_cli.customers import resolve_customer
    from hunter_cli.errors import ValidationError
    from hunter_cli.leads import import_leads_csv

    settings = settings_of(ctx)
    db = database_of(settings)
    with db.session() as session:
        who = resolve_customer(session, customer or settings.default_customer)
        report = import_leads_csv(
            session, who, file, actor=settings.actor, overwrite=overwrite, encoding=encoding
        )
        data = {"customer": who.slug, "file": str(file), **report.to_dict()}
        if report.rejected and not (report.imported or report.updated):
            if not json_output:  # every reason, not just the first (--json has them in details)
                _print_columns(data["columns"])
                _print_rejected(report.rejected)
            # Raised inside the transaction, so the audit entry of a failed import goes too.
            row, reason = report.rejected[0]
            raise ValidationError(
                f"{file}: no row could be imported ({len(report.rejected)} rejected; "
                f"row {row}: {reason})",
                details=data,
            )

    def render() -> None:
        _print_columns(data["columns"])
        merged = f"merged {len(report.merged)} repeated row(s), " if report.merged else ""
        blank = f"; ignored {report.blank} blank row(s)" if report.blank else ""
        console.print(
            f"Imported {report.imported} new lead(s) for {who.slug}, updated {report.updated}, "
            f"{merged}rejected {len(report.rejected)} row(s){blank}.",
            soft_wrap=True,
        )
        if report.merged:
            console.print(
                table(
                    "Repeated rows",
                    ["row", "merged into row"],
                    report.merged,
                    justify={"row": "right", "merged into row": "right"},
                )
            )
        _print_known_leads(report)
        if report.rejected:
            _print_rejected(report.rejected)

    emit(data, json_output=json_output, render=render)


# Rows of a table in the human report; --json lists every one.
_SHOWN = 20


def _print_rejected(rejected: list[tuple[int, str]]) -> None:
    console.print(table("Rejected rows", ["row", "reason"], rejected, justify={"row": "right"}))


def _print_known_leads(report: ImportReport) -> None:
    """What became of the leads that were stored already: fields filled, values kept."""
    changed = len(report.differing)
    if not (report.updated or changed):
        return
    if report.overwrite:
        rest = f"{changed} value(s) replaced with the file's (--overwrite)"
    else:
        rest = f"{changed} value(s) kept because they differ from the file's"
        rest += " (use --overwrite to replace them)" if changed else ""
    # Without known leads, the values are those of rows repeating an earlier row's lead.
    known = f"{report.updated} existing lead(s)" if report.updated else "Repeated rows"
    console.print(
        f"{known}: {report.filled} empty field(s) filled, {rest}.", soft_wrap=True, markup=False
    )
    if changed:
        title = "Values replaced" if report.overwrite else "Values kept (the file differs)"
        heads = (
            ["row", "field", "was", "now"]
            if report.overwrite
            else ["row", "field", "stored", "file"]
        )
        console.print(table(title, heads, report.differing[:_SHOWN], justify={"row": "right"}))
        if changed > _SHOWN:
            console.print(f"... and {changed - _SHOWN} more (--json lists them all).", style="dim")


def _print_columns(columns: dict[str, Any] | None) -> None:
    """Which column filled which field, and which were kept only in data or skipped. A
    header is the file's text: its control characters are shown, not obeyed."""
    if not columns:
        return
    mapped = ", ".join(f"{header} -> {name}" for header, name in columns["mapped"].items())
    console.print(printable(f"Columns: {mapped or 'none'}."), soft_wrap=True, markup=False)
    unused = columns["unused_aliases"]
    kept = [
        f"{header} (another column fills {unused[header]})" if header in unused else header
        for header in columns["data"]
    ]
    if kept:
        console.print(
            printable(f"Kept only in data: {', '.join(kept)}."), soft_wrap=True, markup=False
        )
    if columns["skipped"]:
        skipped = ", ".join(columns["skipped"])
        console.print(printable(f"Skipped: {skipped}."), soft_wrap=True, markup=False)
