"""Backups taken while the daemon trades are whole, usable stores; retention keeps the newest;
exports carry the store's exact decimal text."""

from __future__ import annotations

import csv
import signal
import sqlite3
import subprocess
import time

import pandas as pd

from engine.store import load_state, open_store
from tests.cli_helpers import clean_env, quantd, quantd_cmd, short_sample
from tests.db_helpers import rows


def test_backups_while_trading_are_consistent_stores_and_retention_keeps_the_newest(tmp_path):
    env = clean_env(QUANTD_BACKUP__EVERY_HOURS="0.0004", QUANTD_BACKUP__KEEP="2")  # every 1.44 s
    proc = subprocess.Popen(quantd_cmd() + ["run", "--speed", "300"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        fills = 0
        for line in proc.stdout:
            fills += "FILL" in line
            if "backup written" in line and fills >= 2:
                break
        r = quantd("backup", "--dest", "manual", "--keep", "2", cwd=tmp_path, env=clean_env())  # from another process
        assert r.returncode == 0, r.stderr
        time.sleep(3.5)  # two more scheduled backups go by
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-2000:]

    scheduled = sorted((tmp_path / "var/backups").glob("quantd-*.sqlite"))
    assert len(scheduled) == 2, "only the newest two are kept"
    copies = scheduled + sorted((tmp_path / "manual").glob("quantd-*.sqlite"))
    live = tmp_path / "var/quantd.sqlite"
    live_fills = rows(live, "SELECT trade_id FROM fills ORDER BY id")
    for copy in copies:
        with sqlite3.connect(copy) as con:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        store = open_store(f"sqlite:///{copy}", create=False)
        try:
            state = load_state(store)
        finally:
            store.close()
        copied = rows(copy, "SELECT trade_id FROM fills ORDER BY id")
        assert copied == live_fills[:len(copied)], "a copy is a prefix of the live history, never a torn state"
        assert {f.trade_id for f in state.fills} == {t for (t,) in copied}
    assert not list(tmp_path.rglob("*.part")), "no half-written copy left behind"


def test_export_writes_exact_decimals_to_csv_and_parquet(tmp_path):
    short = clean_env(QUANTD_REPLAY__DATA=str(short_sample(tmp_path, 1000)))
    assert quantd("run", "--speed", "100000", "--exit-when-done", cwd=tmp_path, env=short).returncode == 0
    r = quantd("export", "--out", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    db = tmp_path / "var/quantd.sqlite"
    stored = rows(db, "SELECT ts_ms, side, qty, price, fee, client_order_id FROM fills ORDER BY id")
    with open(tmp_path / "out/trades.csv", newline="") as fh:
        exported = [(int(t["ts_ms"]), t["side"], t["qty"], t["price"], t["fee"], t["client_order_id"])
                    for t in csv.DictReader(fh)]
    assert exported == stored, "the store's exact decimal text, no float rounding"
    equity = pd.read_csv(tmp_path / "out/equity.csv", dtype=str)
    assert len(equity) == rows(db, "SELECT count(*) FROM equity_snapshots")[0][0]
    assert equity["time_utc"].str.endswith("Z").all()

    r = quantd("export", "--out", "pq", "--format", "parquet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    trades = pd.read_parquet(tmp_path / "pq/trades.parquet")
    assert list(trades["qty"]) == [q for _, _, q, *_ in stored]
    sells = trades[trades["side"] == "sell"]
    assert len(sells) > 10 and (sells["realized_pnl"] != "0").all()
