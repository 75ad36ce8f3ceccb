"""`hunter run RECIPE`: run a recipe for a customer and show what happened."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hunter_cli.cli.output import (
    console,
    err_console,
    escape,
    fmt_credits,
    handle_errors,
    printable,
    table,
)
from hunter_cli.cli.params import (
    CustomerOption,
    JsonOption,
    NoCacheOption,
    SendOption,
    settings_of,
)
from hunter_cli.errors import ExitCode

EXIT_BY_STATUS = {
    "success": ExitCode.OK,
    "planned": ExitCode.OK,
    "partial": ExitCode.PARTIAL,
    "failed": ExitCode.FAILURE,
    "interrupted": ExitCode.INTERRUPTED,
}


def register(app: typer.Typer) -> None:
    app.command(
        "run",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(run)


@handle_errors
def run(
    ctx: typer.Context,
    recipe: Annotated[
        str,
        typer.Argument(
            help="Recipe slug (workspace recipes/ first, then bundled) or path to a YAML file."
        ),
    ],
    customer: CustomerOption = None,
    input_pairs: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="An input as key=value; repeatable.")
    ] = None,
    input_json: Annotated[
        str | None,
        typer.Option("--input-json", help="Inputs from a JSON file, or - for standard input."),
    ] = None,
    plan: Annotated[
        bool,
        typer.Option(
            "--plan",
            help="Validate and show the steps, providers, sends and the most the run "
            "can cost; nothing is run or charged.",
        ),
    ] = False,
    no_cache: NoCacheOption = False,
    send: SendOption = False,
    json_output: JsonOption = False,
) -> None:
    """Run a recipe for a customer.

    Any other --NAME VALUE becomes input NAME (dashes become underscores), converted to the
    type the recipe's input schema declares, e.g.

        hunter run discovery --query "SaaS founders" --limit 5

    Where one input comes from several places, --NAME wins over --input, which wins over
    --input-json (so a file gives defaults a flag can override).

    Exit codes: 0 success, 5 partial, 1 failed, 2 bad input or recipe, 3 unknown recipe or
    customer, 4 insufficient credits (nothing charged; with --plan: the plan is shown, but
    the balance cannot cover the most the run can cost), 6 database unavailable or its
    schema behind or newer, 130 interrupted (Ctrl-C or SIGTERM).
    """
    from hunter_cli.engine import api

    settings = settings_of(ctx)
    inputs = {}
    if input_json:
        inputs.update(api.read_input_json(input_json, _read_stdin))
    inputs.update(api.parse_input_pairs(input_pairs or []))
    inputs.update(api.parse_extra_inputs(list(ctx.args)))

    show_progress = not json_output and not plan and err_console.is_terminal
    status = err_console.status("starting…") if show_progress else None

    def progress(step_id: str, step_status: str) -> None:
        if status is not None:
            status.update(
                f"step {step_id}: {step_status}"
                + ("…" if step_status.startswith("running") else "")
            )

    if status is not None:
        status.start()
    try:
        result = api.run(
            settings,
            recipe,
            customer,
            inputs,
            plan_only=plan,
            no_cache=no_cache,
            send=send,
            progress=progress,
        )
    finally:
        if status is not None:
            status.stop()

    report(result, json_output=json_output, plan=plan, send=send)


def _read_stdin() -> str:
    """Standard input decoded strictly, as a file is: other bytes are an error, not U+FFFD."""
    stream = getattr(sys.stdin, "buffer", None)
    return stream.read().decode("utf-8") if stream is not None else sys.stdin.read()


def report(result, *, json_output: bool, plan: bool = False, send: bool = False) -> None:
    """Print a run's result (the JSON envelope, the plan or the summary) and exit with the
    code for its status; `hunter executions resume` reports the same way. A plan the balance
    cannot cover exits 4, as the run itself would, so a script learns it before running."""
    shortfall = plan_shortfall(result) if plan else None
    if json_output:
        from hunter_cli.cli.output import print_json

        document = {
            "status": "ok" if result.status in ("success", "planned") else "error",
            "data": result.to_dict(),
        }
        if document["status"] == "error":
            document["error"] = {
                "code": f"run_{result.status}",
                "message": result.error or f"run {result.status}",
            }
        if shortfall:
            document["status"] = "error"
            document["error"] = {
                "code": "insufficient_credits",
                "message": shortfall,
                # As a refused run gives them: what it needs, what there is.
                "details": {
                    "needed": str(result.credits_reserved),
                    "available": str(result.credits_available),
                },
            }
        print_json(document)
    elif plan:
        render_plan(result)
        for warning in result.warnings:  # what the plan can tell will fail the run
            err_console.print(f"[yellow]warning:[/] {escape(printable(warning))}")
        if shortfall:
            err_console.print(f"[bold red]error:[/] {escape(shortfall)}", soft_wrap=True)
    else:
        render_result(result, send=send)
    if shortfall:
        raise typer.Exit(ExitCode.INSUFFICIENT_CREDITS)
    raise typer.Exit(EXIT_BY_STATUS.get(result.status, ExitCode.FAILURE))


def plan_shortfall(result) -> str | None:
    """Why the run a plan describes would be refused for credits, or None if it would not."""
    needed, available = result.credits_reserved, result.credits_available
    if needed is None or available is None or needed <= available:
        return None
    return (
        f"insufficient credits: {result.customer} has {fmt_credits(available)} available but "
        f"this run can cost {fmt_credits(needed)}: a real run would be refused (exit 4) "
        "before doing anything"
    )


def render_plan(result) -> None:
    console.print(
        f"Plan for {result.recipe} (customer {result.customer}): nothing is run or charged."
    )
    rows = []
    per_item_unknown = False
    entries = result.plan or []
    conditions = any("if" in entry for entry in entries)  # else no room for an empty column
    for entry in entries:
        credits = fmt_credits(entry["credits"])
        if "credits_per_item" in entry:
            credits += " per item"  # how many items is known only when the step starts
            per_item_unknown = True
        # An HTTP request names its host in the sends column already.
        provider = "http" if "request" in entry else entry.get("provider") or ""
        condition = [entry.get("if", "")] if conditions else []
        sends = _planned_sends(entry)
        if entry.get("skipped"):  # its `if` is false for these inputs: it will not run
            condition = [f"{condition[0]} (false: skipped)"] if condition else []
            sends = ""
        rows.append((entry["id"], entry["type"], provider, *condition, sends, credits))
    columns = ["step", "type", "provider", *(["if"] if conditions else []), "sends", "credits"]
    console.print(table(None, columns, rows, justify={"credits": "right"}))
    console.print(
        f"Most this run can cost: {fmt_credits(result.credits_reserved)} credits "
        f"(available: {fmt_credits(result.credits_available)})"
        + (
            ", plus one call's worth for each further item of a step marked 'per item'."
            if per_item_unknown
            else "."
        )
    )


# Recipients a plan's table names before it says how many more there are.
PLAN_RECIPIENTS_SHOWN = 3
_MESSAGE_WORDS = {
    "email": ("email", "emails"),
    "sms": ("SMS", "SMS"),
    "webhook": ("webhook call", "webhook calls"),
    "push": ("push notification", "push notifications"),
}


def _planned_sends(entry: dict) -> str:
    """What a planned step would send, in a line or two: an HTTP request (method, URL and
    body, secrets hidden) or messages (how many, of which channel, to whom, the subject)."""
    if "request" in entry:
        body = entry.get("body")
        return entry["request"] + (f"\nbody: {body}" if body else "")
    if "prompt" in entry:  # an AI step: what it would ask
        return f"prompt: {entry['prompt']}"
    sends = entry.get("sends")
    if sends is None:
        return ""
    channel = entry.get("channel")
    if channel is None:
        return str(sends)
    one, many = _MESSAGE_WORDS.get(channel, (f"{channel} message", f"{channel} messages"))
    if sends == "per item":
        text = f"one {one} per item"
    else:
        recipients = list(entry.get("recipients") or [])
        more = entry.get("recipients_more", 0) + max(0, len(recipients) - PLAN_RECIPIENTS_SHOWN)
        to = ", ".join(recipients[:PLAN_RECIPIENTS_SHOWN]) + (f" and {more} more" if more else "")
        text = f"{sends} {one if sends == 1 else many}" + (f" to {to}" if to else "")
    if entry.get("skips"):  # suppressed or invalid: the run would skip them
        shown = [
            f"{r['recipient']} ({_skip_word(r['reason'])})"
            for r in entry.get("skipped_recipients", [])[:PLAN_RECIPIENTS_SHOWN]
        ]
        more = entry["skips"] - len(shown)
        text += f"\nskipped: {', '.join(shown)}" + (f" and {more} more" if more else "")
    subject = entry.get("subject")
    return text + (f"\nsubject: {subject}" if subject else "")


def _skip_word(reason: str) -> str:
    return "suppressed" if reason.startswith("suppressed") else "invalid"


def render_result(result, *, send: bool = False) -> None:
    rows = [
        (
            s.id,
            s.type,
            s.status + (" (offline)" if s.meta.get("offline") else ""),
            f"{s.duration_ms} ms",
            fmt_credits(s.credits),
            s.error or "",
        )
        for s in result.steps
    ]
    console.print(
        table(
            f"{result.recipe} v{result.recipe_version} for {result.customer}",
            ["step", "type", "status", "duration", "credits", "error"],
            rows,
            justify={"duration": "right", "credits": "right"},
        )
    )
    render_outputs(result.outputs)
    if result.send and not send:  # `send = true` for the customer, or a --send run resumed
        console.print(
            "Messages were delivered, not only queued: this execution was started with --send "
            "or `send = true` for the customer in hunter.toml."
        )
    for warning in result.warnings:  # they may quote a lead's or a server's text
        err_console.print(f"[yellow]warning:[/] {escape(printable(warning))}")
    console.print(
        f"Status: [bold]{result.status}[/]. Credits used {fmt_credits(result.credits_used)} "
        f"(reserved {fmt_credits(result.credits_reserved)}, the rest released), available "
        f"{fmt_credits(result.credits_available)}. Execution {result.execution_id}"
    )
    if result.error:
        err_console.print(f"[red]error:[/] {escape(printable(result.error))}")
    if result.status in ("failed", "interrupted") and result.execution_id:
        err_console.print(
            "To continue from where it stopped (finished steps are kept and not charged "
            f"again): hunter executions resume {str(result.execution_id)[:8]}"
            # A resume without --send would only queue what this run was delivering.
            + (" --send" if send else "")
            + ". Resuming runs "
            "the recipe as it was first run: after fixing the recipe, run it again instead."
        )


LEAD_COLUMNS = ["name", "title", "company", "email", "score", "tier"]


def render_outputs(outputs) -> None:
    if not outputs:
        return
    for key, value in outputs.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            # Only columns with something in them: unscored leads need no score column.
            columns = [c for c in LEAD_COLUMNS if any(v.get(c) is not None for v in value)]
            columns = columns or list(value[0])[:6]
            console.print(
                table(
                    f"{key} ({len(value)})",
                    columns,
                    [[v.get(c) for c in columns] for v in value[:50]],
                )
            )
            if len(value) > 50:
                console.print(
                    f"… and {len(value) - 50} more (use --json or `hunter leads export`).",
                    style="dim",
                )
        elif isinstance(value, dict | list):
            import json

            console.print(f"{key}: {json.dumps(value, ensure_ascii=False)[:500]}", markup=False)
        else:
            console.print(f"{key}: {value}", markup=False)
