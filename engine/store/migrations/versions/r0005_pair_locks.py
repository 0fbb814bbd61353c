"""Schema 5: the ``pair_locks`` table (per-pair entry locks that survive restarts).

Revision ID: r0005
Revises: r0004
"""

import sqlalchemy as sa
from alembic import op

revision = "r0005"
down_revision = "r0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pair_locks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(256), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("until_ms", sa.BigInteger(), nullable=False),
        sa.Column("ended_ms", sa.BigInteger(), nullable=True),
        sa.Column("ended_by", sa.String(64), nullable=False),
    )
    op.create_index("ix_pair_locks_symbol", "pair_locks", ["symbol"])
    op.create_index("ix_pair_locks_until_ms", "pair_locks", ["until_ms"])


def downgrade() -> None:
    op.drop_table("pair_locks")
