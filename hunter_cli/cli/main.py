"""The `hunter` command: global options and the command groups, each in its own module."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from typer.core import TyperGroup
from typer.main import get_group_from_info
from typer.models import TyperInfo

from hunter_cli import __version__
from hunter_cli.cli import run as run_command
from hunter_cli.cli import workspace
from hunter_cli.cli.params import GlobalOptions

# The command groups, each imported only when it is used: building every group's commands
# cost more than a short command's own work. `hunter --help` still lists (so loads) them all.
GROUPS: dict[str, tuple[str, str]] = {
    "recipes": ("hunter_cli.cli.recipes", "app"),
    "executions": ("hunter_cli.cli.executions", "app"),
    "customers": ("hunter_cli.cli.customers", "customers_app"),
    "plans": ("hunter_cli.cli.customers", "plans_app"),
    "credits": ("hunter_cli.cli.credits", "app"),
    "audit": ("hunter_cli.cli.audit", "app"),
    "leads": ("hunter_cli.cli.leads", "app"),
    "outbox": ("hunter_cli.cli.outbox", "app"),
    "suppress": ("hunter_cli.cli.suppress", "app"),
    "db": ("hunter_cli.cli.db", "app"),
}


# Options of the commands, not of `hunter`: given before the command, say where they go
# (value: whether the option takes one). The global options given after it: engine/inputs.py.
PER_COMMAND_OPTIONS = {"--customer": True, "-c": True, "--json": False}


def _misplaced(arg: str) -> str | None:
    """The per-command option arg is (`--customer=acme` and `-cacme` included), or None."""
    name = arg.split("=", 1)[0]
    if name in PER_COMMAND_OPTIONS:
        return name
    if arg.startswith("-c") and not arg.startswith("--"):
        return "-c"
    return None


def _after_the_command(
    args: list[str], root_values: set[str], find: Callable[[list[str]], Any]
) -> str:
    """The hint for `hunter --customer acme credits show`: the same line with every
    per-command option moved after the command path, and a customer put where the command
    takes it (`credits grant acme 5`: as an argument). root_values: the options of `hunter`
    that take a value; find(path): the command a path names, None if none (yet)."""
    hint = "--customer and --json go after the command"
    kept: list[str] = []  # `hunter`'s own options, in place
    json_given, customer, spelt = False, None, "--customer"
    i = 0
    while i < len(args) and args[i].startswith("-"):
        arg, option = args[i], _misplaced(args[i])
        i += 1
        if option == "--json":
            json_given = True
            continue
        if option is not None:  # --customer or -c, with its value in one of three forms
            spelt, customer = option, "CUSTOMER"
            if "=" in arg:
                customer = arg.split("=", 1)[1]
            elif option == "-c" and len(arg) > 2:
                customer = arg[2:]
            elif i < len(args):
                customer, i = args[i], i + 1
            continue
        kept.append(arg)
        if arg in root_values and i < len(args):
            kept.append(args[i])
            i += 1
    rest = args[i:]
    # The command path: as many leading words as name a command (`credits`, `credits grant`).
    path: list[str] = []
    command = None
    while rest and not rest[0].startswith("-"):
        found = find([*path, rest[0]])
        if found is None:
            break
        path.append(rest.pop(0))
        command = found
    if command is None or hasattr(command, "commands"):  # no command, or a group only
        words = [*kept, *path, "COMMAND"]
        return hint + ": " + _command_line(words, spelt, customer, json_given)
    params = {p.name: p for p in getattr(command, "params", [])}
    where = params.get("customer")
    if customer is not None and where is not None and where.param_type_name == "argument":
        # `credits history CUSTOMER`, `credits grant CUSTOMER AMOUNT`: the value is an argument.
        rest = _with_argument(command, rest, customer)
        hint += f", and {' '.join(path)} takes the customer as its argument"
        customer = None
    elif customer is not None and where is None:
        hint += f"; {' '.join(path)} takes no customer"
        customer = None
    return hint + ": " + _command_line([*kept, *path, *rest], spelt, customer, json_given)


def _command_line(words: list[str], spelt: str, customer: str | None, json_given: bool) -> str:
    tail = ([spelt, customer] if customer is not None else []) + (["--json"] if json_given else [])
    at = words.index("--") if "--" in words else len(words)  # after `--` all are arguments
    import shlex  # only for this hint

    return shlex.join(["hunter", *words[:at], *tail, *words[at:]])


def _with_argument(command: Any, rest: list[str], value: str) -> list[str]:
    """rest with value put where the command's `customer` argument goes among its arguments
    (options and their values skipped)."""
    arguments = [p.name for p in command.params if p.param_type_name == "argument"]
    takes_value = {
        opt
        for p in command.params
        if p.param_type_name == "option" and not p.is_flag
        for opt in p.opts + p.secondary_opts
    }
    position, seen, i = arguments.index("customer"), 0, 0
    while i < len(rest) and seen < position:
        arg = rest[i]
        if arg == "--":
            i += 1 + position - seen
            break
        if arg.startswith("-") and arg != "-":
            i += 2 if arg in takes_value else 1  # --reason x, -r x; --reason=x is one word
            continue
        seen, i = seen + 1, i + 1
    return [*rest[:i], value, *rest[i:]]


class LazyGroup(TyperGroup):
    """The root group: the top-level commands, plus the GROUPS built on first use (the
    Click docs' "lazily loading subcommands", on Typer's group class)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        given = list(args)
        try:
            return super().parse_args(ctx, args)
        except Exception as exc:
            # Click's NoSuchOption, matched by name (typer vendors Click in some versions).
            error: Any = exc
            option = getattr(error, "option_name", None)
            if type(error).__name__ != "NoSuchOption" or option not in PER_COMMAND_OPTIONS:
                raise
            root_values = {
                opt
                for p in self.params
                if p.param_type_name == "option" and not getattr(p, "is_flag", False)
                for opt in p.opts + p.secondary_opts
            }
            error.message = _after_the_command(
                given, root_values, lambda path: self._command_at(ctx, path)
            )
            error.possibilities = None  # "(Possible options: --actor)" would mislead
            raise

    def _command_at(self, ctx: Any, path: list[str]) -> Any:
        """The command `hunter PATH...` names, or None."""
        command: Any = self
        for name in path:
            if not hasattr(command, "get_command"):
                return None
            command = command.get_command(ctx, name)
            if command is None:
                return None
        return command

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *GROUPS]

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and args[0] not in GROUPS:
            # A mistyped name: load every group, so that "Did you mean" can suggest one.
            for name in GROUPS:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in GROUPS:
            return found
        module, attribute = GROUPS[cmd_name]
        sub_app = getattr(importlib.import_module(module), attribute)
        # As add_typer would have built it: named here, with the root app's plain help.
        group = get_group_from_info(
            TyperInfo(sub_app, name=cmd_name),
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode,
            suggest_commands=app.suggest_commands,
        )
        self.add_command(group, cmd_name)
        return group


app = typer.Typer(
    name="hunter",
    help=(
        "Run B2B lead-generation recipes from a local workspace.\n\n"
        "Start with `hunter init`, then `hunter seed`, then `hunter credits show`. "
        "Every command takes --json for scripts, after the command (hunter credits show "
        "--json), as --customer; exit codes are listed in README.md."
    ),
    no_args_is_help=True,
    cls=LazyGroup,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hunter {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            envvar="HUNTER_CONFIG",
            help="Path to hunter.toml (default: found in this folder or its parents).",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help="Database URL; overrides HUNTER_DATABASE_URL and hunter.toml."
        ),
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option("--actor", help="Who to name in the audit trail (default: OS user)."),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    ctx.obj = GlobalOptions(config=config, database_url=database_url, actor=actor)


workspace.register(app)
run_command.register(app)


def run() -> None:
    """Run the app (the console script enters through hunter_cli.entry). With --json, even a
    usage error that Click reports before our command runs (a missing option, a bad value)
    comes as the JSON error envelope."""
    if "--json" not in sys.argv[1:]:
        app(prog_name="hunter")
        return
    try:
        code = app(prog_name="hunter", standalone_mode=False)
    except Exception as exc:
        # Click's usage errors; matched by shape, as typer vendors Click in some versions.
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        from hunter_cli.cli.output import print_json

        print_json(
            {"status": "error", "error": {"code": "usage_error", "message": exc.format_message()}}
        )
        sys.exit(exc.exit_code)
    sys.exit(code or 0)
