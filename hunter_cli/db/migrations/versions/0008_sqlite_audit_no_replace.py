"""SQLite: INSERT OR REPLACE may not overwrite an audit entry

Revision ID: 0008
Revises: 0007

REPLACE deletes the row it conflicts with without firing DELETE triggers (unless recursive
triggers are on), so it got past audit_logs_no_update and audit_logs_no_delete. An insert
whose seq or id is already there is refused before its conflict is resolved. PostgreSQL
needs nothing: INSERT ... ON CONFLICT DO UPDATE fires the UPDATE trigger.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SQLITE_UP = """CREATE TRIGGER audit_logs_no_replace BEFORE INSERT ON audit_logs
   WHEN EXISTS (SELECT 1 FROM audit_logs WHERE seq = NEW.seq OR id = NEW.id)
   BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only: REPLACE is not allowed'); END"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(SQLITE_UP)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_logs_no_replace")
