"""What the CLI calls: load a recipe (validated) and run it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hunter_cli.config import Settings
from hunter_cli.errors import NotFoundError, UsageError, ValidationError
from hunter_cli.recipe import LoadedRecipe, RecipeInvalid


def load_recipe(ref: str, workspace: Path | None) -> LoadedRecipe:
    """Resolve a slug or path and validate it; every problem becomes one line."""
    from hunter_cli.engine.recipes import resolve_recipe_path, slug_of_file
    from hunter_cli.recipe import load_and_validate

    path = resolve_recipe_path(ref, workspace)
    source = _display_path(path)
    try:
        return load_and_validate(source, file_slug=slug_of_file(path, workspace))
    except RecipeInvalid as invalid:
        lines = [str(p) for p in invalid.problems]
        raise ValidationError(
            f"recipe {source} is invalid:\n  " + "\n  ".join(lines), details={"problems": lines}
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read recipe {path}: {exc}") from None


def _display_path(path: Path) -> str:
    """Relative to the current folder when inside it, so editors can jump to file:line."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def parse_extra_inputs(args: list[str]) -> dict[str, Any]:
    """`--query "SaaS founders" --limit 5 --dry` -> {"query": ..., "limit": "5", "dry": BareFlag()}
    (a bare flag is true for a boolean input, an error for any other: see prepare_inputs)."""
    from hunter_cli.engine.inputs import BareFlag, add_value

    values: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or arg == "--":
            raise UsageError(f"unexpected argument {arg!r}: inputs are given as --name value")
        name = arg[2:]
        if "=" in name:
            name, value = name.split("=", 1)
            i += 1
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            value, i = args[i + 1], i + 2
        else:
            value, i = BareFlag(), i + 1
        add_value(values, name.replace("-", "_"), value)
    return values


def parse_input_pairs(pairs: list[str]) -> dict[str, Any]:
    from hunter_cli.engine.inputs import add_value

    values: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f"--input takes key=value, not {pair!r}")
        key, value = pair.split("=", 1)
        add_value(values, key.strip().replace("-", "_"), value)
    return values


def read_input_json(source: str, stdin_reader: Callable[[], str]) -> dict[str, Any]:
    try:
        text = stdin_reader() if source == "-" else Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"--input-json {source}: no such file") from None
    except OSError as exc:
        raise UsageError(f"cannot read --input-json {source}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"--input-json {source} is not valid UTF-8 (byte {exc.start}): save it as UTF-8"
        ) from None
    too_deep = False
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"--input-json {source}:{exc.lineno}:{exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:  # deeper than the parser goes
        too_deep = True
    if too_deep or _depth(data) > MAX_INPUT_DEPTH:
        raise ValidationError(
            f"--input-json {source}: nested more than {MAX_INPUT_DEPTH} levels deep"
        )
    if not isinstance(data, dict):
        raise ValidationError(f"--input-json {source}: expected a JSON object")
    return data


#: Deeper inputs than any recipe needs broke validation with a RecursionError (a traceback).
MAX_INPUT_DEPTH = 64


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in value (without recursion of its own)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_INPUT_DEPTH:
                children = item.values() if isinstance(item, dict) else item
                stack.extend((child, level + 1) for child in children)
    return deepest


def run(
    settings: Settings,
    ref: str,
    customer: str | None,
    inputs: dict[str, Any],
    *,
    plan_only: bool = False,
    no_cache: bool = False,
    send: bool = False,
    progress: Callable[[str, str], None] | None = None,
):
    from hunter_cli.db.engine import open_database
    from hunter_cli.engine.runner import Runner, RunOptions
    from hunter_cli.interrupts import stop_on_sigterm

    loaded = load_recipe(ref, settings.workspace)
    db = open_database(settings.require_database_url())
    try:
        stop_on_sigterm()  # a run here is this process's work: end it as Ctrl-C would
        runner = Runner(db, settings, progress=progress)
        return runner.run(
            loaded,
            customer or settings.default_customer,
            inputs,
            RunOptions(plan_only=plan_only, no_cache=no_cache, send=send),
        )
    finally:
        db.dispose()


def resume(
    settings: Settings,
    execution: str,
    *,
    no_cache: bool = False,
    send: bool = False,
    force: bool = False,
    progress: Callable[[str, str], None] | None = None,
):
    from hunter_cli.db.engine import open_database
    from hunter_cli.engine.runner import Runner, RunOptions
    from hunter_cli.interrupts import stop_on_sigterm

    db = open_database(settings.require_database_url())
    try:
        stop_on_sigterm()
        runner = Runner(db, settings, progress=progress)
        return runner.resume(execution, RunOptions(no_cache=no_cache, send=send), force=force)
    finally:
        db.dispose()


def close(settings: Settings, execution: str, *, force: bool = False) -> dict[str, Any]:
    """Close a dead run's books without running the rest (see Runner.close)."""
    from hunter_cli.db.engine import open_database
    from hunter_cli.engine.runner import Runner

    db = open_database(settings.require_database_url())
    try:
        return Runner(db, settings).close(execution, force=force)
    finally:
        db.dispose()
