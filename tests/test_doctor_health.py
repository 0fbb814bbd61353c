"""``quantd doctor`` on good and broken set-ups, and ``quantd health`` on a stopped daemon."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.cli_helpers import clean_env, quantd, short_sample
from tests.telegram_helpers import TOKEN


def test_doctor_passes_on_the_default_set_up(tmp_path):
    r = quantd("doctor", cwd=tmp_path)
    assert r.returncode == 0, r.stdout
    assert "all checks passed" in r.stdout and "[FAIL]" not in r.stdout


def test_doctor_in_paper_mode_passes_on_a_fresh_clones_vault_folder(tmp_path):
    """The defect: a fresh clone's vault/ (drwxr-xr-x, example files only) failed doctor in
    paper mode, which reads no key. An open folder fails only once it holds a secret file."""
    vault = tmp_path / "vault"
    vault.mkdir()
    vault.chmod(0o755)
    (vault / "binance.json.example").write_text("{}")
    r = quantd("doctor", cwd=tmp_path)
    assert r.returncode == 0, r.stdout
    assert "[ok] vault folder" in r.stdout and "chmod 700" in r.stdout
    (vault / "telegram.json").write_text(json.dumps({"token": "1:x"}))
    (vault / "telegram.json").chmod(0o600)
    r = quantd("doctor", cwd=tmp_path)
    assert r.returncode == 1 and "[FAIL] vault folder" in r.stdout, r.stdout


def test_doctor_lists_every_problem_of_a_broken_set_up_with_its_fix(tmp_path, tg):
    vault = tmp_path / "vault"
    vault.mkdir(mode=0o700)
    key_file = vault / "binance.json"
    key_file.write_text(json.dumps({"apiKey": "k" * 64, "secret": "s" * 64}))
    key_file.chmod(0o644)  # world-readable keys
    (tmp_path / "state").write_text("a file where the state folder should be")  # unwritable state dir, even for root
    env = clean_env(QUANTD_TELEGRAM__TOKEN=TOKEN.replace(TOKEN.split(":")[1], "wrong"),  # the fake refuses it
                    QUANTD_TELEGRAM__API_BASE_URL=tg.url, QUANTD_TELEGRAM__ADMINS="[111]")
    r = quantd("doctor", "--mode", "live", "--db", "state/quantd.sqlite", cwd=tmp_path, env=env)
    assert r.returncode == 1, r.stdout
    lines = r.stdout.splitlines()
    failed = [line for line in lines if line.startswith("[FAIL]")]
    assert any("vault binance.json" in line and "-rw-r--r--" in line for line in failed), r.stdout
    assert any("exchange" in line for line in failed), "live mode cannot use keys others can read"
    assert any("telegram" in line and "refused" in line for line in failed), r.stdout
    assert any("state directory" in line and "not writable" in line for line in failed), r.stdout
    for i, line in enumerate(lines):
        if line.startswith("[FAIL]"):
            assert lines[i + 1].strip().startswith("fix: "), f"no fix after {line!r}"
    assert "chmod 600" in r.stdout and "BotFather" in r.stdout
    assert "4 problem(s) found" in r.stdout
    assert TOKEN.split(":")[0] + ":wrong" not in r.stdout + r.stderr, "the token is never printed"


def test_doctor_reports_a_config_error_and_a_corrupt_store(tmp_path):
    (tmp_path / "bad.yaml").write_text("replay:\n  speed: -3\n")
    r = quantd("doctor", "--config", "bad.yaml", cwd=tmp_path)
    assert r.returncode == 1 and "[FAIL] config" in r.stdout and "replay.speed" in r.stdout

    short = clean_env(QUANTD_REPLAY__DATA=str(short_sample(tmp_path, 600)))
    assert quantd("run", "--speed", "100000", "--exit-when-done", cwd=tmp_path, env=short).returncode == 0
    db = tmp_path / "var/quantd.sqlite"
    raw = bytearray(db.read_bytes())
    page = 4096
    raw[2 * page: 6 * page] = b"\xff" * (4 * page)  # scribble over four b-tree pages
    db.write_bytes(bytes(raw))
    r = quantd("doctor", cwd=tmp_path)
    assert r.returncode == 1, r.stdout
    assert "[FAIL] store" in r.stdout and "backup" in r.stdout


def test_run_on_a_store_with_corrupt_data_pages_is_one_line_and_exit_3(tmp_path):
    """The defect: damaged data pages (the schema pages intact) gave a 60-line SQLAlchemy
    traceback and exit 1, so systemd restarted the daemon in a loop. Exit 3 is in the unit's
    RestartPreventExitStatus; the line names the file and the way back."""
    short = clean_env(QUANTD_REPLAY__DATA=str(short_sample(tmp_path, 2000)))
    assert quantd("run", "--speed", "100000", "--exit-when-done", cwd=tmp_path, env=short).returncode == 0
    db = tmp_path / "var/quantd.sqlite"
    raw = bytearray(db.read_bytes())
    page, n = 4096, len(raw) // 4096
    assert n > 40
    raw[(n // 2) * page: (n // 2 + 8) * page] = b"\xff" * (8 * page)  # data pages in the middle of the file
    db.write_bytes(bytes(raw))
    r = quantd("run", "--exit-when-done", cwd=tmp_path, env=short)
    assert r.returncode == 3, r.stdout[-1500:] + r.stderr[-1500:]
    assert "Traceback" not in r.stdout + r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert str(db) in line or "var/quantd.sqlite" in line
    assert "damaged" in line and "restore the newest backup" in line and "quantd doctor" in line
    unit = (Path(__file__).parent.parent / "deploy/quantd.service").read_text()
    assert "RestartPreventExitStatus=2 3" in unit


def test_health_is_unhealthy_without_a_running_daemon(tmp_path):
    r = quantd("health", cwd=tmp_path)
    assert r.returncode == 1 and "no store" in r.stdout

    short = clean_env(QUANTD_REPLAY__DATA=str(short_sample(tmp_path, 300)))
    assert quantd("run", "--speed", "100000", "--exit-when-done", cwd=tmp_path, env=short).returncode == 0
    r = quantd("health", "--json", cwd=tmp_path)
    report = json.loads(r.stdout)
    failed = {c["name"] for c in report["checks"] if not c["ok"]}
    assert r.returncode == 1 and not report["healthy"]
    assert {"daemon", "process"} <= failed, report
    assert "stopped: replay finished" in next(c["detail"] for c in report["checks"] if c["name"] == "daemon")

    # a heartbeat row from a daemon on another host whose last write is 10 minutes old
    with sqlite3.connect(tmp_path / "var/quantd.sqlite") as con:
        con.execute("UPDATE heartbeat SET state='running', host='elsewhere', written_ms=written_ms-600000")
    report = json.loads(quantd("health", "--json", cwd=tmp_path).stdout)
    failed = {c["name"] for c in report["checks"] if not c["ok"]}
    assert failed == {"heartbeat"}, report

    r = quantd("health", "--config", "missing.yaml", cwd=tmp_path)
    assert r.returncode == 1, "a health probe never exits 2 (Docker reserves it)"


def test_doctor_live_set_up_checks_keys_with_a_read_only_call(tmp_path, data_dir, tg):
    from tests.live_helpers import make_venue

    venue = make_venue(data_dir)
    try:
        env = clean_env(QUANTD_EXCHANGE__API_URL=venue.url, QUANTD_EXCHANGE__API_KEY="test-key",
                        QUANTD_EXCHANGE__SECRET="test-secret", QUANTD_EXCHANGE__TIMEOUT_MS="1000",
                        QUANTD_STRATEGY__TIMEFRAME="1m", QUANTD_TELEGRAM__TOKEN=TOKEN,
                        QUANTD_TELEGRAM__API_BASE_URL=tg.url, QUANTD_TELEGRAM__ADMINS="[111]")
        r = quantd("doctor", "--mode", "live", cwd=tmp_path, env=env)
        assert r.returncode == 0, r.stdout
        assert "[ok] exchange: binance: keys accepted" in r.stdout and "[ok] telegram: token accepted" in r.stdout
        posts = [req for req in venue.requests if req[0] != "GET"]
        assert not posts, "doctor never places or cancels an order"
    finally:
        venue.stop()
