"""Schema 4: ``outbox.channel``: which alert channel a queued message is for ("telegram", or
"apprise:<n>" for the n-th URL of ``notify.channels``). Existing rows are Telegram's.

Revision ID: r0004
Revises: r0003
"""

import sqlalchemy as sa
from alembic import op

revision = "r0004"
down_revision = "r0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("channel", sa.String(64), nullable=False, server_default="telegram"))
        batch.create_index("ix_outbox_channel", ["channel"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_channel")
        batch.drop_column("channel")
