"""What recipes there are and what they do: for `hunter recipes list|show|validate`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hunter_cli.engine.recipes import available_recipes, resolve_recipe_path, slug_of_file
from hunter_cli.errors import NotFoundError
from hunter_cli.recipe import RecipeInvalid, load_and_validate, load_recipe_file, split_step
from hunter_cli.resources import bundled_dir


@dataclass
class CatalogEntry:
    slug: str
    name: str
    path: str
    origin: str
    steps: int
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "name": self.name,
            "path": self.path,
            "origin": self.origin,
            "steps": self.steps,
            "problems": self.problems,
        }


def _display(path: Path) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return relative if not relative.startswith("../..") else str(path)


def _check(
    path: Path, workspace: Path | None, file_slug: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    try:
        slug = file_slug or slug_of_file(path, workspace)
        loaded = load_and_validate(_display(path), file_slug=slug)
        return loaded.data, []
    except RecipeInvalid as invalid:
        try:
            data = load_recipe_file(_display(path)).data
        except (RecipeInvalid, OSError):
            data = {}
        return data, [str(p) for p in invalid.problems]
    except OSError as exc:
        return {}, [f"{_display(path)}: cannot read: {exc.strerror or exc}"]


def recipe_problems(path: Path, *, in_recipe_folder: bool = False) -> list[str]:
    """What `hunter recipes validate` says about one file (file:line:column: path: message
    lines), empty when it is valid. `in_recipe_folder`: the file is found by its name (its
    slug must be that name), as seed finds the workspace's and the bundled recipes."""
    return _check(path, None, path.stem if in_recipe_folder else None)[1]


def list_recipes(workspace: Path | None) -> list[CatalogEntry]:
    bundled = bundled_dir("recipes").resolve()
    entries = []
    for slug, path in sorted(available_recipes(workspace).items()):
        data, problems = _check(path, workspace)
        origin = "bundled" if path.resolve().parent == bundled else "workspace"
        entries.append(
            CatalogEntry(
                slug,
                str(data.get("name") or slug),
                _display(path),
                origin,
                len(data.get("steps") or []),
                problems,
            )
        )
    return entries


def _recipe_files_in(folder: Path) -> list[Path]:
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def validate_files(files: list[Path] | None, workspace: Path | None) -> list[dict[str, Any]]:
    """One entry per file; a folder stands for the recipe files (*.yaml, *.yml) in it."""
    report: list[dict[str, Any]] = []
    paths: list[Path] = []
    for given in files or list(available_recipes(workspace).values()):
        if Path(given).is_dir():
            found = _recipe_files_in(Path(given))
            if not found:
                message = f"{given}: no recipe files (*.yaml, *.yml) in this folder"
                report.append({"path": str(given), "ok": False, "problems": [message]})
            paths.extend(found)
        else:
            paths.append(Path(given))
    for path in paths:
        if not Path(path).is_file():  # as `hunter run FILE` says it: not found, exit 3
            raise NotFoundError(f"recipe file not found: {path}")
    for path in paths:
        _, problems = _check(Path(path), workspace)
        report.append({"path": _display(Path(path)), "ok": not problems, "problems": problems})
    return report


def _does(step: dict[str, Any]) -> str:
    _, params = split_step(step)
    kind = step.get("type")
    if kind == "action":
        detail = params.get("operation") or params.get("query") or params.get("provider") or ""
        return (
            f"{params.get('action')} {detail}".strip()
            if isinstance(detail, str)
            else str(params.get("action"))
        )
    if kind == "ai":
        return params.get("task") or "generate"
    if kind == "correspondence":
        return f"send {params.get('channel')}"
    return step.get("description") or ""


def describe_recipe(ref: str, workspace: Path | None) -> dict[str, Any]:
    from hunter_cli.components import estimate_step_credits
    from hunter_cli.engine.api import load_recipe
    from hunter_cli.engine.runner import max_cost

    path = resolve_recipe_path(ref, workspace)
    loaded = load_recipe(str(path), workspace)
    data = loaded.data
    schema = data.get("inputs") or {}
    required = set(schema.get("required", []))
    inputs = []
    from hunter_cli.engine.inputs import declared_types, resolved

    for name, prop in (schema.get("properties") or {}).items():
        declared = resolved(prop, schema)  # a $ref followed; `city: true` is {}
        kinds = declared_types(prop, schema)
        inputs.append(
            {
                "name": name,
                "type": kinds[0] if len(kinds) == 1 else " or ".join(kinds) if kinds else "any",
                "required": name in required,
                "default": declared.get("default"),
                "description": declared.get("description"),
            }
        )
    steps = [
        {
            "id": s["id"],
            "type": s["type"],
            "does": _does(s) or None,  # null, not "", when there is nothing to say
            "if": s.get("if"),
            "credits": str(estimate_step_credits(s)),
        }
        for s in data["steps"]
    ]
    return {
        "slug": data["slug"],
        "name": data.get("name"),
        "version": data.get("version"),
        "description": data.get("description"),
        "path": _display(path),
        "content_hash": loaded.content_hash,
        "inputs": inputs,
        "steps": steps,
        "outputs": list((data.get("outputs") or {}).keys()),
        "max_cost": str(max_cost(data["steps"])),
    }
