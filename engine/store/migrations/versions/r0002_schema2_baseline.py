"""Schema 2, the last schema before Alembic: the baseline.

Stores written by quantd 0.1 (``meta.schema_version = 2``, no ``alembic_version`` table) are
stamped with this revision and then upgraded. Nothing to create: those stores already hold
every schema-2 table (a new store is made from the current models and stamped at the head).

Revision ID: r0002
Revises:
"""

revision = "r0002"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    raise NotImplementedError("schema 2 is the oldest schema quantd can hold")
