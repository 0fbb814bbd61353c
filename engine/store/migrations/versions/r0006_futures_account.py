"""Schema 6: a futures account's ledger (ADR 0017). ``accounts`` gains ``market`` ("spot" for
every existing row), ``leverage``, ``wallet`` and ``funding_paid``; ``positions`` gains the
isolated ``margin``, the signed cost basis ``cost``, the position's ``funding`` and the
``liquidation_price`` the engine computed at its last change (for read-only views). The futures
columns are NULL on a spot account, so existing rows are unchanged.

Revision ID: r0006
Revises: r0005
"""

import sqlalchemy as sa
from alembic import op

revision = "r0006"
down_revision = "r0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("market", sa.String(16), nullable=False, server_default="spot"))
        batch.add_column(sa.Column("leverage", sa.String(64), nullable=True))
        batch.add_column(sa.Column("wallet", sa.String(64), nullable=True))
        batch.add_column(sa.Column("funding_paid", sa.String(64), nullable=True))
    with op.batch_alter_table("positions") as batch:
        batch.add_column(sa.Column("margin", sa.String(64), nullable=True))
        batch.add_column(sa.Column("cost", sa.String(64), nullable=True))
        batch.add_column(sa.Column("funding", sa.String(64), nullable=True))
        batch.add_column(sa.Column("liquidation_price", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("positions") as batch:
        for name in ("liquidation_price", "funding", "cost", "margin"):
            batch.drop_column(name)
    with op.batch_alter_table("accounts") as batch:
        for name in ("funding_paid", "wallet", "leverage", "market"):
            batch.drop_column(name)
