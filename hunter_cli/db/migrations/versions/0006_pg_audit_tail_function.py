"""PostgreSQL: the audit tail under the append lock, in one round trip

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Appending to the hash chain needs the newest entry, read only once the append lock is
# held (else two writers could both chain onto the same entry). A VOLATILE function takes a
# fresh snapshot for each query it runs, so the SELECT below sees every entry committed by
# whoever held the lock before; one call replaces two round trips.
PG_UP = """
CREATE OR REPLACE FUNCTION hunter_audit_tail(lock_key bigint)
RETURNS TABLE (seq integer, hash varchar) AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    RETURN QUERY
        SELECT a.seq, a.hash::varchar FROM audit_logs AS a ORDER BY a.seq DESC LIMIT 1;
END;
$$ LANGUAGE plpgsql VOLATILE;
"""

PG_DOWN = "DROP FUNCTION IF EXISTS hunter_audit_tail(bigint);"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_UP)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_DOWN)
