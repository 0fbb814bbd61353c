"""One daemon per store: a second ``quantd run`` on a held store exits 1 with one line naming
the holder and writes nothing; a dead holder's lock is taken over and reported; the read-only
commands work beside the daemon. On SQLite (file lock) and PostgreSQL (advisory lock)."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from engine.errors import StoreLocked
from engine.store.lock import acquire_store_lock
from tests.cli_helpers import clean_env, quantd, quantd_cmd, read_until, short_sample


def _start(tmp_path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(quantd_cmd() + ["run", "--speed", "20"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _starts(tmp_path, env: dict) -> int:
    r = quantd("status", "--json", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["starts"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_second_daemon_on_a_held_store_exits_1_naming_the_holder_and_writes_nothing(tmp_path, request, backend):
    url = f"sqlite:///{tmp_path / 'x.sqlite'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    env = clean_env(QUANTD_STORE__URL=url, QUANTD_REPLAY__DATA=str(short_sample(tmp_path, 3000)))
    first = _start(tmp_path, env)
    try:
        read_until(first, "ready:")
        assert _starts(tmp_path, env) == 1
        second = quantd("run", cwd=tmp_path, env=env, timeout=60)
        assert second.returncode == 1, second.stdout[-1000:] + second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert f"pid {first.pid} on " in lines[0] and "held by a running quantd daemon" in lines[0]
        assert " since 20" in lines[0]
        assert "ready:" not in second.stdout and "started" not in second.stdout
        assert _starts(tmp_path, env) == 1, "the second daemon recorded no start"
        # the read-only commands work beside the daemon
        assert quantd("health", cwd=tmp_path, env=env).returncode == 0
        assert quantd("export", "--out", str(tmp_path / "exp"), cwd=tmp_path, env=env).returncode == 0
        if backend == "sqlite":
            r = quantd("backup", "--dest", str(tmp_path / "bk"), cwd=tmp_path, env=env)
            assert r.returncode == 0, r.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        out, _ = first.communicate(timeout=60)
    assert first.returncode == 0, out[-2000:]
    assert not (tmp_path / "x.sqlite.lock.json").exists(), "a clean stop removes the holder file"


def test_a_dead_daemons_lock_is_taken_over_and_reported(tmp_path):
    env = clean_env(QUANTD_STORE__URL=f"sqlite:///{tmp_path / 'x.sqlite'}",
                    QUANTD_REPLAY__DATA=str(short_sample(tmp_path, 400)))
    first = _start(tmp_path, env)
    read_until(first, "ready:")
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    assert json.loads((tmp_path / "x.sqlite.lock.json").read_text())["pid"] == first.pid, "the stale holder file"
    r = quantd("run", "--speed", "100000", "--exit-when-done", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert f"took over the store lock of pid {first.pid} on " in r.stdout
    assert "unclean stop(s) in the last 24 h" in r.stdout


def test_lock_in_process_refuses_a_second_holder_and_frees_on_release(tmp_path):
    url = f"sqlite:///{tmp_path / 'y.sqlite'}"
    lock = acquire_store_lock(url)
    with pytest.raises(StoreLocked, match=r"held by a running quantd daemon \(pid \d+ on "):
        acquire_store_lock(url)
    lock.release()
    again = acquire_store_lock(url)
    assert again.took_over is None, "a clean release leaves no stale holder"
    again.release()


def test_a_deleted_lock_file_is_locked_again_or_reported_lost_when_another_took_it(tmp_path):
    from filelock import FileLock

    url = f"sqlite:///{tmp_path / 'z.sqlite'}"
    lock_file = tmp_path / "z.sqlite.lock"
    lock = acquire_store_lock(url)
    try:
        assert lock.check() is None and lock.retaken == 0
        lock_file.unlink()  # a clean-up script, a careless rm
        assert lock.check() is None and lock.retaken == 1 and lock_file.exists()
        with pytest.raises(StoreLocked):
            acquire_store_lock(url)  # the new file is held: a second daemon is refused again
        lock_file.unlink()
        thief = FileLock(str(lock_file))
        thief.acquire(timeout=0)  # another daemon locked a new file of the same name first
        try:
            lost = lock.check()
        finally:
            thief.release()
        assert lost is not None and f"the lock file {lock_file} was replaced" in lost
    finally:
        lock.release()


def test_a_lost_postgresql_session_is_locked_again_or_reported_lost(pg_url):
    from sqlalchemy import create_engine, text

    from engine.store.lock import ADVISORY_KEY

    lock = acquire_store_lock(pg_url)
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    # the timeout makes the server wait until the session has ended and its lock is free (PostgreSQL 14+);
    # without it the signal is only sent, and the next statement may still find the lock held
    kill = text("SELECT pg_terminate_backend(pid, 10000) FROM pg_locks WHERE locktype = 'advisory' AND objid = :k "
                "AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
    try:
        assert lock.check() is None
        with admin.connect() as conn:
            assert conn.execute(kill, {"k": ADVISORY_KEY}).scalar() is True  # as a server restart would
        assert lock.check() is None and lock.retaken == 1
        with admin.connect() as conn, admin.connect() as other:
            conn.execute(kill, {"k": ADVISORY_KEY})
            other.execute(text("SET application_name = 'quantd pid=4242 host=vps-2 since=1764748800000'"))
            assert other.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar()
            lost = lock.check()
        assert lost is not None and "advisory lock was lost" in lost and "pid 4242 on vps-2" in lost
    finally:
        lock.release()
        admin.dispose()


def test_a_daemon_that_loses_its_store_stops_trading_and_exits_1(tmp_path):
    from filelock import FileLock

    env = clean_env(QUANTD_STORE__URL=f"sqlite:///{tmp_path / 'x.sqlite'}",
                    QUANTD_REPLAY__DATA=str(short_sample(tmp_path, 3000)))
    first = _start(tmp_path, env)
    thief = FileLock(str(tmp_path / "x.sqlite.lock"))
    try:
        read_until(first, "ready:")
        (tmp_path / "x.sqlite.lock").unlink()
        thief.acquire(timeout=0)
        out, _ = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
        thief.release()
    assert first.returncode == 1, out[-2000:]
    assert "lost the store lock: the lock file" in out and "stopping now so two daemons never trade" in out
