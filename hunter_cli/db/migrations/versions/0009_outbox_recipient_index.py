"""outbox_messages: an index on (customer_id, channel, recipient)

Revision ID: 0009
Revises: 0008

Each e-mail or SMS delivery asks whether its recipient has meanwhile been sent the same
step's message by another run (hunter_cli.delivery._delivered_elsewhere). Without this
index that read went through every sent message of the customer, once per message.
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_messages_customer_channel_recipient",
        "outbox_messages",
        ["customer_id", "channel", "recipient"],
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_messages_customer_channel_recipient", "outbox_messages")
