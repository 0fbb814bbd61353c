"""Backups of a SQLite store while the daemon runs (SQLite's online backup API), with retention.

A backup is a complete, consistent SQLite file: stop the daemon, copy it over the store, start
again. Each copy is written to ``*.part``, checked with ``PRAGMA quick_check`` and then renamed,
so a file named ``quantd-*.sqlite`` is always whole. PostgreSQL stores are backed up with the
server's own tools (``pg_dump``), not here.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from sqlalchemy.engine import Engine

from engine.errors import StoreError
from engine.store.base import Store

PREFIX = "quantd-"


def sqlite_backup(engine: Engine, target: Path) -> Path:
    """Copy the SQLite database of ``engine`` to ``target`` (consistent, while others write).

    Raises:
        StoreError: not a SQLite store, or the copy failed its check.
        OSError: ``target`` cannot be written.
    """
    if engine.dialect.name != "sqlite":
        raise StoreError(f"backups here are for SQLite stores; back up {engine.dialect.name} with its own tools "
                         "(pg_dump)")
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    raw = engine.raw_connection()
    try:
        dst = sqlite3.connect(part)
        try:
            raw.driver_connection.backup(dst)
            check = dst.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            dst.close()
    finally:
        raw.close()
    if check != "ok":
        part.unlink(missing_ok=True)
        raise StoreError(f"backup copy failed its check: {check}")
    os.replace(part, target)
    return target


def backup_store(store: Store, folder: Path, keep: int, now_s: float | None = None) -> tuple[Path, list[Path]]:
    """Write ``<folder>/quantd-YYYYmmddTHHMMSSmmmZ.sqlite`` (UTC, ms) and delete the oldest
    copies beyond ``keep``.

    Returns:
        (the new file, the files deleted).

    Raises:
        StoreError, OSError: as :func:`sqlite_backup`; ValueError: ``keep`` < 1.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1")
    now = time.time() if now_s is None else now_s
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now * 1000) % 1000:03d}Z"
    path = sqlite_backup(store.engine, folder / f"{PREFIX}{stamp}.sqlite")
    copies = sorted(folder.glob(f"{PREFIX}*.sqlite"))
    deleted = copies[:-keep]
    for old in deleted:
        old.unlink()
    return path, deleted
