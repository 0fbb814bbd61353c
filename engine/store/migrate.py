"""Schema migrations of the store with Alembic, so an upgrade of quantd keeps existing data.

A store is in one of three conditions:

- empty: the current models are created and stamped with the head revision;
- written by quantd 0.1 (``meta.schema_version = 2``, no ``alembic_version`` table): stamped
  with the baseline revision ``r0002``, then upgraded;
- under Alembic: upgraded from its revision to the head.

Before upgrading a SQLite file, a copy is taken with SQLite's online backup
(``<file>.pre-<revision>.bak``), so a failed or unwanted upgrade can be undone by hand.
Read-only commands (``create=False``) never migrate: they ask for a daemon start instead.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from engine.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger("quantd.store")

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "r0002"
"""The revision of stores written before Alembic (schema version 2)."""
HEAD = "r0006"
"""The newest revision (a test checks it is Alembic's head): a store already at it opens
without importing Alembic, which the idle daemon would otherwise carry (~11 MB)."""


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision this quantd knows, from the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The store's revision: from ``alembic_version``, ``r0002`` for a pre-Alembic schema-2
    store, None for an empty database.

    Raises:
        StoreError: a pre-Alembic store older than schema 2.
    """
    with engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
        if "alembic_version" in names:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
            return row[0] if row else None
        if "meta" not in names:
            return None
        row = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).first()
    if row is None or int(row[0]) == 2:
        return BASELINE
    raise StoreError(f"the store has schema version {row[0]}, older than any this quantd can migrate (2): keep it "
                     "for the old version and point store.url at a new file")


def bring_to_head(engine: Engine, url: str, allow_upgrade: bool, create_fresh) -> str:
    """Make the store's schema the head revision; returns what was done ("created",
    "current", "upgraded from r0002").

    Args:
        create_fresh: called with the engine to create the current tables in an empty store.
        allow_upgrade: False for read-only commands: a store behind the head is refused.

    Raises:
        StoreError: the store is newer than this quantd, behind it while ``allow_upgrade`` is
            False, or the upgrade failed (the store is left at its old revision).
    """
    current = current_revision(engine)
    if current == HEAD:
        return "current"
    from alembic import command
    from alembic.script import ScriptDirectory

    head = head_revision()
    scripts = ScriptDirectory.from_config(_config())
    if current is None:
        if not allow_upgrade:
            raise StoreError(f"the store at {url} is empty: start the daemon once with `quantd run`")
        create_fresh(engine)
        with engine.begin() as conn:
            command.stamp(_config(conn), head)
        return "created"
    if current == head:
        return "current"
    if current not in {rev.revision for rev in scripts.walk_revisions()}:
        raise StoreError(f"the store at {url} has schema revision {current}, newer than this quantd ({head}): "
                         "upgrade quantd")
    if not allow_upgrade:
        raise StoreError(f"the store at {url} has schema revision {current}; this quantd needs {head}: start the "
                         "daemon once (`quantd run`) to migrate it, a backup is taken first")
    backup = _backup_before(engine, current)
    try:
        with engine.begin() as conn:
            if current == BASELINE and "alembic_version" not in inspect(conn).get_table_names():
                command.stamp(_config(conn), BASELINE)
            command.upgrade(_config(conn), head)
    except Exception as exc:
        raise StoreError(f"migrating the store at {url} from {current} to {head} failed ({type(exc).__name__}: "
                         f"{exc}); it is unchanged{'; a copy is at ' + str(backup) if backup else ''}") from None
    log.warning("store migrated from schema revision %s to %s%s", current, head,
                f" (copy of the old store: {backup})" if backup else "")
    return f"upgraded from {current}"


def _backup_before(engine: Engine, revision: str) -> Path | None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    from engine.store.backup import sqlite_backup

    target = Path(f"{database}.pre-{revision}.bak")
    sqlite_backup(engine, target)
    return target
