"""Reading a quantd SQLite store with plain sqlite3, as an operator would, to check what
was really persisted (not what the ORM believes)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def rows(db: Path, sql: str) -> list[tuple]:
    """Run one query on the database file ``db`` and return all rows."""
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
