"""Risk in the backtester on real data: the drawdown breaker trips and nothing enters after it;
a property test that no filled order ever breaks a configured limit."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.backtest.engine import BacktestConfig, run_backtest
from engine.data import load_ohlcv
from engine.models import Candle, Signal
from engine.risk.limits import RiskLimits
from engine.strategy import create
from engine.strategy.base import Strategy, StrategyContext


def test_drawdown_breaker_trips_in_the_2018_bear_market_and_no_entry_follows(data_dir):
    df, _ = load_ohlcv(data_dir / "binance/BTC_USDT-1h.csv.gz")
    config = BacktestConfig("BTC/USDT", "1h", limits=RiskLimits(max_drawdown_pct=25))
    res = run_backtest(df, create("sma_cross", {"fast": 10, "slow": 30}), config)
    (trip,) = res.breaker_trips
    assert trip.reason.startswith("max_drawdown: drawdown 25.") and "limit 25.0%" in trip.reason
    assert "2018-01-01" <= _day(trip.ts_ms) <= "2018-12-31"
    # the equity at the trip is the curve's value at that candle, 25% or more under its peak
    i = int(np.flatnonzero(res.timestamps == trip.ts_ms)[0])
    assert trip.equity == res.equity[i]
    curve = np.concatenate(([10_000.0], res.equity[: i + 1]))
    assert 1 - trip.equity / curve.max() >= 0.25 and 1 - res.equity[i - 1] / curve[:-1].max() < 0.25
    assert all(t.entry_ts_ms <= trip.ts_ms for t in res.trades), "no entry after the trip"
    assert res.rejections["circuit_breaker"] > 100
    unlimited = run_backtest(df, create("sma_cross", {"fast": 10, "slow": 30}), BacktestConfig("BTC/USDT", "1h"))
    assert len(unlimited.trades) > len(res.trades)


def _day(ts_ms: int) -> str:
    from engine.timeframes import iso_utc

    return iso_utc(ts_ms)[:10]


class Scripted(Strategy):
    """Emits a given signal stream, one item per candle (None = no signal)."""

    name = "scripted"

    def __init__(self, script: list[Signal | None]):
        super().__init__(Strategy.Params())
        self.script, self.i = script, 0

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> Signal | None:
        self.i += 1
        return self.script[self.i - 1] if self.i <= len(self.script) else None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    script=st.lists(st.sampled_from([Signal.BUY, Signal.SELL, None, None]), min_size=50, max_size=400),
    start=st.integers(0, 40_000),
    max_order=st.integers(50, 20_000),
    max_position=st.integers(50, 20_000),
    max_trades=st.integers(1, 5),
    max_dd=st.floats(1.0, 30.0),
    stake=st.sampled_from(["all", "700", "5000"]),
)
def test_no_filled_order_ever_breaks_a_limit(data_dir, script, start, max_order, max_position, max_trades,
                                             max_dd, stake):
    df = _eth_1h(data_dir).iloc[start:start + len(script)].reset_index(drop=True)
    limits = RiskLimits(max_order_notional=Decimal(max_order), max_position_notional=Decimal(max_position),
                        max_trades_per_window=max_trades, trade_window_hours=24, max_drawdown_pct=max_dd)
    res = run_backtest(df, Scripted(script), BacktestConfig("ETH/USDT", "1h", stake=stake, limits=limits))
    fills = [e for e in res.events if e.kind == "fill"]
    buys = [e for e in fills if e.side == "buy"]
    held = Decimal(0)
    for e in fills:
        notional = Decimal(e.qty) * Decimal(e.price)
        if e.side == "buy":
            assert notional <= max_order, "order notional"
            assert held * Decimal(e.price) + notional <= max_position, "position notional"
            held += Decimal(e.qty)
        else:
            held -= Decimal(e.qty)
    entry_times = [e.ts_ms for e in buys]
    for t in entry_times:
        assert sum(1 for u in entry_times if t - 24 * 3_600_000 < u <= t) <= max_trades, "entries per window"
    trips = res.breaker_trips
    if trips:
        assert all(t <= trips[0].ts_ms for t in entry_times), "no entry fills after a halt"


_CACHE: dict = {}


def _eth_1h(data_dir):
    if "eth" not in _CACHE:
        _CACHE["eth"] = load_ohlcv(data_dir / "binance/ETH_USDT-1h.csv.gz")[0]
    return _CACHE["eth"]


def test_invalid_signals_are_rejected_with_a_reason_and_never_trade(data_dir):
    df = _eth_1h(data_dir).iloc[:40].reset_index(drop=True)
    script = [None] * 5 + [float("nan"), (Signal.BUY, Signal.SELL), "buy", Signal.SELL, Signal.SELL,
                           Signal.SELL, None, Signal.SELL] + [None] * 5
    res = run_backtest(df, Scripted(script), BacktestConfig("ETH/USDT", "1h"))
    assert res.trades == [] and not [e for e in res.events if e.kind == "fill"]
    decided = [e for e in res.events if e.kind == "risk_decision"]
    assert res.rejections == {"signal_sanity": 4}
    assert "contradictory" in decided[1].reason and "invalid signal 'buy'" in decided[2].reason
    # the first SELL while flat is ignored quietly; its first repeat is reported once, no more
    assert decided[3].reason == "repeated SELL: position already flat" and decided[3].side == "sell"
