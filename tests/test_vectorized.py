"""The vectorised backtest agrees with the event-driven engine, trade for trade, on real data."""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cli import main as cli
from engine.backtest.engine import BacktestConfig, run_backtest
from engine.backtest.vectorized import round_trips, run_vectorized, supports_vectorized
from engine.data import load_ohlcv
from engine.errors import ConfigError, StrategyError
from engine.models import Candle, Signal
from engine.risk.limits import RiskLimits
from engine.strategy import create
from engine.strategy.base import Strategy, StrategyContext

REL = 1e-9  # money and quantities: float64 here, Decimal there


def assert_same_run(event, vector) -> None:
    """Same trades candle for candle; prices, quantities, fees and equity to ``REL``."""
    key = [(t.entry_ts_ms, t.exit_ts_ms, t.exit_reason, t.entry_signal) for t in event.trades]
    assert key == [(t.entry_ts_ms, t.exit_ts_ms, t.exit_reason, t.entry_signal) for t in vector.trades]
    for attr in ("entry_price", "exit_price", "qty", "entry_fee", "exit_fee"):
        a = np.array([float(getattr(t, attr)) for t in event.trades])
        b = np.array([float(getattr(t, attr)) for t in vector.trades])
        np.testing.assert_allclose(b, a, rtol=REL, err_msg=attr)
    np.testing.assert_allclose(vector.equity, event.equity, rtol=REL)
    em, vm = event.metrics, vector.metrics
    assert vm.n_trades == em.n_trades and vm.exposure_pct == em.exposure_pct and vm.win_rate == em.win_rate
    assert vm.final_equity == pytest.approx(em.final_equity, rel=REL)
    assert vm.max_drawdown_pct == pytest.approx(em.max_drawdown_pct, rel=1e-6)
    assert vm.sharpe == pytest.approx(em.sharpe, rel=1e-6)


@pytest.mark.parametrize("name, stake, slippage", [
    ("BTC_USDT-1h", "all", "0"),
    ("ETH_USDT-5m", "750", "3"),
    ("ETH_BTC-1m", "40%", "1"),
])
def test_sma_cross_vectorised_equals_event_driven_on_real_files(data_dir, name, stake, slippage):
    df, report = load_ohlcv(data_dir / "binance" / f"{name}.csv.gz")
    config = BacktestConfig(symbol=name.split("-")[0].replace("_", "/"), timeframe=report.timeframe,
                            stake=stake, slippage_bps=Decimal(slippage))
    event = run_backtest(df, create("sma_cross", {"fast": 7, "slow": 25}), config)
    vector = run_vectorized(df, create("sma_cross", {"fast": 7, "slow": 25}), config)
    assert len(event.trades) > 300
    assert_same_run(event, vector)


def test_sma_signals_equal_on_candle_including_exact_ties(data_dir):
    """Flat stretches of real 1m candles make the two averages exactly equal: the vectorised
    signals must take those ties exactly as the incremental form does."""
    df, _ = load_ohlcv(data_dir / "binance" / "ETH_BTC-1m.csv.gz")
    strategy = create("sma_cross", {"fast": 2, "slow": 3})
    ctx = StrategyContext("ETH/BTC", "1m")
    one_by_one = [strategy.on_candle(Candle(*row), ctx) for row in df.itertuples(index=False)]
    expected = np.array([{Signal.BUY: 1, Signal.SELL: -1, None: 0}[s] for s in one_by_one], dtype=np.int8)
    got = create("sma_cross", {"fast": 2, "slow": 3}).signals(df)
    assert np.array_equal(got, expected)
    close = df["close"].to_numpy()
    f2 = (close[1:-1] + close[2:]) / 2
    assert (np.abs(f2 - (close[:-2] + close[1:-1] + close[2:]) / 3) == 0).sum() > 100  # the ties exist


class Scripted(Strategy):
    """Replays a fixed signal array in both forms."""

    name = "scripted"

    def __init__(self, script: np.ndarray):
        super().__init__(Strategy.Params())
        self.script, self.i = script, 0

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> Signal | None:
        value = int(self.script[self.i])
        self.i += 1
        return {1: Signal.BUY, -1: Signal.SELL}.get(value)

    def signals(self, df) -> np.ndarray:
        return self.script


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(st.sampled_from([1, -1, 0, 0, 0]), min_size=2, max_size=120),
       start=st.integers(0, 40_000), stake=st.sampled_from(["all", "900", "25%"]))
def test_any_signal_stream_gives_the_same_trades(data_dir, script, start, stake):
    """Leading SELLs, repeats, a BUY or SELL on the last candle, a position open at the end."""
    df, _ = load_ohlcv(data_dir / "binance" / "BTC_USDT-1m.csv.gz")
    df = df.iloc[start:start + len(script)].reset_index(drop=True)
    arr = np.array(script, dtype=np.int8)
    config = BacktestConfig(timeframe="1m", stake=stake, slippage_bps=Decimal(2))
    assert_same_run(run_backtest(df, Scripted(arr), config), run_vectorized(df, Scripted(arr), config))


def test_round_trips_state_machine():
    sig = np.array([-1, 0, 1, 1, 0, -1, -1, 1, 0, -1, 0, 1], dtype=np.int8)
    entry, exit_ = round_trips(sig)
    assert entry.tolist() == [2, 7] and exit_.tolist() == [5, 9]  # BUY on the last candle cannot fill
    entry, exit_ = round_trips(np.array([0, 1, 0, 0], dtype=np.int8))
    assert entry.tolist() == [1] and exit_.tolist() == [4]  # held to the end of data


class NoSignals(Strategy):
    """A strategy with ``on_candle`` only."""

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> Signal | None:
        return None


def test_what_the_vectorised_path_refuses(data_dir):
    df, _ = load_ohlcv(data_dir / "binance" / "BTC_USDT-1h.csv.gz")
    assert not supports_vectorized(NoSignals(Strategy.Params()))
    with pytest.raises(StrategyError, match="no signals"):
        run_vectorized(df, NoSignals(Strategy.Params()), BacktestConfig())
    with pytest.raises(ConfigError, match="risk manager"):
        run_vectorized(df, create("sma_cross", {}), BacktestConfig(limits=RiskLimits(max_drawdown_pct=10)))
    with pytest.raises(ConfigError, match="stake"):
        run_vectorized(df, create("sma_cross", {}), BacktestConfig(stake="vol:1%"))


def test_cli_vectorized_prints_the_same_metrics(data_dir, capsys):
    path = str(data_dir / "binance" / "BTC_USDT-1h.csv.gz")
    assert cli(["backtest", "--data", path, "--json"]) == 0
    event = json.loads(capsys.readouterr().out)
    assert cli(["backtest", "--data", path, "--json", "--vectorized"]) == 0
    vector = json.loads(capsys.readouterr().out)
    assert vector["trades"] == event["trades"] == 862
    assert vector["final_equity_quote"] == pytest.approx(event["final_equity_quote"], rel=REL)
    assert cli(["backtest", "--data", path, "--vectorized", "--strategy", "tests.test_vectorized:NoSignals"]) == 2
    assert "has no signals(df)" in capsys.readouterr().err
