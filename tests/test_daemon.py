"""``quantd run`` end to end, as subprocesses: paper fills on real candles, clean stops,
crashes (SIGKILL) and restarts that lose nothing and duplicate nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from tests.cli_helpers import clean_env, quantd, quantd_cmd
from tests.db_helpers import rows, untag


def _start(cwd: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(quantd_cmd() + ["run", *args], cwd=cwd, env=clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait_for(proc: subprocess.Popen, needle: str, timeout: float) -> list[str]:
    """Read the daemon's log until a line contains ``needle``; returns the lines read."""
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} not seen within {timeout}s:\n{''.join(lines[-20:])}")


def _stop(proc: subprocess.Popen, sig: int) -> str:
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=30)
    return out


def _status(cwd: Path) -> dict:
    r = quantd("status", "--json", cwd=cwd)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_default_run_fills_within_a_minute_and_resumes_after_ctrl_c(tmp_path):
    proc = _start(tmp_path)
    t0 = time.monotonic()
    lines = _wait_for(proc, "FILL BUY", timeout=60)
    assert time.monotonic() - t0 < 60
    assert any("market data BTC/USDT 5m:" in line and "3974 candles" in line for line in lines)
    _wait_for(proc, "FILL SELL", timeout=60)
    out = _stop(proc, signal.SIGINT)
    assert proc.returncode == 0, out
    assert "Traceback" not in out and "stopped (received SIGINT)" in out
    first = _status(tmp_path)
    assert first["mode"] == "paper" and first["fills_total"] >= 2
    db = tmp_path / "var/quantd.sqlite"
    orders_before = rows(db, "SELECT client_order_id, status FROM orders ORDER BY id")

    proc = _start(tmp_path)
    lines = _wait_for(proc, "quantd started in paper mode (resumed from the store)", timeout=60)
    assert any("resuming after candle" in line for line in lines)
    out = _stop(proc, signal.SIGINT)
    assert proc.returncode == 0, out
    second = _status(tmp_path)
    assert second["starts"] == 2
    cids = rows(db, "SELECT client_order_id FROM orders")
    assert len(cids) == len(set(cids)), "no order twice"
    intents = rows(db, "SELECT strategy, symbol, side, signal_ts_ms FROM orders")
    assert len(intents) == len(set(intents))
    # what existed before the restart is unchanged except for working orders that since filled
    after = dict(rows(db, "SELECT client_order_id, status FROM orders"))
    for cid, status in orders_before:
        assert after[cid] == status or status in ("new", "open")
    assert second["last_candle"]["sma_cross|BTC/USDT|5m"] >= first["last_candle"]["sma_cross|BTC/USDT|5m"]


def _ledger(db: Path) -> tuple[list, list, list]:
    fills = untag(rows(db, "SELECT trade_id, client_order_id, side, qty, price, fee, ts_ms FROM fills ORDER BY ts_ms, id"))
    orders = untag(rows(db, "SELECT client_order_id, side, status, signal_ts_ms, qty, quote_qty FROM orders ORDER BY id"))
    account = rows(db, "SELECT cash, fees_paid FROM accounts") + rows(db, "SELECT qty, avg_price FROM positions")
    return fills, orders, account


def test_interrupted_and_killed_runs_end_exactly_where_an_uninterrupted_run_ends(tmp_path):
    straight = tmp_path / "straight"
    straight.mkdir()
    r = quantd("run", "--speed", "100000", "--exit-when-done", cwd=straight)
    assert r.returncode == 0, r.stderr
    expected = _ledger(straight / "var/quantd.sqlite")
    assert len(expected[0]) > 50

    bumpy = tmp_path / "bumpy"
    bumpy.mkdir()
    # stop it at different points: clean stops and hard kills while it is trading
    for sig, fills_seen in ((signal.SIGKILL, 3), (signal.SIGINT, 2), (signal.SIGKILL, 5), (signal.SIGTERM, 2),
                            (signal.SIGKILL, 1)):
        proc = _start(bumpy, "--speed", "400")
        for _ in range(fills_seen):
            _wait_for(proc, "FILL", timeout=60)
        out = _stop(proc, sig)
        if sig != signal.SIGKILL:
            assert proc.returncode == 0 and f"received {sig.name}" in out, out[-1500:]
    r = quantd("run", "--speed", "100000", "--exit-when-done", cwd=bumpy)
    assert r.returncode == 0, r.stderr
    assert "3 unclean stop(s) in the last 24 h" in r.stdout and "a crash loop?" in r.stdout, "the three SIGKILLs"
    health = json.loads(quantd("health", "--json", cwd=bumpy).stdout)
    assert next(c for c in health["checks"] if c["name"] == "restarts")["ok"] is False
    got = _ledger(bumpy / "var/quantd.sqlite")
    assert got[1] == expected[1], "same orders, same client order ids, same statuses"
    assert got[0] == expected[0], "same fills, none lost, none twice"
    assert got[2] == expected[2], "same cash, fees and position, to the last digit"
    assert _status(bumpy)["starts"] == 6


def test_yaml_config_and_env_are_applied_with_env_winning(tmp_path, data_dir):
    cfg = tmp_path / "quantd.yaml"
    cfg.write_text(
        "strategy:\n  name: rsi_reversion\n  symbol: ETH/BTC\n  timeframe: 1h\n"
        "  params: {period: 14, lower: 35, upper: 65}\n  stake: '0.2'\n"
        f"replay:\n  data: {data_dir / 'binance/ETH_BTC-1h.csv.gz'}\n  speed: 5\n"
        "paper:\n  cash: 1\n  amount_step: 0.001\n  price_step: 0.000001\n  min_notional: 0.0001\n"
        "store:\n  url: sqlite:///state/ethbtc.sqlite\n")
    env = clean_env(QUANTD_REPLAY__SPEED="100000", QUANTD_REPLAY__EXIT_WHEN_DONE="true")
    r = subprocess.run(quantd_cmd() + ["run", "--config", str(cfg)], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "rsi_reversion(period=14, lower=35.0, upper=65.0) on ETH/BTC 1h" in r.stdout
    db = tmp_path / "state/ethbtc.sqlite"
    assert rows(db, "SELECT initial_cash, quote FROM accounts") == [("1", "BTC")]
    quotes = [q for (q,) in rows(db, "SELECT quote_qty FROM orders WHERE side = 'buy'")]
    assert quotes and all(q == "0.2" for q in quotes)
    # env speed beat the YAML's 5 candles/s: all 788 candles done, up to the file's last one
    assert rows(db, "SELECT last_ts_ms FROM candle_cursors") == [(1622293200000,)]


def test_breaker_trip_survives_restart_and_operator_resume_clears_it(tmp_path):
    env = clean_env(QUANTD_RISK__MAX_DRAWDOWN_PCT="1.0")

    def start(*args):
        return subprocess.Popen(quantd_cmd() + ["run", "--speed", "300", *args], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    proc = start()
    lines = _wait_for(proc, "CIRCUIT BREAKER HALTED", timeout=90)
    assert "max_drawdown: drawdown 1." in lines[-1]
    _stop(proc, signal.SIGINT)
    db = tmp_path / "var/quantd.sqlite"
    ((state, reason, since),) = rows(db, "SELECT state, reason, since_ms FROM breaker")
    assert state == "halted" and reason.startswith("max_drawdown")
    assert _status(tmp_path)["breaker"]["state"] == "halted"

    proc = start()
    _wait_for(proc, "circuit breaker is HALTED", timeout=60)
    time.sleep(3)  # a few hundred candles go by while halted
    out = _stop(proc, signal.SIGINT)
    assert "FILL BUY" not in out, "no entry while halted"
    late_buys = rows(db, f"SELECT count(*) FROM fills WHERE side = 'buy' AND ts_ms > {since}")
    assert late_buys == [(0,)]
    rejected = rows(db, "SELECT count(*) FROM events WHERE kind = 'risk_decision' "
                         "AND json_extract(payload, '$.rule') = 'circuit_breaker'")
    assert rejected[0][0] >= 1

    r = quantd("resume", "--by", "ops", cwd=tmp_path, env=env)
    assert r.returncode == 0 and "resume queued" in r.stdout
    assert _status(tmp_path)["breaker"]["pending_commands"] == 1
    proc = start()
    _wait_for(proc, "operator resume by ops: resumed from halted (max_drawdown", timeout=60)
    _wait_for(proc, "FILL BUY", timeout=60)
    _stop(proc, signal.SIGINT)
    assert _status(tmp_path)["breaker"]["pending_commands"] == 0
    resumed = rows(db, "SELECT count(*) FROM events WHERE kind = 'breaker_changed' "
                        "AND json_extract(payload, '$.state') = 'running'")
    assert resumed == [(1,)]
    assert rows(db, "SELECT result FROM operator_commands") == [("resumed from halted (" + reason + ")",)]
