"""Per-pair locks (cooldown, stop-loss guard, low-profit pairs) on real candles: a locked pair
takes no entry and unlocks on time, in the backtest and the daemon alike (the portfolio
backtest still makes the daemon's fills); locks survive a restart; /locks and /unlock."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.app import build_engine
from bot.backtest_cmd import config_markets
from bot.config import load_settings
from engine.backtest.engine import BacktestConfig, run_backtest
from engine.backtest.portfolio import run_portfolio_backtest
from engine.data import load_ohlcv
from engine.models import Signal
from engine.risk.limits import RiskLimits
from engine.risk.pairlocks import ClosedTrade, LowProfitPairs, StoplossGuard
from engine.store.journal import queue_command
from tests.cli_helpers import short_sample
from tests.db_helpers import rows
from tests.test_portfolio_backtest import EXAMPLE, _fills_of
from tests.test_risk_backtest import Scripted

HOUR = 3_600_000


@pytest.fixture(scope="module")
def btc_1h(data_dir):
    df, _ = load_ohlcv(data_dir / "binance/BTC_USDT-1h.csv.gz", timeframe="1h")
    return df.iloc[:400].reset_index(drop=True)


def test_a_cooldown_refuses_entries_for_n_candles_and_lets_the_next_one_in(btc_1h):
    n = 3
    script = [Signal.BUY, Signal.SELL] * 150
    res = run_backtest(btc_1h, Scripted(script), BacktestConfig(limits=RiskLimits(cooldown_candles=n)))
    ts = btc_1h.timestamp.tolist()
    # the rule, independently: a BUY signal on candle i (decided at its close) is taken when flat
    # and its close is later than the last exit fill + n candles; it fills at the next open
    expected, last_exit, holding = [], None, False
    for i, signal in enumerate(script[:len(ts) - 1]):
        close = ts[i] + HOUR
        if signal is Signal.BUY and not holding and (last_exit is None or close > last_exit + n * HOUR):
            expected.append(ts[i + 1])
            holding = True
        elif signal is Signal.SELL and holding:
            last_exit, holding = ts[i + 1], False
    assert [t.entry_ts_ms for t in res.trades] == expected
    gaps = {b.entry_ts_ms - a.exit_ts_ms for a, b in zip(res.trades, res.trades[1:])}
    # BUY signals come every second candle: the lock (n = 3 closes) refuses one, the next gets in
    assert gaps == {(n + 2) * HOUR}, "no entry while locked, and the first BUY after it enters"
    assert res.rejections["pair_lock"] == 2 * len(res.trades), "the two BUYs inside each lock are refused"


def test_stoploss_guard_and_low_profit_rules():
    guard = StoplossGuard(trades=2, window_candles=10, lock_candles=5)
    first = ClosedTrade("BTC/USDT", 0, -0.02, True)
    assert guard.on_exit(first, [first], HOUR) is None
    second = ClosedTrade("BTC/USDT", 9 * HOUR, -0.02, True)
    lock = guard.on_exit(second, [first, second], HOUR)
    assert lock.until_ms == 14 * HOUR and "2 stop-loss exits within 10 candles" in lock.reason
    late = ClosedTrade("BTC/USDT", 11 * HOUR, -0.02, True)
    assert guard.on_exit(late, [first, second, late], HOUR) is not None, "the second and third are in the window"
    assert guard.on_exit(ClosedTrade("BTC/USDT", 30 * HOUR, -0.02, True), [first, ClosedTrade("BTC/USDT", 30 * HOUR,
                                                                                              -0.02, True)], HOUR) is None
    low = LowProfitPairs(trades=2, window_candles=10, min_profit_pct=0.5, lock_candles=4)
    a, b = ClosedTrade("X/Y", 0, 0.003, False), ClosedTrade("X/Y", HOUR, 0.001, False)
    assert low.on_exit(b, [a, b], HOUR).until_ms == 5 * HOUR, "+0.40% < +0.50% over 2 trades"
    c = ClosedTrade("X/Y", 2 * HOUR, 0.01, False)
    assert low.on_exit(c, [a, b, c], HOUR) is None


def _daemon_fills(settings, tmp_path):
    engine, store = build_engine(settings)
    try:
        now = [0.0]
        engine.lanes[0].market.feed._clock = lambda: now[0]
        engine.step()
        now[0] = 1e6
        for _ in range(3):
            engine.step()
        locks = engine.risk.pair_locks.locks
    finally:
        store.close()
    fills = sorted((symbol, side, ts, Decimal(price), Decimal(qty)) for symbol, side, ts, price, qty in
                   rows(tmp_path / "q.sqlite", "select symbol, side, ts_ms, price, qty from fills"))
    return fills, locks


def test_daemon_and_portfolio_backtest_lock_the_same_pairs_and_make_the_same_fills(tmp_path):
    risk = {"cooldown_candles": 12, "stop_loss_pct": 1.0, "stoploss_guard_trades": 2,
            "stoploss_guard_window_candles": 288, "stoploss_guard_lock_candles": 48}
    settings = load_settings(EXAMPLE, store={"url": f"sqlite:///{tmp_path / 'q.sqlite'}"}, risk=risk)
    for m in settings.markets():
        m.data = short_sample(tmp_path, 1200, f"{m.symbol.replace('/', '_')}-5m.csv.gz")
    daemon, locks = _daemon_fills(settings, tmp_path)
    p = settings.paper
    result = run_portfolio_backtest(config_markets(settings)[0], BacktestConfig(
        cash=p.cash, fee_rate=p.fee, slippage_bps=p.slippage_bps, limits=settings.risk))
    assert _fills_of(result.trades) == daemon, "the same locks, the same fills"
    assert result.rejections["pair_lock"] > 0 and len(daemon) > 20
    stored = rows(tmp_path / "q.sqlite", "SELECT symbol, rule FROM pair_locks")
    assert {r for _, r in stored} == {"cooldown", "stoploss_guard"}, stored
    refused = rows(tmp_path / "q.sqlite", "SELECT count(*) FROM events WHERE kind='risk_decision' AND "
                                          "json_extract(payload, '$.rule')='pair_lock'")[0][0]
    assert refused == result.rejections["pair_lock"]
    assert locks, "the last locks are held in memory"


def test_locks_survive_a_restart_and_an_operator_unlock_ends_them(tmp_path):
    settings = load_settings(store={"url": f"sqlite:///{tmp_path / 'q.sqlite'}"}, replay={"speed": 1.0},
                             risk={"cooldown_candles": 100_000})  # a lock that outlives the sample
    engine, store = build_engine(settings)
    clock = [0.0]
    engine.lanes[0].market.feed._clock = lambda: clock[0]
    while not engine.risk.pair_locks.locks:
        clock[0] += 1
        engine.step()
    lock = engine.risk.pair_locks.locks["BTC/USDT"]
    engine.stop("test")
    store.close()
    engine, store = build_engine(settings)
    try:
        assert engine.risk.pair_locks.locks["BTC/USDT"] == lock, "kept across the restart"
        queue_command(store, "unlock BTC/USDT", "telegram:1", 0)
        engine.apply_operator_commands()
        assert engine.risk.pair_locks.locks == {}
        assert rows(tmp_path / "q.sqlite", "SELECT result FROM operator_commands") == [("unlocked: BTC/USDT",)]
        assert rows(tmp_path / "q.sqlite", "SELECT ended_by FROM pair_locks") == [("telegram:1",)]
    finally:
        engine.stop("test")
        store.close()
    engine, store = build_engine(settings)
    assert engine.risk.pair_locks.locks == {}, "an ended lock stays ended"
    store.close()
