"""Finding a recipe by slug or path, and storing the version that runs."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hunter_cli.db.models import Recipe
from hunter_cli.errors import HunterError, NotFoundError
from hunter_cli.resources import recipe_dirs


def recipe_files(dirs: list[Path]) -> dict[str, Path]:
    """slug -> file; the first folder that has a slug wins."""
    found: dict[str, Path] = {}
    for folder in dirs:
        if not folder.is_dir():
            continue
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            found.setdefault(path.stem, path)
    return found


def available_recipes(workspace: Path | None) -> dict[str, Path]:
    """slug -> file; the workspace's recipes/ shadows the bundled ones."""
    return recipe_files(recipe_dirs(workspace))


def slug_of_file(path: Path, workspace: Path | None) -> str | None:
    """The slug a recipe file must declare: its file name when it sits in the workspace's or
    the bundled recipes folder (where `recipes list` and `hunter run SLUG` know it by that
    name), else None: a file run by its path may be named as its author likes."""
    folder = path.resolve().parent
    if folder in {d.resolve() for d in recipe_dirs(workspace)}:
        return path.stem
    return None


def resolve_recipe_path(ref: str, workspace: Path | None) -> Path:
    """A slug (workspace recipes first, then bundled) or a path to a YAML file."""
    candidate = Path(ref).expanduser()
    if ref.endswith((".yaml", ".yml")) or "/" in ref or candidate.is_file():
        if candidate.is_file():
            return candidate
        raise NotFoundError(f"recipe file not found: {ref}")
    recipes = available_recipes(workspace)
    if ref in recipes:
        return recipes[ref]
    known = ", ".join(sorted(recipes)) or "none"
    raise NotFoundError(f"unknown recipe {ref!r}; known recipes: {known}")


def store_recipe_version(
    session: Session,
    *,
    slug: str,
    name: str,
    description: str | None,
    content: str,
    content_hash: str,
    source_path: str | None,
    agent_id=None,
) -> tuple[Recipe, bool]:
    """The stored row for this exact content; a changed file becomes a new version."""
    for _ in range(_STORE_ATTEMPTS):
        existing = session.scalars(
            select(Recipe).where(Recipe.slug == slug, Recipe.content_hash == content_hash)
        ).first()
        if existing is not None:
            return existing, False
        latest = session.scalar(select(func.max(Recipe.version)).where(Recipe.slug == slug)) or 0
        recipe = Recipe(
            slug=slug,
            name=name,
            description=description,
            version=latest + 1,
            content_hash=content_hash,
            content=content,
            source_path=source_path,
            agent_id=agent_id,
        )
        try:
            # Another process may store this content, or another version, at the same time
            # (PostgreSQL; SQLite has one writer): its row wins, and we look again.
            with session.begin_nested():
                session.add(recipe)
            return recipe, True
        except IntegrityError:
            continue
    raise HunterError(f"could not store a new version of recipe {slug!r}: too many at once")


_STORE_ATTEMPTS = 5
