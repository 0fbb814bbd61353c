"""Upgrading a store written by the previous schema keeps every row, and the migrated schema
is exactly the one a new store gets from the models."""

from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from engine.errors import StoreError
from engine.store import load_state, open_store
from engine.store.base import SCHEMA_VERSION, Base
from engine.store.migrate import head_revision
from tests.cli_helpers import quantd
from tests.db_helpers import rows

OLD_STORE = Path(__file__).parent / "fixtures/stores/schema2-paper.sql.gz"
TABLES = ("fills", "orders", "order_transitions", "accounts", "positions", "events", "equity_snapshots",
          "candle_cursors", "breaker")


def _old_store(folder: Path) -> Path:
    """The real schema-2 store of quantd 0.1 (see tests/fixtures/stores/README.md)."""
    db = folder / "var/quantd.sqlite"
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as con:
        con.executescript(gzip.decompress(OLD_STORE.read_bytes()).decode())
    return db


def _columns(db: Path) -> dict[str, list[str]]:
    return {t: [name for (name,) in rows(db, f"SELECT name FROM pragma_table_info('{t}')")] for t in TABLES}


def _snapshot(db: Path, columns: dict[str, list[str]]) -> dict[str, list]:
    """Every row of every table, in the old store's columns (later revisions add columns)."""
    return {t: rows(db, f"SELECT {', '.join(columns[t])} FROM {t} ORDER BY 1") for t in TABLES}


def test_upgrade_of_a_schema2_store_keeps_every_row_and_matches_the_models(tmp_path):
    db = _old_store(tmp_path)
    old_columns = _columns(db)
    before = _snapshot(db, old_columns)
    assert len(before["fills"]) == 26 and rows(db, "SELECT value FROM meta WHERE key='schema_version'") == [("2",)]

    with pytest.raises(StoreError, match="start the daemon once"):
        open_store(f"sqlite:///{db}", create=False)  # read-only commands never migrate

    store = open_store(f"sqlite:///{db}")
    try:
        state = load_state(store)
        with store.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        store.close()
    assert diffs == [], "the migrated schema is the models' schema"
    assert _snapshot(db, old_columns) == before, "every row of every table kept, to the last digit"
    added = {t: [c for c in _columns(db)[t] if c not in old_columns[t]] for t in TABLES}
    assert added["accounts"] == ["market", "leverage", "wallet", "funding_paid"]
    assert rows(db, "SELECT market, leverage, wallet, funding_paid FROM accounts") == [("spot", None, None, None)]
    assert len(state.fills) == 26 and state.mode == "paper"
    assert rows(db, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    assert rows(db, "SELECT value FROM meta WHERE key='schema_version'") == [(str(SCHEMA_VERSION),)]
    assert rows(db, "SELECT name FROM pragma_table_info('outbox') WHERE name = 'channel'") == [("channel",)]
    backup = db.with_name("quantd.sqlite.pre-r0002.bak")
    assert rows(backup, "SELECT count(*) FROM fills") == [(26,)], "a copy of the old store was taken first"
    assert rows(backup, "SELECT name FROM sqlite_master WHERE name='alembic_version'") == []


def test_the_daemon_resumes_on_a_migrated_store_and_status_reads_it(tmp_path):
    db = _old_store(tmp_path)
    r = quantd("status", "--json", cwd=tmp_path)
    assert r.returncode == 2 and "quantd run" in r.stderr and "migrate" in r.stderr

    r = quantd("run", "--speed", "100000", "--exit-when-done", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "store migrated from schema revision r0002 to r0006" in r.stdout
    assert "resuming after candle" in r.stdout, "the cursor of the old store was honoured"
    assert rows(db, "SELECT count(*) FROM fills")[0][0] > 26
    assert quantd("status", "--json", cwd=tmp_path).returncode == 0


def test_a_new_store_is_created_at_the_head_and_a_newer_one_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.sqlite'}"
    open_store(url).close()
    db = tmp_path / "new.sqlite"
    assert rows(db, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    open_store(url, create=False).close()  # at the head: read-only commands open it

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'r9999'")
    engine.dispose()
    with pytest.raises(StoreError, match="newer than this quantd"):
        open_store(url)


def test_the_head_constant_is_alembics_head_so_a_current_store_opens_without_alembic():
    from engine.store.migrate import HEAD

    assert HEAD == head_revision()
