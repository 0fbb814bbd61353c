"""Strategy parameters, the registry, and incremental indicators against pandas on real data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.data import load_ohlcv
from engine.errors import StrategyError
from engine.models import Candle, Signal
from engine.strategy import StrategyContext, available, create
from engine.strategy.indicators import RSI, SMA, SMAPair


@pytest.mark.parametrize("params, fragment", [
    ({"fast": 50, "slow": 10}, "fast (50) must be smaller than slow (10)"),
    ({"fast": 0}, "parameter fast: must be from 1 to 1000 (got 0)"),
    ({"fast": "ten"}, "parameter fast: Input should be a valid integer"),
    ({"fsat": 5}, "unknown key 'fsat' (did you mean 'fast'?); valid keys: allow_short, fast, slow"),
])
def test_sma_cross_params_are_validated(params, fragment):
    with pytest.raises(StrategyError) as err:
        create("sma_cross", params)
    assert fragment in str(err.value) and str(err.value).startswith("sma_cross:")


def test_rsi_params_and_unknown_strategy():
    with pytest.raises(StrategyError, match=r"lower \(80.0\) must be smaller than upper \(70.0\)"):
        create("rsi_reversion", {"lower": 80})
    with pytest.raises(StrategyError, match="period: must be from 1 to "):
        create("rsi_reversion", {"period": 0})
    with pytest.raises(StrategyError, match="unknown strategy 'nope'; available: bbands_reversion, cci, .*, sma_cross"):
        create("nope")
    assert {"rsi_reversion", "sma_cross"} <= set(available())


def test_cli_strings_are_coerced():
    assert create("sma_cross", {"fast": "3", "slow": "7"}).describe() == "sma_cross(fast=3, slow=7)"


def _closes(data_dir, name="binance/ETH_USDT-1h.csv.gz", n=5000):
    df, _ = load_ohlcv(data_dir / name)
    return df["close"].iloc[:n]


def test_incremental_sma_equals_pandas_rolling_mean(data_dir):
    closes = _closes(data_dir)
    sma = SMA(30)
    ours = np.array([np.nan if (v := sma.update(x)) is None else v for x in closes.tolist()])
    ref = closes.rolling(30).mean().to_numpy()
    assert np.isnan(ours[:29]).all() and np.isnan(ref[:29]).all()
    np.testing.assert_allclose(ours[29:], ref[29:], rtol=1e-12)


@pytest.mark.parametrize("name", ["binance/ETH_USDT-1h.csv.gz", "binance/ETH_BTC-1m.csv.gz", "binance/XRP_USDT-5m.csv.gz"])
def test_sma_pair_gives_the_floats_of_fsum_sma_on_real_closes(data_dir, name):
    """The running integer sums are the same floats as ``fsum`` of each window over the period
    (the old form), to the bit, from the first value on: a crossover's trades cannot move."""
    closes = _closes(data_dir, name, n=20_000).tolist()
    pair, fast, slow = SMAPair(7, 25), SMA(7), SMA(25)
    seen = 0
    for x in closes:
        got, f, s = pair.update(x), fast.update(x), slow.update(x)
        if s is None:
            assert got is None
            continue
        assert got == (f, s), x
        seen += 1
    assert seen == len(closes) - 24


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(min_value=1e-8, max_value=1e7, allow_nan=False), min_size=3, max_size=80),
       st.integers(1, 4), st.integers(0, 5))
def test_sma_pair_equals_exact_window_means(values, fast, extra):
    """Any prices from 1e-8 to 1e7 quote: each average is ``fsum(window) / period``, however
    many values came and left (no drift)."""
    slow = fast + extra
    pair = SMAPair(fast, slow)
    for i, x in enumerate(values):
        got = pair.update(x)
        if i + 1 < slow:
            assert got is None
        else:
            assert got == (math.fsum(values[i + 1 - fast:i + 1]) / fast, math.fsum(values[i + 1 - slow:i + 1]) / slow)


def test_sma_pair_refuses_a_fast_period_above_the_slow_one():
    with pytest.raises(ValueError, match="fast period"):
        SMAPair(30, 10)
    with pytest.raises(ValueError, match="SMA period"):
        SMAPair(0, 10)


def _wilder_rsi(closes: pd.Series, period: int) -> np.ndarray:
    """Independent reference: pandas ewm(alpha=1/period) seeded with the simple mean."""
    delta = closes.diff().to_numpy()[1:]
    gains, losses = np.clip(delta, 0, None), np.clip(-delta, 0, None)
    out = np.full(len(closes), np.nan)
    for arr, name in ((gains, "g"), (losses, "l")):
        seeded = np.concatenate(([arr[:period].mean()], arr[period:]))
        avg = pd.Series(seeded).ewm(alpha=1 / period, adjust=False).mean().to_numpy()
        if name == "g":
            g = avg
        else:
            lo = avg
    with np.errstate(divide="ignore"):
        out[period:] = np.where(lo == 0, 100.0, 100 - 100 / (1 + g / lo))
    return out


def test_incremental_rsi_equals_wilder_reference(data_dir):
    closes = _closes(data_dir)
    rsi = RSI(14)
    ours = np.array([np.nan if (v := rsi.update(x)) is None else v for x in closes.tolist()])
    ref = _wilder_rsi(closes, 14)
    assert np.isnan(ours[:14]).all() and not np.isnan(ours[14])
    np.testing.assert_allclose(ours[14:], ref[14:], rtol=1e-9)


def test_sma_cross_signals_only_on_crossings_and_never_before_warmup(data_dir):
    df, _ = load_ohlcv(data_dir / "binance/BTC_USDT-1d.csv.gz")
    strat = create("sma_cross", {"fast": 5, "slow": 20})
    ctx = StrategyContext("BTC/USDT", "1d")
    signals = [strat.on_candle(Candle(*row), ctx) for row in df.itertuples(index=False)]
    first = next(i for i, s in enumerate(signals) if s is not None)
    assert first >= strat.warmup - 1
    kinds = [s for s in signals if s is not None]
    assert all(a is not b for a, b in zip(kinds, kinds[1:])), "crossings alternate"
    assert Signal.BUY in kinds and Signal.SELL in kinds
