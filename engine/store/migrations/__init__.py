"""Alembic migrations of the store (see :mod:`engine.store.migrate`)."""
