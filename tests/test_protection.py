"""Protective exits on real data, the unprotected-position alert, and the kill switch in a paper daemon."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from bot.app import build_engine
from bot.config import load_settings
from engine.backtest.engine import BacktestConfig, run_backtest
from engine.data import load_ohlcv
from engine.models import Candle, Signal
from engine.risk.limits import RiskLimits
from engine.risk.protection import Protection, ProtectionPolicy
from engine.store.journal import queue_command
from engine.strategy import create
from tests.db_helpers import rows
from tests.test_risk_backtest import Scripted


def test_levels_from_percent_and_atr():
    policy = ProtectionPolicy(stop_loss_pct=2, take_profit_pct=5)
    assert policy.levels(Decimal(100), None) == Protection(Decimal(98), Decimal(105))
    atr = ProtectionPolicy(stop_loss_atr=2, take_profit_atr=3)
    assert atr.levels(Decimal(100), 1.5) == Protection(Decimal("97.0"), Decimal("104.5"))
    assert atr.levels(Decimal(100), None) == Protection(None, None)


def test_stop_and_take_profit_exits_on_real_data_follow_the_candles(data_dir):
    df, _ = load_ohlcv(data_dir / "binance/BTC_USDT-1h.csv.gz")
    df = df.iloc[20_000:30_000].reset_index(drop=True)
    limits = RiskLimits(stop_loss_pct=2, take_profit_pct=4)
    res = run_backtest(df, create("sma_cross", {"fast": 10, "slow": 30}),
                       BacktestConfig("BTC/USDT", "1h", slippage_bps=Decimal(5), limits=limits))
    stops = [t for t in res.trades if t.exit_reason.startswith("stop_loss")]
    targets = [t for t in res.trades if t.exit_reason.startswith("take_profit")]
    assert len(stops) > 20 and len(targets) > 5
    ts = df["timestamp"].to_numpy()
    for t in stops + targets:
        entry = float(t.entry_price)
        stop, target = entry * 0.98, entry * 1.04
        i, j = np.searchsorted(ts, t.entry_ts_ms), np.searchsorted(ts, t.exit_ts_ms)
        lows, highs = df["low"].to_numpy()[i:j], df["high"].to_numpy()[i:j]
        # the trigger is the candle before the exit fill, and it is the first to touch a level
        hit = np.flatnonzero((lows <= stop) | (highs >= target))
        assert hit.size and hit[0] == j - 1 - i, t
        assert float(t.exit_price) == pytest.approx(df["open"].iloc[j] * (1 - 0.0005), rel=1e-12)
        if t in stops:
            assert lows[-1] <= stop
        else:
            assert highs[-1] >= target and lows[-1] > stop


def test_entry_before_atr_is_warm_raises_the_unprotected_alert(data_dir):
    df, _ = load_ohlcv(data_dir / "binance/ETH_USDT-1h.csv.gz")
    res = run_backtest(df.iloc[:30].reset_index(drop=True), Scripted([Signal.BUY]),
                       BacktestConfig("ETH/USDT", "1h", limits=RiskLimits(stop_loss_atr=2)))
    alerts = [e for e in res.events if e.kind == "unprotected_position"]
    assert [a.reason for a in alerts] == ["open position ETH/USDT has no active stop"]


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _daemon(tmp_path, **risk):
    settings = load_settings(store={"url": f"sqlite:///{tmp_path / 'q.sqlite'}"}, replay={"speed": 1.0}, risk=risk)
    engine, store = build_engine(settings)
    clock = _Clock()
    engine.lanes[0].market.feed._clock = clock
    return engine, clock, store


def _advance(engine, clock, candles=1):
    for _ in range(candles):
        clock.t += 1.0
        engine.step()


def _open_position(engine, clock):
    for _ in range(400):
        _advance(engine, clock)
        if engine.oms.portfolio.position("BTC/USDT").is_open:
            return
    raise AssertionError("no entry within 400 candles")


def test_kill_switch_halts_cancels_and_flattens_and_stays_halted_after_restart(tmp_path):
    engine, clock, store = _daemon(tmp_path)
    _open_position(engine, clock)
    queue_command(store, "kill", "ops", 0)
    _advance(engine, clock, 3)  # command applied, flatten order sent, filled at the next open
    pos = engine.oms.portfolio.position("BTC/USDT")
    assert not pos.is_open
    breaker = engine.risk.breaker
    assert breaker.state.value == "halted" and breaker.reason == "kill switch by ops" and not breaker.flatten_pending
    ((intent, status),) = rows(tmp_path / "q.sqlite", "SELECT intent, status FROM orders ORDER BY id DESC LIMIT 1")
    assert intent == "flatten: kill switch by ops" and status == "filled"
    _advance(engine, clock, 200)  # 200 more candles while halted: no order at all
    assert rows(tmp_path / "q.sqlite", "SELECT intent FROM orders ORDER BY id DESC LIMIT 1") == [("flatten: kill switch by ops",)]
    refused = rows(tmp_path / "q.sqlite", "SELECT count(*) FROM events WHERE kind='risk_decision' "
                             "AND json_extract(payload, '$.rule')='circuit_breaker'")[0][0]
    assert refused > 0, "the strategy kept signalling; the breaker refused"
    engine.stop("test")
    store.close()
    engine2, clock2, store2 = _daemon(tmp_path)
    assert engine2.risk.breaker.reason == "kill switch by ops"
    assert not engine2.risk.breaker.allows_entries
    store2.close()


def test_startup_verifies_the_stop_of_an_open_position(tmp_path):
    engine, clock, store = _daemon(tmp_path)
    _open_position(engine, clock)
    engine.stop("test")
    store.close()
    assert rows(tmp_path / "q.sqlite", "SELECT stop_price FROM positions") == [(None,)]
    engine2, clock2, store2 = _daemon(tmp_path, stop_loss_pct=3)
    avg = engine2.oms.portfolio.position("BTC/USDT").avg_price
    assert rows(tmp_path / "q.sqlite", "SELECT json_extract(payload, '$.reason') FROM events WHERE kind='unprotected_position'") == [
        ("open position BTC/USDT has no active stop",)]
    ((stop,),) = rows(tmp_path / "q.sqlite", "SELECT stop_price FROM positions")
    assert Decimal(stop) == avg * Decimal("0.97")
    store2.close()


def test_a_strategy_returning_garbage_is_refused_and_the_daemon_keeps_running(tmp_path, caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="quantd.engine")  # the debug line must not choke on it either
    engine, clock, store = _daemon(tmp_path)
    engine.lanes[0].runner.strategy.on_candle = lambda candle, ctx: float("nan")
    _advance(engine, clock, 6)
    assert engine.candles_processed >= 4
    assert rows(tmp_path / "q.sqlite", "SELECT json_extract(payload, '$.reason') FROM events WHERE kind='risk_decision'") == [
        ("signal is nan",)] * engine.candles_processed
    assert rows(tmp_path / "q.sqlite", "SELECT count(*) FROM orders") == [(0,)]
    store.close()


class _ColdATR:
    """As if ATR(14) were not warm yet."""

    value = None

    def update(self, *candle):
        return None


def test_a_position_without_its_stop_alerts_exactly_once_on_entry_and_at_startup(tmp_path, monkeypatch):
    engine, clock, store = _daemon(tmp_path, stop_loss_atr=2)
    engine.lanes[0].runner.atr = _ColdATR()
    _open_position(engine, clock)
    count = "SELECT count(*) FROM events WHERE kind='unprotected_position'"
    assert rows(tmp_path / "q.sqlite", count) == [(1,)], "one alert for the entry"
    engine.stop("test")
    store.close()
    # restart: the start-up check finds the position still without a stop; ATR is cold again
    settings = load_settings(store={"url": f"sqlite:///{tmp_path / 'q.sqlite'}"}, replay={"speed": 1.0},
                             risk={"stop_loss_atr": 2})
    monkeypatch.setattr("engine.runner.ATR", lambda period: _ColdATR())
    engine2, store2 = build_engine(settings)
    assert rows(tmp_path / "q.sqlite", count) == [(2,)], "one more alert at start-up, not two"
    store2.close()


def test_time_exit_closes_a_position_after_max_holding_candles(data_dir):
    """max_holding_candles=6 on real ETH/USDT 1h: a time exit fills at the open 6 candles after
    the entry fill, never later; other exits (the strategy's own) may come sooner."""
    df, _ = load_ohlcv(data_dir / "binance/ETH_USDT-1h.csv.gz")
    df = df.iloc[:6000].reset_index(drop=True)
    index = {int(ts): i for i, ts in enumerate(df["timestamp"])}
    config = BacktestConfig("ETH/USDT", "1h", limits=RiskLimits(max_holding_candles=6))
    result = run_backtest(df, create("sma_cross", {"fast": 20, "slow": 60}), config)
    timed = [t for t in result.trades if t.exit_reason.startswith("time_exit")]
    assert len(timed) > 10 and any(not t.exit_reason.startswith("time_exit") for t in result.trades)
    for t in result.trades:
        held = index[t.exit_ts_ms] - index[t.entry_ts_ms]
        assert held == 6 if t in timed else held <= 6, (t, held)
    plain = run_backtest(df, create("sma_cross", {"fast": 20, "slow": 60}), BacktestConfig("ETH/USDT", "1h"))
    assert max(index[t.exit_ts_ms] - index[t.entry_ts_ms] for t in plain.trades) > 6  # the limit did bind


def test_time_exit_measures_holding_time_in_candles_of_the_timeframe():
    policy = ProtectionPolicy(max_holding_candles=3)
    hour = 3_600_000
    opened = 10 * hour
    assert policy.time_exit(opened, Candle(11 * hour, 1, 1, 1, 1, 1), hour) is None
    assert policy.time_exit(opened, Candle(12 * hour, 1, 1, 1, 1, 1), hour) == "time_exit: held 3 candles, limit 3"
    assert policy.time_exit(0, Candle(12 * hour, 1, 1, 1, 1, 1), hour) is None  # flat


def test_kill_after_a_restart_at_the_end_of_the_replay_prices_equity_and_places_the_flatten_at_once(tmp_path):
    """The defect: restarted with a position after the replay ended, `kill` alerted 'HALTED at
    equity 0.00' and closed nothing (it waited for a candle that never came), saying nothing."""
    import json

    settings = load_settings(store={"url": f"sqlite:///{tmp_path / 'q.sqlite'}"}, replay={"speed": 100_000})
    engine, store = build_engine(settings)  # the bundled sample ends with a position open
    while not engine.exhausted:
        engine.step()
    assert engine.oms.portfolio.position("BTC/USDT").is_open
    engine.stop("test")
    store.close()
    engine, store = build_engine(settings)  # restart: the replay has nothing left
    engine.step()
    assert engine.exhausted and engine.candles_processed == 0
    equity = float(engine.oms.portfolio.equity(engine.marks.close))
    queue_command(store, "kill", "ops", 0)
    engine.step()
    ((payload,),) = rows(tmp_path / "q.sqlite", "SELECT payload FROM events WHERE kind='breaker_tripped'")
    assert equity > 9000 and abs(json.loads(payload)["equity"] - equity) < 0.01
    ((result,),) = rows(tmp_path / "q.sqlite", "SELECT result FROM operator_commands WHERE command='kill'")
    assert "BTC/USDT: sell open qd-" in result and "the replay has ended: no candle will come" in result, result
    ((intent, status),) = rows(tmp_path / "q.sqlite", "SELECT intent, status FROM orders ORDER BY id DESC LIMIT 1")
    assert intent == "flatten: kill switch by ops" and status == "open"
    engine.stop("test")
    store.close()
