"""Creating a workspace: hunter.toml, the recipes folder to edit, and the database."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hunter_cli.config import CONFIG_NAME, load_settings
from hunter_cli.errors import UsageError
from hunter_cli.resources import bundled_dir, bundled_file


@dataclass
class InitReport:
    workspace: Path
    config_written: bool
    recipes_copied: list[str] = field(default_factory=list)
    database: str = ""
    schema_revision: str | None = None
    # "missing" or "empty" when init gave the SQLite file its schema (see new_sqlite_file).
    new_database_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "workspace": str(self.workspace),
            "config": str(self.workspace / CONFIG_NAME),
            "config_written": self.config_written,
            "recipes_copied": self.recipes_copied,
            "database": self.database,
            "schema_revision": self.schema_revision,
        }


def init_workspace(directory: Path, *, database_url: str | None = None) -> InitReport:
    """Idempotent: an existing hunter.toml or recipe file is never overwritten."""
    from hunter_cli.db.engine import current_revision, describe_url, open_database

    directory = directory.expanduser()
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a folder")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file on the way (afile/x), no permission, a full disk
        raise UsageError(f"cannot make the folder {directory}: {exc.strerror or exc}") from None
    config = directory / CONFIG_NAME
    written = False
    if not config.exists():
        shutil.copyfile(bundled_file("hunter.toml.example"), config)
        written = True
    recipes = directory / "recipes"
    recipes.mkdir(exist_ok=True)
    copied = []
    for source in sorted(bundled_dir("recipes").glob("*.yaml")):
        target = recipes / source.name
        if not target.exists():
            shutil.copyfile(source, target)
            copied.append(source.name)
    settings = load_settings(config=str(config), database_url=database_url)
    url = settings.require_database_url()
    report = InitReport(directory.resolve(), written, copied, describe_url(url))
    if url.startswith("sqlite"):
        db = open_database(url, create=True)
        report.schema_revision = current_revision(db)
        report.new_database_file = db.new_file
        db.dispose()
    return report
