"""Where the bundled recipes and seeds are: inside the wheel, or beside the package in a
source checkout (an editable install)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled_dir(name: str) -> Path:
    installed = _PACKAGE / "_bundled" / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name


def recipe_dirs(workspace: Path | None) -> list[Path]:
    """The workspace's own recipes come first, so a user's edit wins over the bundled copy."""
    dirs = []
    if workspace is not None and (workspace / "recipes").is_dir():
        dirs.append(workspace / "recipes")
    dirs.append(bundled_dir("recipes"))
    return dirs


def bundled_file(name: str) -> Path:
    installed = _PACKAGE / "_bundled" / name
    return installed if installed.is_file() else _PACKAGE.parent / name
