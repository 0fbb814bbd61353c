"""The event-driven backtester against an independent vectorised computation, on real data."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from engine.backtest.engine import BacktestConfig, run_backtest
from engine.backtest.metrics import max_drawdown
from engine.backtest.trades import END_OF_DATA
from engine.data import load_ohlcv
from engine.strategy import create
from tests.reference import sma_cross_trades

REL = 1e-9


def _compare(result, ref):
    assert len(result.trades) == len(ref) > 0
    got = np.array([[t.entry_ts_ms, t.exit_ts_ms] for t in result.trades])
    np.testing.assert_array_equal(got, ref[["entry_ts", "exit_ts"]].to_numpy())
    for col, attr in (("entry_price", "entry_price"), ("exit_price", "exit_price"), ("qty", "qty"),
                      ("fees", "fees"), ("pnl", "pnl")):
        ours = np.array([float(getattr(t, attr)) for t in result.trades])
        scale = np.maximum(np.abs(ref[col].to_numpy()), 1e-6)
        assert np.max(np.abs(ours - ref[col].to_numpy()) / scale) < REL, col
    assert [t.exit_reason == END_OF_DATA for t in result.trades] == ref["end_of_data"].tolist()


@pytest.mark.parametrize("fee, slip_bps, stake", [(0.001, 0.0, None), (0.00075, 5.0, None), (0.001, 2.0, 2500.0)])
def test_sma_cross_trades_match_vectorised_reference_on_btc_1h(data_dir, fee, slip_bps, stake):
    df, _ = load_ohlcv(data_dir / "binance/BTC_USDT-1h.csv.gz")
    config = BacktestConfig("BTC/USDT", "1h", Decimal(10_000), Decimal(str(fee)), Decimal(str(slip_bps)),
                            "all" if stake is None else str(stake))
    result = run_backtest(df, create("sma_cross", {"fast": 10, "slow": 30}), config)
    ref = sma_cross_trades(df, 10, 30, 10_000.0, fee, slip_bps, stake)
    _compare(result, ref)
    final = 10_000.0 + ref["pnl"].sum()
    assert result.metrics.final_equity == pytest.approx(final, rel=REL)
    assert result.metrics.fees_paid == pytest.approx(ref["fees"].sum(), rel=REL)


def test_open_position_at_the_end_is_closed_at_last_close_and_marked(data_dir):
    full, _ = load_ohlcv(data_dir / "binance/BTC_USDT-1d.csv.gz")
    # the first cut after day 300 where the rules hold a position on the last candle
    for n in range(300, len(full)):
        df = full.iloc[:n].reset_index(drop=True)
        ref = sma_cross_trades(df, 5, 20, 10_000.0, 0.001, 0.0)
        if len(ref) and ref["end_of_data"].iloc[-1]:
            break
    assert ref["end_of_data"].iloc[-1]
    result = run_backtest(df, create("sma_cross", {"fast": 5, "slow": 20}),
                          BacktestConfig("BTC/USDT", "1d"))
    _compare(result, ref)
    last = result.trades[-1]
    assert last.exit_reason == END_OF_DATA and float(last.exit_price) == df["close"].iloc[-1]


def test_no_lookahead_future_candles_cannot_change_past_trades(data_dir):
    df, _ = load_ohlcv(data_dir / "binance/ETH_USDT-1h.csv.gz")
    strat = {"fast": 10, "slow": 30}
    full = run_backtest(df.iloc[:6000], create("sma_cross", strat), BacktestConfig("ETH/USDT", "1h"))
    cut = run_backtest(df.iloc[:3000], create("sma_cross", strat), BacktestConfig("ETH/USDT", "1h"))
    closed_early = [t for t in cut.trades if t.exit_reason != END_OF_DATA]
    assert closed_early and full.trades[:len(closed_early)] == closed_early
    # Equity up to the cut's second-to-last candle is identical: the future never leaks back.
    np.testing.assert_array_equal(full.equity[:2998], cut.equity[:2998])


def test_metrics_are_consistent_with_the_equity_curve_and_trades(data_dir):
    df, _ = load_ohlcv(data_dir / "binance/BTC_USDT-1h.csv.gz")
    res = run_backtest(df, create("sma_cross", {"fast": 10, "slow": 30}), BacktestConfig())
    m = res.metrics
    curve = np.concatenate(([10_000.0], res.equity))
    assert m.max_drawdown_pct == pytest.approx(100 * max_drawdown(curve))
    assert 0 < m.max_drawdown_pct < 100
    wins = sum(1 for t in res.trades if t.pnl > 0)
    assert m.win_rate == pytest.approx(100 * wins / len(res.trades))
    assert m.n_trades == len(res.trades) and 0 < m.exposure_pct < 100
    assert m.total_return_pct == pytest.approx((m.final_equity / 10_000 - 1) * 100)
    # every fill's notional was paid for: cash never negative along the way
    assert (res.equity > 0).all()


def test_rsi_reversion_runs_on_real_data_and_alternates_trades(data_dir):
    df, _ = load_ohlcv(data_dir / "binance/SOL_USDT-1h.csv.gz")
    res = run_backtest(df, create("rsi_reversion", {"period": 14, "lower": 25, "upper": 75}),
                       BacktestConfig("SOL/USDT", "1h"))
    assert res.metrics.n_trades > 10
    for a, b in zip(res.trades, res.trades[1:]):
        assert a.exit_ts_ms <= b.entry_ts_ms
