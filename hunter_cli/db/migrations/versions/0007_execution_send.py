"""executions: whether the run was asked to deliver (--send)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # So that `hunter executions resume` of a killed `run --send` delivers what that run was
    # delivering, instead of finishing it as a dry run. Older executions did not record it.
    # A plain ADD COLUMN, not batch mode: on SQLite batch mode copies the table and drops the
    # old one, which the ledger's and outbox's foreign keys to executions refuse.
    # Older executions get NULL, not false: whether they were run with --send is not known,
    # and a resume of one says so instead of quietly finishing it as a dry run.
    op.add_column("executions", sa.Column("send", sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column("executions", "send")
