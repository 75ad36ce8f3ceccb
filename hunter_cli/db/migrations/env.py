"""Alembic environment: always handed a live connection by hunter_cli.db.migrate."""

from alembic import context

from hunter_cli.db.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
