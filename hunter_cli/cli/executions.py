"""`hunter executions`: past runs, step by step."""

from __future__ import annotations

from typing import Annotated

import typer

from hunter_cli.cli.output import (
    console,
    emit,
    escape,
    fmt_credits,
    fmt_time,
    handle_errors,
    note_more,
    table,
)
from hunter_cli.cli.params import (
    CustomerFilterOption,
    JsonOption,
    NoCacheOption,
    OffsetOption,
    SendOption,
    database_of,
    settings_of,
)

app = typer.Typer(
    help="Executions: every run of a recipe, with per-step results.", no_args_is_help=True
)


@app.command("list")
@handle_errors
def list_runs(
    ctx: typer.Context,
    customer: CustomerFilterOption = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="success, partial, failed, interrupted, running or pending."),
    ] = None,
    recipe: Annotated[str | None, typer.Option("--recipe", help="Recipe slug.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Newest N runs.")] = 20,
    offset: OffsetOption = 0,
    json_output: JsonOption = False,
) -> None:
    """The newest executions (`show ID` gives one with its inputs, outputs and steps).

    When there are more than --limit, a note says so (on stderr with --json)."""
    from hunter_cli.customers import resolve_customer
    from hunter_cli.db.models import Customer
    from hunter_cli.executions import execution_summary, list_executions

    db = database_of(settings_of(ctx))
    with db.session() as session:
        who = resolve_customer(session, customer) if customer else None
        slugs = {c.id: c.slug for c in session.query(Customer)}
        # One more than asked for tells whether there are more.
        found = list_executions(
            session, customer=who, status=status, recipe=recipe, limit=limit + 1, offset=offset
        )
        rows = [execution_summary(e, slugs.get(e.customer_id)) for e in found[:limit]]

    def render() -> None:
        if not rows and offset:
            console.print(f"No executions after the newest {offset}.")
            return
        if not rows:
            filters = [
                f"--{name} {value}"
                for name, value in (("customer", customer), ("status", status), ("recipe", recipe))
                if value
            ]
            if filters:
                console.print(f"No executions match the filters ({', '.join(filters)}).")
            else:
                console.print(
                    'No executions yet: try `hunter run discovery --query "SaaS founders"`.'
                )
            return
        console.print(
            table(
                "Executions",
                ["id", "started", "recipe", "customer", "status", "credits", "ms"],
                [
                    (
                        r["id"][:8],
                        fmt_time(_dt(r["started_at"])),
                        f"{r['recipe']} v{r['recipe_version']}",
                        r["customer"],
                        r["status"]
                        + (" (process gone)" if r.get("process_alive") is False else ""),
                        fmt_credits(r["credits_used"]),
                        r["duration_ms"],
                    )
                    for r in rows
                ],
                justify={"credits": "right", "ms": "right"},
            )
        )

    emit(rows, json_output=json_output, render=render)
    if len(found) > limit:
        note_more(limit, json_output=json_output, offset=offset)


@app.command("show")
@handle_errors
def show(
    ctx: typer.Context,
    execution_id: Annotated[
        str, typer.Argument(help="Execution id, or a unique prefix of 6+ hex digits.")
    ],
    step: Annotated[
        str | None,
        typer.Option(
            "--step",
            "-s",
            help="Print this step's whole record (output, error, attempts...) as JSON, to see "
            "what the next step was given.",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """One execution: inputs, each step's status, error, attempts, credits and duration,
    then the run's outputs. `--step ID` prints one step's output in full; `--json` has
    everything."""
    from hunter_cli.db.models import Customer
    from hunter_cli.errors import NotFoundError
    from hunter_cli.executions import execution_to_dict, get_execution

    db = database_of(settings_of(ctx))
    with db.session() as session:
        execution = get_execution(session, execution_id)
        customer = session.get(Customer, execution.customer_id)
        data = execution_to_dict(execution, customer.slug if customer else None)

    if step is not None:
        record = next((s for s in data["steps"] if s["id"] == step), None)
        if record is None:
            ran = ", ".join(s["id"] for s in data["steps"]) or "none"
            raise NotFoundError(
                f"execution {data['id'][:8]} has no record of a step {step!r} (steps run: {ran})"
            )
        emit(record, json_output=json_output, render=lambda: _print_json(record))
        return

    def render() -> None:
        import json

        from hunter_cli.cli.run import render_outputs

        console.print(
            f"Execution {data['id']}: [bold]{data['status']}[/]  recipe "
            f"{data['recipe']} v{data['recipe_version']}  customer {data['customer']}"
            + ("  (delivering: --send or send = true)" if data["send"] else "")
        )
        console.print(f"Inputs: {json.dumps(data['inputs'], ensure_ascii=False)}")
        console.print(
            table(
                "Steps",
                ["step", "type", "status", "attempts", "ms", "credits", "error"],
                [
                    (
                        s["id"],
                        s["type"],
                        s["status"]
                        + (" (offline)" if (s.get("meta") or {}).get("offline") else ""),
                        s["attempts"],
                        s["duration_ms"],
                        fmt_credits(s["credits"]),
                        s["error"] or "",
                    )
                    for s in data["steps"]
                ],
                justify={"attempts": "right", "ms": "right", "credits": "right"},
            )
        )
        render_outputs(data["outputs"])
        if data["steps"]:
            console.print(
                f"A step's output in full: hunter executions show {data['id'][:8]} --step "
                f"{data['steps'][-1]['id']}",
                style="dim",
                markup=False,
            )
        console.print(
            f"Credits: reserved {fmt_credits(data['credits_reserved'])} in all, used "
            f"{fmt_credits(data['credits_used'])}."
        )
        for warning in data["warnings"] or []:
            console.print(f"[yellow]warning:[/] {escape(warning)}")
        if data["error"]:
            console.print(f"[red]error:[/] {escape(data['error'])}")
        if data["status"] == "running":
            where = f"process {data['pid'] or '?'} on {data['host'] or 'an unknown host'}"
            state = {True: "still running", False: "gone"}.get(
                data["process_alive"], "not checkable from here"
            )
            console.print(
                f"Run by {escape(where)} ({state}). If that process died, `hunter executions "
                f"resume {data['id'][:8]}` closes it and carries on."
            )
        elif data["status"] in ("failed", "interrupted"):
            console.print(
                f"To continue from where it stopped: hunter executions resume {data['id'][:8]}"
            )

    emit(data, json_output=json_output, render=render)


def _print_json(value) -> None:
    import json

    console.print_json(json.dumps(value, ensure_ascii=False, default=str))


def _dt(value: str | None):
    from datetime import datetime

    return datetime.fromisoformat(value) if value else None


@app.command("resume")
@handle_errors
def resume(
    ctx: typer.Context,
    execution: Annotated[
        str, typer.Argument(help="Execution id, or a unique prefix of 6+ hex digits.")
    ],
    no_cache: NoCacheOption = False,
    send: SendOption = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Resume an execution still marked running although its process cannot be "
            "checked (another host), or its process id now belongs to another program: only "
            "when you know the run's process has stopped. Never a live hunter process here.",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Continue a failed or interrupted execution from its first unfinished step.

    Finished steps are kept (not run or charged again); the rest run under a new hold, with
    the recipe exactly as it was first run. The execution keeps its id, so messages already
    queued or sent are not sent again. A run started with --send delivers when resumed, with
    or without --send here (its messages still queued are sent); --send makes a dry run's
    resumption deliver. A run left `running` by a process that died (killed,
    crashed) is closed first: what its finished steps used is charged, the rest of its hold
    released. Exit codes as for `hunter run`.
    """
    from hunter_cli.cli.run import report
    from hunter_cli.engine import api

    result = api.resume(settings_of(ctx), execution, no_cache=no_cache, send=send, force=force)
    report(result, json_output=json_output, send=send)


@app.command("close")
@handle_errors
def close(
    ctx: typer.Context,
    execution: Annotated[
        str, typer.Argument(help="Execution id, or a unique prefix of 6+ hex digits.")
    ],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Close an execution whose process cannot be checked (another host), or whose "
            "process id now belongs to another program: only when you know it has stopped.",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Close a run whose process died (killed, crashed, rebooted) without running the rest.

    What its finished steps used is charged and the rest of its hold released, so the
    customer's credits are free again; it is marked interrupted and can still be resumed
    later. For a cron job that will run the recipe again anyway. A run whose process is
    alive is refused.
    """
    from hunter_cli.engine import api

    data = api.close(settings_of(ctx), execution, force=force)

    def render() -> None:
        console.print(
            f"Closed execution {data['id']} ({data['recipe']} for {data['customer']}): "
            f"charged {fmt_credits(data['credits_used'])} for its finished steps, the rest "
            f"of its hold released. To run the rest: hunter executions resume {data['id'][:8]}"
        )

    emit(data, json_output=json_output, render=render)
