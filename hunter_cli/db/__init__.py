"""Database access: engine and sessions, typed models, Alembic migrations."""
