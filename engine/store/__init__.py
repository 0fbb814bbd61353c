"""The durable store: SQLAlchemy 2.0 tables, a journal writing one transaction per state
change, and read-side queries for status and restart."""

from engine.store.base import SCHEMA_VERSION, Store, open_store
from engine.store.journal import SqlJournal
from engine.store.state import StoredState, load_state

__all__ = ["SCHEMA_VERSION", "SqlJournal", "Store", "StoredState", "load_state", "open_store"]
