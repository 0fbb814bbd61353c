"""One daemon per store: an exclusive lock taken before the daemon reads or writes anything.

Two daemons on one store would both trade the same account (ADR 0012). So ``quantd run``
holds a lock for its whole life:

* **SQLite**: an OS file lock (``filelock``, ``flock`` on Unix) on ``<store>.lock`` beside
  the database, plus ``<store>.lock.json`` naming the holder (pid, host, since). The kernel
  drops the lock when the process dies, however it dies; the holder file is then stale,
  and the next daemon takes the lock over and reports whose it was.
* **PostgreSQL**: a session-level advisory lock (``pg_try_advisory_lock``) held on a
  connection of its own, whose ``application_name`` names the holder; the server drops it
  when that connection closes. A second daemon reads the holder from ``pg_stat_activity``.

Read-only commands (``status``, ``health``, ``backup``, ``export``) and the operator's
``pause``/``resume``/``kill`` never take the lock, so they work beside the daemon.

A lock can be lost while the daemon runs: a PostgreSQL restart or a dropped connection ends
the session and its advisory lock; a deleted ``.lock`` file lets another daemon lock a new
file of the same name. The daemon calls :meth:`StoreLock.check` every few seconds: a lost
lock is taken again when nobody else holds it, and when somebody does, the daemon stops
trading at once.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from engine.errors import StoreError, StoreLocked

ADVISORY_KEY = 0x71_75_61_6E  # "quan": one store per PostgreSQL database, so one fixed key
"""The advisory lock key of a PostgreSQL store (below 2**31: pg_locks shows it as objid)."""

_APP_PREFIX = "quantd "


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a store: process id, host name, and since when (ms UTC)."""

    pid: int
    host: str
    since_ms: int

    def describe(self) -> str:
        """``pid 4242 on vps-1 since 2026-12-03T07:40:01Z``."""
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.since_ms / 1000)) if self.since_ms else "?"
        return f"pid {self.pid} on {self.host} since {since}"

    @classmethod
    def me(cls) -> Holder:
        """This process, now."""
        return cls(os.getpid(), socket.gethostname(), int(time.time() * 1000))


class StoreLock:
    """The held lock of one store; :meth:`release` (or process exit) frees it.

    Attributes:
        holder: this process.
        took_over: the holder of a stale lock this one replaced (its process is gone), or None.
    """

    def __init__(self, release, holder: Holder, took_over: Holder | None = None, check=None):
        self._release = release
        self._check = check
        self.holder = holder
        self.took_over = took_over
        self.retaken = 0
        """How many times a lost lock was taken again (nobody else held it)."""

    def check(self) -> str | None:
        """Whether this process still holds the store exclusively. A lock lost while nobody
        else took it is taken again (``retaken`` counts it). Returns None when held, else why
        it is not (naming the new holder when known): the caller must stop trading.
        """
        if self._check is None or self._release is None:
            return None
        outcome = self._check()
        if outcome == "retaken":
            self.retaken += 1
            return None
        return outcome

    def release(self) -> None:
        """Free the lock (idempotent)."""
        if self._release is not None:
            release, self._release = self._release, None
            release()


def acquire_store_lock(url: str) -> StoreLock:
    """Take the exclusive lock of the store at ``url`` without waiting.

    Raises:
        StoreLocked: a live process holds it; the message names it (pid, host, since).
        StoreError: the lock cannot be taken for another reason (unwritable folder,
            unreachable database).
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            return StoreLock(None, Holder.me())  # a private in-memory store: nobody else can open it
        return _sqlite_lock(Path(parsed.database), url)
    if backend == "postgresql":
        return _postgres_lock(url)
    raise StoreError(f"cannot lock a {backend} store ({url}): quantd supports SQLite and PostgreSQL")


def lock_paths(db: Path) -> tuple[Path, Path]:
    """(lock file, holder file) of the SQLite store file ``db``."""
    return db.with_name(db.name + ".lock"), db.with_name(db.name + ".lock.json")


def _read_holder(path: Path) -> Holder | None:
    try:
        raw = json.loads(path.read_text())
        return Holder(int(raw["pid"]), str(raw["host"]), int(raw["since_ms"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _sqlite_lock(db: Path, url: str) -> StoreLock:
    from filelock import FileLock, Timeout

    lock_file, holder_file = lock_paths(db)
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(lock_file))
        lock.acquire(timeout=0)
    except Timeout:
        holder = _read_holder(holder_file)
        who = holder.describe() if holder else "another process (holder unknown)"
        raise StoreLocked(f"the store {db} is held by a running quantd daemon ({who}); "
                          "one daemon per store: stop that one, or give this one another store.url") from None
    except OSError as exc:
        raise StoreError(f"cannot create the lock file {lock_file}: {exc.strerror or exc}") from None
    stale = _read_holder(holder_file)
    me = Holder.me()
    try:
        holder_file.write_text(json.dumps({"pid": me.pid, "host": me.host, "since_ms": me.since_ms}))
    except OSError as exc:
        lock.release()
        raise StoreError(f"cannot write {holder_file}: {exc.strerror or exc}") from None

    held = {"lock": lock, "ino": _inode(lock_file)}  # the file this process locked

    def release() -> None:
        try:
            if _read_holder(holder_file) == me:
                holder_file.unlink()
        except OSError:
            pass
        held["lock"].release()

    def check() -> str | None:
        current = held["lock"]
        if _inode(lock_file) == held["ino"]:
            return None
        fresh = FileLock(str(lock_file))  # the path no longer names the file we lock: lock it again
        try:
            fresh.acquire(timeout=0)
        except Timeout:
            holder = _read_holder(holder_file)
            who = holder.describe() if holder and holder != me else "another process"
            return f"the lock file {lock_file} was replaced and {who} now holds the store {db}"
        except OSError as exc:
            return f"the lock file {lock_file} is gone and cannot be created again: {exc.strerror or exc}"
        current.release()
        held["lock"], held["ino"] = fresh, _inode(lock_file)
        try:
            holder_file.write_text(json.dumps({"pid": me.pid, "host": me.host, "since_ms": me.since_ms}))
        except OSError:
            pass
        return "retaken"

    return StoreLock(release, me, stale, check)


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _postgres_lock(url: str) -> StoreLock:
    me = Holder.me()
    name = f"{_APP_PREFIX}pid={me.pid} host={me.host[:24]} since={me.since_ms}"
    engine = create_engine(url, poolclass=NullPool, connect_args={"application_name": name})
    shown = make_url(url).render_as_string()
    try:
        conn = _pg_take(engine, shown)
    except BaseException:
        engine.dispose()
        raise
    held = {"conn": conn}

    def release() -> None:
        try:
            held["conn"].close()  # ends the session: the server drops its advisory locks
        finally:
            engine.dispose()

    def check() -> str | None:
        try:
            mine = held["conn"].execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :k AND granted "
                "AND pid = pg_backend_pid()"), {"k": ADVISORY_KEY}).scalar()
            held["conn"].commit()
            if mine:
                return None
        except Exception:  # the session is gone (server restart, terminated backend, network)
            pass
        try:
            held["conn"].close()
        except Exception:
            pass
        try:
            held["conn"] = _pg_take(engine, shown)
        except StoreLocked as exc:
            return f"the store's advisory lock was lost (its session ended) and {exc}"
        except StoreError as exc:
            return f"the store's advisory lock was lost and cannot be taken again: {exc}"
        return "retaken"

    return StoreLock(release, me, None, check)


def _pg_take(engine, shown: str):
    """A connection holding the store's advisory lock.

    Raises:
        StoreLocked: another session holds it (named from its ``application_name``).
        StoreError: the database cannot be reached.
    """
    try:
        conn = engine.connect()
    except Exception as exc:
        cause = getattr(exc, "orig", None) or exc
        raise StoreError(f"cannot reach the store at {shown}: {cause}") from None
    try:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar()
        conn.commit()
        if not got:
            row = conn.execute(text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.objid = :k AND l.granted AND l.database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"), {"k": ADVISORY_KEY}).scalar()
            holder = _parse_app_name(row or "")
            who = holder.describe() if holder else "another session (holder unknown)"
            raise StoreLocked(f"the store {shown} is held by a running quantd daemon "
                              f"({who}); one daemon per store: stop that one, or give this one another store.url")
    except BaseException:
        conn.close()
        raise
    return conn


def _parse_app_name(name: str) -> Holder | None:
    if not name.startswith(_APP_PREFIX):
        return None
    try:
        fields = dict(part.split("=", 1) for part in name[len(_APP_PREFIX):].split())
        return Holder(int(fields["pid"]), fields["host"], int(fields["since"]))
    except (ValueError, KeyError):
        return None
