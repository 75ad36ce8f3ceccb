"""Running Alembic migrations from code (there is no alembic.ini to find)."""

from __future__ import annotations

from hunter_cli.db.engine import (
    MIGRATIONS_DIR,
    Database,
    current_revision,
    refuse_newer_schema,
    wrap_connection_errors,
)


def _alembic_config(connection):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade(db: Database, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade the schema; returns (revision before, revision after)."""
    from alembic import command

    before = current_revision(db)
    refuse_newer_schema(db.url, before)
    with wrap_connection_errors(db.url), db.engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)
    return before, current_revision(db)
