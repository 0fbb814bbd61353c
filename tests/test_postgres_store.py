"""The daemon on PostgreSQL: the same paper run on a PostgreSQL store and on a SQLite store
ends with the same orders, fills and cash, to the last digit; restarting on PostgreSQL resumes."""

from __future__ import annotations

import json
import signal
import subprocess

from sqlalchemy import create_engine, text

from tests.cli_helpers import clean_env, quantd, quantd_cmd, short_sample
from tests.db_helpers import untag

LEDGER = {
    "fills": "SELECT trade_id, client_order_id, side, qty, price, fee, ts_ms FROM fills ORDER BY ts_ms, id",
    "orders": "SELECT client_order_id, side, status, signal_ts_ms, qty, quote_qty FROM orders ORDER BY id",
    "account": "SELECT cash, fees_paid FROM accounts",
    "positions": "SELECT symbol, qty, avg_price FROM positions ORDER BY symbol",
}


def _ledger(url: str) -> dict[str, list[tuple]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {name: untag([tuple(r) for r in conn.execute(text(sql))]) for name, sql in LEDGER.items()}
    finally:
        engine.dispose()


def test_paper_run_on_postgresql_matches_sqlite_and_resumes(tmp_path, pg_url):
    sqlite_url = f"sqlite:///{tmp_path / 'ref.sqlite'}"
    data = str(short_sample(tmp_path, 2000))
    for url in (sqlite_url, pg_url):
        r = quantd("run", "--speed", "100000", "--exit-when-done", cwd=tmp_path,
                   env=clean_env(QUANTD_STORE__URL=url, QUANTD_REPLAY__DATA=data))
        assert r.returncode == 0, r.stderr[-2000:]
    expected, got = _ledger(sqlite_url), _ledger(pg_url)
    assert len(expected["fills"]) > 50
    assert got == expected, "same orders, fills, cash and positions on both databases"

    status = json.loads(quantd("status", "--json", cwd=tmp_path, env=clean_env(QUANTD_STORE__URL=pg_url)).stdout)
    assert status["fills_total"] == len(expected["fills"]) and status["starts"] == 1

    proc = subprocess.Popen(quantd_cmd() + ["run", "--speed", "50"], cwd=tmp_path,
                            env=clean_env(QUANTD_STORE__URL=pg_url, QUANTD_REPLAY__DATA=data), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "ready:" in line:
            break
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    out = "".join(seen) + out
    assert proc.returncode == 0, out[-2000:]
    assert "resuming after candle" in out
    r = quantd("health", "--json", cwd=tmp_path, env=clean_env(QUANTD_STORE__URL=pg_url))
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    assert checks["store writable"]["ok"] and checks["daemon"]["detail"].startswith("stopped")
