"""Alembic environment: runs on the connection :mod:`engine.store.migrate` passes in
``config.attributes["connection"]`` (no alembic.ini, no URL of its own)."""

from alembic import context

from engine.store import tables  # noqa: F401  (registers every table on Base)
from engine.store.base import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")  # SQLite alters tables by copying them
with context.begin_transaction():
    context.run_migrations()
