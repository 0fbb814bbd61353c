"""Indicators against TA-Lib on real Binance candles, in both forms.

TA-Lib (the ``ta-lib`` wheel, a test dependency only) is the reference. For each indicator
and file, after TA-Lib's own warm-up (the NaNs must line up exactly):

* the vectorised function and the incremental class (through :func:`replay`) equal TA-Lib
  to ``REL = 1e-9`` relative. Oscillators that cross zero (MACD, PPO, TRIX, CCI, ROC,
  momentum, CMO, OBV) are compared relative to ``max(|value|, 1e-3 x the series' largest
  |value|)``: near zero a difference of two prices loses digits in TA-Lib's running sums as
  much as in ours, so a pure relative test would measure that cancellation, not the maths;
* the two forms equal each other to ``1e-9`` as well (they differ by summation order).

The one documented departure from TA-Lib is the RSI of a window with neither gains nor
losses (a flat market): TA-Lib outputs 0 (oversold), we output 50 (neutral). The real files
have no such window (the test counts them); ``test_flat_market_values_are_defined`` covers it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.data import load_ohlcv
from engine.strategy import indicators as ind

talib = pytest.importorskip("talib")

REL = 1e-9
FILES = ["BTC_USDT-1h", "ETH_USDT-5m", "ETH_BTC-1m"]


@pytest.fixture(scope="module", params=FILES)
def candles(request, data_dir):
    df, _ = load_ohlcv(data_dir / "binance" / f"{request.param}.csv.gz")
    return request.param, {k: df[k].to_numpy(dtype=float) for k in ("open", "high", "low", "close", "volume")}


def cases(c):
    """(name, vectorised, TA-Lib, fresh incremental, its input columns, output line)."""
    h, lo, cl, v = c["high"], c["low"], c["close"], c["volume"]
    return [
        ("SMA", ind.sma(cl, 20), talib.SMA(cl, 20), ind.SMA(20), (cl,), None),
        ("EMA", ind.ema(cl, 20), talib.EMA(cl, 20), ind.EMA(20), (cl,), None),
        ("RSI", ind.rsi(cl, 14), talib.RSI(cl, 14), ind.RSI(14), (cl,), None),
        ("MACD", ind.macd(cl)[0], talib.MACD(cl)[0], ind.MACD(), (cl,), 0),
        ("MACD signal", ind.macd(cl)[1], talib.MACD(cl)[1], ind.MACD(), (cl,), 1),
        ("MACD hist", ind.macd(cl)[2], talib.MACD(cl)[2], ind.MACD(), (cl,), 2),
        ("BBANDS lower", ind.bbands(cl, 20, 2.0)[0], talib.BBANDS(cl, 20, 2, 2)[2], ind.BollingerBands(20, 2.0), (cl,), 0),
        ("BBANDS middle", ind.bbands(cl, 20, 2.0)[1], talib.BBANDS(cl, 20, 2, 2)[1], ind.BollingerBands(20, 2.0), (cl,), 1),
        ("BBANDS upper", ind.bbands(cl, 20, 2.0)[2], talib.BBANDS(cl, 20, 2, 2)[0], ind.BollingerBands(20, 2.0), (cl,), 2),
        ("ATR", ind.atr(h, lo, cl, 14), talib.ATR(h, lo, cl, 14), ind.ATR(14), (h, lo, cl), None),
        ("CCI", ind.cci(h, lo, cl, 20), talib.CCI(h, lo, cl, 20), ind.CCI(20), (h, lo, cl), None),
        ("ROC", ind.roc(cl, 10), talib.ROC(cl, 10), ind.ROC(10), (cl,), None),
        ("MOM", ind.momentum(cl, 10), talib.MOM(cl, 10), ind.Momentum(10), (cl,), None),
        ("CMO", ind.cmo(cl, 14), talib.CMO(cl, 14), ind.CMO(14), (cl,), None),
        ("TRIX", ind.trix(cl, 30), talib.TRIX(cl, 30), ind.TRIX(30), (cl,), None),
        ("PPO sma", ind.ppo(cl, 12, 26), talib.PPO(cl, 12, 26, 0), ind.PPO(12, 26), (cl,), None),
        ("PPO ema", ind.ppo(cl, 12, 26, "ema"), talib.PPO(cl, 12, 26, 1), ind.PPO(12, 26, "ema"), (cl,), None),
        ("ULTOSC", ind.ultosc(h, lo, cl), talib.ULTOSC(h, lo, cl), ind.UltimateOscillator(), (h, lo, cl), None),
        ("Donchian upper", ind.donchian(h, lo, 20)[2], talib.MAX(h, 20), ind.Donchian(20), (h, lo), 2),
        ("Donchian lower", ind.donchian(h, lo, 20)[0], talib.MIN(lo, 20), ind.Donchian(20), (h, lo), 0),
        ("OBV", ind.obv(cl, v), talib.OBV(cl, v), ind.OBV(), (cl, v), None),
    ]


def _rel_error(ours: np.ndarray, ref: np.ndarray) -> float:
    scale = 1e-3 * np.nanmax(np.abs(ref))
    return float(np.nanmax(np.abs(ours - ref) / np.maximum(np.abs(ref), max(scale, 1e-300))))


def test_every_indicator_equals_talib_in_both_forms(candles):
    name, c = candles
    flat_rsi = 0
    for label, vec, ref, incremental, cols, line in cases(c):
        inc = ind.replay(incremental, *cols)
        inc = inc if line is None else inc[line]
        assert np.array_equal(np.isnan(vec), np.isnan(ref)), f"{name} {label}: warm-up differs from TA-Lib"
        assert np.array_equal(np.isnan(inc), np.isnan(ref)), f"{name} {label}: incremental warm-up differs"
        if label == "RSI":  # the flat-market departure, listed rather than tolerated
            flat = np.flatnonzero((ref == 0.0) & (vec == 50.0))
            flat_rsi = flat.size
            assert (inc[flat] == 50.0).all()
            ref = ref.copy()
            ref[flat] = 50.0
        assert _rel_error(vec, ref) <= REL, f"{name} {label}: vectorised vs TA-Lib {_rel_error(vec, ref):.2e}"
        assert _rel_error(inc, ref) <= REL, f"{name} {label}: incremental vs TA-Lib {_rel_error(inc, ref):.2e}"
        assert _rel_error(vec, inc) <= REL, f"{name} {label}: the two forms differ {_rel_error(vec, inc):.2e}"
    assert flat_rsi == 0  # none of these files has 15 equal closes in a row; the unit test below covers it


def test_incremental_forms_are_bounded_per_candle():
    """The state does not grow with the history: a window indicator keeps ``period`` values."""
    bands = ind.BollingerBands(20)
    for x in np.linspace(100.0, 200.0, 5000).tolist():
        bands.update(x)
    assert len(bands._window.values) == 20
    ultosc = ind.UltimateOscillator(7, 14, 28)
    for k in range(500):
        ultosc.update(101.0 + k % 3, 99.0, 100.0 + k % 2)
    assert len(ultosc._bp) == 28


def test_flat_market_values_are_defined():
    rsi, cmo, cci = ind.RSI(3), ind.CMO(3), ind.CCI(3)
    for _ in range(6):
        r, m, k = rsi.update(5.0), cmo.update(5.0), cci.update(5.0, 5.0, 5.0)
    assert (r, m, k) == (50.0, 0.0, 0.0)


@pytest.mark.parametrize("make, message", [
    (lambda: ind.SMA(0), "SMA period"),
    (lambda: ind.EMA(2.5), "EMA period"),
    (lambda: ind.MACD(26, 12), "fast"),
    (lambda: ind.PPO(ma="wma"), "ma must be"),
    (lambda: ind.UltimateOscillator(14, 7, 28), "short < mid < long"),
    (lambda: ind.BollingerBands(20, -1), "k must be"),
])
def test_bad_parameters_name_the_problem(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_first_values_come_when_documented():
    closes = [float(k % 7 + 1) for k in range(60)]
    first = {}
    for label, obj in [("ema", ind.EMA(5)), ("rsi", ind.RSI(5)), ("macd", ind.MACD(3, 6, 4)), ("trix", ind.TRIX(4)),
                       ("roc", ind.ROC(3)), ("ppo", ind.PPO(3, 6))]:
        first[label] = next(i for i, x in enumerate(closes) if obj.update(x) is not None) + 1  # 1-based
    assert first == {"ema": 5, "rsi": 6, "macd": 6 + 4 - 1, "trix": 3 * (4 - 1) + 2, "roc": 4, "ppo": 6}
    assert math.isclose(ind.replay(ind.EMA(5), closes)[4], sum(closes[:5]) / 5)
