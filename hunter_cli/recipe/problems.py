"""Recipe problems: one located, human-readable complaint per defect in a recipe file."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hunter_cli.suggest import closest, did_you_mean

__all__ = [
    "RecipeInvalid",
    "RecipeProblem",
    "closest",
    "did_you_mean",
    "render_path",
    "respelled",
    "spell",
]

_PLAIN_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


def render_path(path: Sequence[str | int]) -> str:
    """Render a JSON-path-like tuple as ``steps[2].timeout``; the empty path renders as ``""``."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out.append(f"[{part}]")
        elif isinstance(part, str) and _PLAIN_KEY.match(part):
            out.append(f".{part}" if out else part)
        else:
            # Keys with dots or spaces would be ambiguous in dotted form.
            out.append(f"[{part!r}]")
    return "".join(out)


@dataclass(frozen=True)
class RecipeProblem:
    """One defect in a recipe, located at a 1-based line and column of its source."""

    source: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}: {self.path or '(root)'}: {self.message}"

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.source, self.line, self.column, self.path, self.message)


class RecipeInvalid(Exception):
    """A recipe could not be loaded or failed validation; ``problems`` lists every defect."""

    def __init__(self, problems: Iterable[RecipeProblem]) -> None:
        self.problems: list[RecipeProblem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def spell(value: Any) -> str:
    """``value`` as a recipe would write it (YAML flow style: true, null, [1, 'a'],
    {'k': 2}), not as Python's repr (True, None)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(spell(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{spell(k)}: {spell(v)}" for k, v in value.items()) + "}"
    return repr(value)


def respelled(error: Any) -> str:
    """jsonschema's message with the values in it spelt as in YAML (see ``spell``)."""
    if error.validator == "enum":
        return f"{spell(error.instance)} is not one of {spell(error.validator_value)}"
    shown = repr(error.instance)
    if error.message.startswith(shown):
        return spell(error.instance) + error.message[len(shown) :]
    return error.message
