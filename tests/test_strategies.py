"""The strategy library: each built-in in both forms, parameters declared, parity reported."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bot.cli import main as cli
from engine.backtest.engine import BacktestConfig
from engine.backtest.parity import compare, signal_stream
from engine.data import load_ohlcv
from engine.errors import StrategyError
from engine.strategy import available, create
from engine.strategy.builtin.sma_cross import SmaCross

BUILTINS = ["bbands_reversion", "cci", "donchian_breakout", "ema_cross", "macd_trend", "roc", "rsi_reversion",
            "sma_cross"]
FILES = ["BTC_USDT-1h", "ETH_USDT-5m", "ETH_BTC-1m"]


def test_the_library_is_registered():
    from engine.strategy import strategy_class

    builtin = [n for n in available() if strategy_class(n).__module__.startswith("engine.strategy.builtin.")]
    assert builtin == BUILTINS  # other tests may have loaded a user's module in this process


@pytest.mark.parametrize("file", FILES)
def test_vectorised_signals_equal_on_candle_for_every_builtin(data_dir, file):
    """Candle for candle, including the near-ties the vectorised forms repair exactly."""
    df, report = load_ohlcv(data_dir / "binance" / f"{file}.csv.gz")
    for name in BUILTINS:
        expected = signal_stream(create(name), df, "X/Y", report.timeframe)
        got = create(name).signals(df)
        assert got.dtype == np.int8 and got.shape == (len(df),)
        differ = np.flatnonzero(got != expected)
        assert differ.size == 0, f"{name} on {file}: first difference at row {differ[:1]}"
        assert (expected == 1).sum() > 10 and (expected == -1).sum() > 10, f"{name} on {file} barely trades"


def test_every_builtin_has_full_parity_on_btc_1h(data_dir):
    df, _ = load_ohlcv(data_dir / "binance" / "BTC_USDT-1h.csv.gz")
    config = BacktestConfig(symbol="BTC/USDT", timeframe="1h", stake="750")
    for name in BUILTINS:
        row = compare(df, lambda name=name: create(name), config, "BTC_USDT-1h")
        assert row.ok and row.matching_pct == 100.0 and row.event_trades > 50, row


class OffByOne(SmaCross):
    """``signals`` drops one BUY: parity must catch it and say where."""

    name = "off_by_one"

    def signals(self, df):
        out = super().signals(df).copy()
        out[np.flatnonzero(out == 1)[3]] = 0
        return out


def test_parity_reports_the_first_mismatch_with_both_sides(data_dir):
    df, _ = load_ohlcv(data_dir / "binance" / "BTC_USDT-1h.csv.gz")
    df = df.iloc[:3000].reset_index(drop=True)
    row = compare(df, lambda: OffByOne(SmaCross.Params()), BacktestConfig(timeframe="1h"), "cut")
    assert not row.ok and row.signal_mismatches == 1
    assert row.matching < row.event_trades and row.matching_pct < 100
    assert "no vectorised trade" in row.first_mismatch and "entry 20" in row.first_mismatch


def test_strategies_without_vectorised_form_are_refused(data_dir):
    from engine.strategy.base import Strategy

    class Plain(Strategy):
        name = "plain"

        def on_candle(self, candle, ctx):
            return None

    df, _ = load_ohlcv(data_dir / "binance" / "BTC_USDT-1h.csv.gz")
    with pytest.raises(StrategyError, match="no signals"):
        compare(df.iloc[:100], lambda: Plain(Plain.Params()), BacktestConfig())


@pytest.mark.parametrize("name, params, message", [
    ("ema_cross", {"fast": 30, "slow": 20}, "fast \\(30\\) must be smaller"),
    ("macd_trend", {"signal": 0}, "signal"),
    ("bbands_reversion", {"k": -1}, "parameter k"),
    ("cci", {"lower": 50, "upper": -50}, "lower"),
    ("roc", {"threshold": "x"}, "parameter threshold"),
    ("donchian_breakout", {"entry": 0}, "parameter entry"),
    ("rsi_reversion", {"period": 2000}, "parameter period"),
])
def test_parameters_are_declared_and_validated(name, params, message):
    with pytest.raises(StrategyError, match=message):
        create(name, params)


def test_parameters_declare_types_ranges_and_defaults():
    fields = create("donchian_breakout").Params.model_fields
    assert fields["entry"].default == 20 and fields["entry"].annotation is int
    assert {type(m).__name__ for m in fields["entry"].metadata} >= {"Ge", "Le"}


def test_validate_command_prints_the_table_and_exits_0(capsys):
    assert cli(["validate", "--strategy", "ema_cross", "--strategy", "donchian_breakout"]) == 0
    out = capsys.readouterr().out
    assert "| ema_cross(fast=12, slow=26) | BTC_USDT-5m.csv.gz |" in out and out.count("100.00%") == 2


def test_validate_json_and_bad_input(capsys, data_dir):
    assert cli(["validate", "--strategy", "roc", "--param", "period=5", "--json",
                "--data", str(data_dir / "binance" / "ETH_BTC-1m.csv.gz")]) == 0
    row = json.loads(capsys.readouterr().out.strip())
    assert row["strategy"] == "roc(period=5, threshold=1.0)" and row["ok"] and row["event_trades"] > 0
    assert cli(["validate", "--strategy", "nope"]) == 2
    assert "unknown strategy 'nope'" in capsys.readouterr().err
    assert cli(["validate", "--param", "fast=3"]) == 2
    assert "--param needs exactly one --strategy" in capsys.readouterr().err
