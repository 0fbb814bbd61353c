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


def untag(table: list[tuple]) -> list[tuple]:
    """Rows with each store's instance tag in client order ids (``qd-k3x9pa-sma_cross-1``)
    replaced by ``<tag>``, to compare the ledgers of two stores; every id of one ledger must
    carry one and the same tag."""
    import re

    tags: set[str] = set()

    def one(value):
        if isinstance(value, str):
            tags.update(re.findall(r"\bqd-([a-z0-9]{6})-", value))
            return re.sub(r"\bqd-[a-z0-9]{6}-", "qd-<tag>-", value)
        return value

    out = [tuple(one(v) for v in row) for row in table]
    assert len(tags) <= 1, f"one store, one instance tag; found {sorted(tags)}"
    return out
