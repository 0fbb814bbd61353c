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
