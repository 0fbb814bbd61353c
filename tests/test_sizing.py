"""Sizing methods, their parsing, and the ATR they use."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from engine.backtest.engine import BacktestConfig, run_backtest
from engine.data import load_ohlcv
from engine.errors import ConfigError
from engine.risk.sizing import (
    AllCash,
    FixedQuote,
    HalfKelly,
    PercentOfEquity,
    SizingContext,
    VolatilityTarget,
    parse_stake,
)
from engine.strategy import create
from engine.strategy.indicators import ATR

FEE = Decimal("0.001")


def ctx(cash="10000", equity="20000", price=100.0, atr=2.0, returns=()):
    return SizingContext(Decimal(cash), Decimal(equity), price, atr, list(returns))


@pytest.mark.parametrize("text, cls", [("all", AllCash), ("500", FixedQuote), ("10%", PercentOfEquity),
                                       ("vol:1%", VolatilityTarget), ("kelly", HalfKelly), (" ALL ", AllCash)])
def test_parse_forms(text, cls):
    assert type(parse_stake(text, FEE)) is cls


@pytest.mark.parametrize("text", ["0", "-5", "abc", "150%", "vol:0%", "vol:x%", "nan", "inf"])
def test_parse_refuses_bad_forms(text):
    with pytest.raises(ConfigError, match="stake"):
        parse_stake(text, FEE)


def test_each_method_and_the_cash_cap():
    assert parse_stake("all", FEE).entry_notional(ctx()) == Decimal(10_000) / Decimal("1.001")
    assert parse_stake("500", FEE).entry_notional(ctx()) == 500
    assert parse_stake("10%", FEE).entry_notional(ctx()) == 2000
    # vol target: 1% of 20,000 equity per ATR of 2 at price 100 -> 200 * 50 = 10,000, capped by cash
    assert parse_stake("vol:0.5%", FEE).entry_notional(ctx()) == 5000
    assert parse_stake("vol:1%", FEE).entry_notional(ctx()) == Decimal(10_000) / Decimal("1.001")
    assert parse_stake("vol:1%", FEE).entry_notional(ctx(atr=None)) == 0
    assert parse_stake("500", FEE).entry_notional(ctx(cash="0")) == 0


def test_half_kelly_formula_sample_cap_and_negative_edge():
    k = HalfKelly(FEE)
    # W = 0.6, average win 0.04, average loss 0.02 -> R = 2, f* = 0.6 - 0.4/2 = 0.4, half = 0.2
    returns = [0.04] * 12 + [-0.02] * 8
    assert k.fraction(returns) == pytest.approx(0.2)
    assert k.entry_notional(ctx(cash="100000", returns=returns)) == pytest.approx(Decimal(4000))
    assert k.fraction(returns[:19]) is None, "below the minimum sample"
    assert k.entry_notional(ctx(returns=returns[:19])) == Decimal(400)  # 2% fallback of 20,000
    assert HalfKelly(FEE, cap=0.1).fraction(returns) == 0.1
    assert k.fraction([0.01] * 5 + [-0.03] * 15) == 0.0, "negative edge sizes nothing"


def test_atr_equals_wilder_reference_on_real_data(data_dir):
    df, _ = load_ohlcv(data_dir / "binance/BTC_USDT-1h.csv.gz")
    df = df.iloc[:3000]
    h, lo, c = df["high"].to_numpy(), df["low"].to_numpy(), df["close"].to_numpy()
    tr = np.maximum.reduce([h[1:] - lo[1:], np.abs(h[1:] - c[:-1]), np.abs(lo[1:] - c[:-1])])
    seeded = np.concatenate(([tr[:14].mean()], tr[14:]))
    ref = pd.Series(seeded).ewm(alpha=1 / 14, adjust=False).mean().to_numpy()
    atr = ATR(14)
    ours = [atr.update(a, b, x) for a, b, x in zip(h, lo, c)]
    assert ours[13] is None and ours[14] is not None
    np.testing.assert_allclose(np.array(ours[14:], dtype=float), ref, rtol=1e-9)


def test_backtest_with_volatility_target_sizes_vary_with_atr(data_dir):
    df, _ = load_ohlcv(data_dir / "binance/ETH_USDT-1h.csv.gz")
    res = run_backtest(df.iloc[:8000], create("sma_cross", {"fast": 10, "slow": 30}),
                       BacktestConfig("ETH/USDT", "1h", stake="vol:0.5%"))
    notionals = [float(t.qty * t.entry_price) for t in res.trades]
    assert len(notionals) > 50 and min(notionals) < 0.5 * max(notionals)
