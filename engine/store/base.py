"""Engine, sessions, schema version and column types of the store.

SQLite runs in WAL mode with ``synchronous=FULL`` (a committed transaction survives a
crash or power loss) and foreign keys on. Money is stored as text through
:class:`DecimalText`, never as a float, so balances reconcile exactly.
"""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Iterator

from sqlalchemy import String, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from engine.errors import StoreCorrupt, StoreError

SCHEMA_VERSION = 6
"""Kept in ``meta.schema_version`` for quantd 0.1, which refuses a store newer than its 2.
2: fills.fee_asset, orders.stop_price, order_transitions.exchange_order_id, the
reconciliation tables, the outbox (the last schema before Alembic). 3: the heartbeat table.
4: ``outbox.channel`` (Telegram or an apprise URL). 5: the ``pair_locks`` table. 6: a futures account's
ledger (``accounts.market``, ``leverage``, ``wallet``, ``funding_paid``; ``positions.margin``,
``cost``, ``funding``).
The schema itself is versioned by Alembic revisions (:mod:`engine.store.migrate`)."""


class DecimalText(TypeDecorator):
    """A :class:`~decimal.Decimal` stored as its exact string."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect) -> str | None:
        return None if value is None else str(Decimal(value))

    def process_result_value(self, value: str | None, dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class MetaRow(Base):
    """Key/value facts about the store itself (schema version, mode)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class Store:
    """An open store: the SQLAlchemy engine and a session factory.

    Use :meth:`transaction` for every unit of work; it commits on success and rolls back
    on error.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: ``with store.transaction() as s: ...``."""
        with self._sessions.begin() as session:
            yield session

    def read(self) -> Session:
        """A session for reads (close it, or use it as a context manager)."""
        return self._sessions()

    def close(self) -> None:
        """Dispose of connections (checkpoints the WAL)."""
        self.engine.dispose()


def open_store(url: str, create: bool = True) -> Store:
    """Open (and by default create or migrate) the store at a SQLAlchemy URL.

    ``sqlite:///var/quantd.sqlite`` is relative to the working directory; its folder is created.
    ``postgresql+psycopg://user:pass@host/db`` works too (the ``postgres`` extra installs the driver).
    With ``create`` an empty database gets the current tables and an older schema is migrated
    (after a backup copy, see :mod:`engine.store.migrate`); without it, either is refused.

    Raises:
        StoreError: the database cannot be opened, is empty or behind while ``create`` is
            False, was written by a newer quantd, or its migration failed.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        if not create and not Path(parsed.database).exists():
            raise StoreError(f"no store at {parsed.database}: start the daemon once with `quantd run`")
        try:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of {parsed.database}: {exc}") from None
    from engine.store import tables  # noqa: F401  (registers the tables on Base)

    db = create_engine(url)
    if parsed.get_backend_name() == "sqlite":
        event.listen(db, "connect", _sqlite_pragmas)
    from engine.store.migrate import bring_to_head

    try:
        bring_to_head(db, url, create, Base.metadata.create_all)
        store = Store(db)
        _check_version(store)
    except StoreError:
        db.dispose()
        raise
    except Exception as exc:
        db.dispose()
        cause = getattr(exc, "orig", None) or exc  # the driver's one-line message, not SQLAlchemy's SQL dump
        if is_corruption(cause):
            raise corrupt_store(url, str(cause)) from None
        raise StoreError(f"cannot open the store at {url}: {type(cause).__name__}: {cause}") from None
    return store


_CORRUPTION = ("database disk image is malformed", "file is not a database", "database corruption")


def is_corruption(exc: BaseException) -> bool:
    """True when a driver error says the database file itself is damaged."""
    return any(text in str(exc) for text in _CORRUPTION)


def corrupt_store(url: str, detail: str) -> StoreCorrupt:
    """The one-line error for a damaged store: the file, what is wrong, and the way back."""
    parsed = make_url(url)
    where = parsed.database if parsed.get_backend_name() == "sqlite" else parsed.render_as_string()
    backups = Path(where).parent / "backups" if parsed.get_backend_name() == "sqlite" else None
    return StoreCorrupt(
        f"the store {where} is damaged ({detail.splitlines()[0][:200]}); restarting will not help: stop the "
        f"daemon, keep the damaged file for inspection, and restore the newest backup"
        f"{f' (default folder {backups}; quantd backup writes them)' if backups else ' (pg_dump)'}; "
        "`quantd doctor` runs the integrity check")


def verify_integrity(store: Store, url: str) -> None:
    """SQLite's ``PRAGMA quick_check`` (every page read, O(size): well under a second for a
    daemon's store); a no-op on other databases.

    Raises:
        StoreCorrupt: the file is damaged; the message says how to get back.
    """
    if store.engine.dialect.name != "sqlite":
        return
    try:
        with store.engine.connect() as conn:
            result = conn.exec_driver_sql("PRAGMA quick_check").scalar()
    except Exception as exc:
        cause = getattr(exc, "orig", None) or exc
        if is_corruption(cause):
            raise corrupt_store(url, str(cause)) from None
        raise StoreError(f"cannot check the store at {url}: {type(cause).__name__}: {cause}") from None
    if result != "ok":
        raise corrupt_store(url, f"quick_check: {result}")


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def _check_version(store: Store) -> None:
    """Record the schema version (the store is at the head revision by now)."""
    with store.read() as s:
        row = s.get(MetaRow, "schema_version")
    if row is None or int(row.value) != SCHEMA_VERSION:
        with store.transaction() as s:
            s.merge(MetaRow(key="schema_version", value=str(SCHEMA_VERSION)))
