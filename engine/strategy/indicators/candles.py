"""Indicators on whole candles: ATR, CCI, the Ultimate Oscillator and OBV.

See :mod:`engine.strategy.indicators` for the conventions shared by every indicator.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pandas as pd

from engine.strategy.indicators._base import _arr, _check_period, _nan, _smooth, _Smoother, _Window
from engine.strategy.indicators.averages import sma


class ATR:
    """Average True Range with Wilder's smoothing (Wilder 1978; TA-Lib ``ATR``).

    True range ``TR = max(high - low, |high - prev_close|, |low - prev_close|)`` from the
    second candle on; the first ATR is the mean of the first ``period`` TRs, then Wilder's
    smoothing. The first value comes with the ``period + 1``-th candle. Units: quote per base.

    Raises:
        ValueError: ``period < 1``.
    """

    __slots__ = ("period", "_prev_close", "_s", "value")

    def __init__(self, period: int = 14):
        _check_period("ATR", period)
        self.period = period
        self._prev_close: float | None = None
        self._s = _Smoother(period, wilder=True)
        self.value: float | None = None

    def update(self, high: float, low: float, close: float) -> float | None:
        """Add a closed candle; the ATR once warm, else None."""
        prev, self._prev_close = self._prev_close, close
        if prev is None:
            return None
        self.value = self._s.update(max(high - low, abs(high - prev), abs(low - prev)))
        return self.value


def _true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    prev = np.concatenate(([np.nan], close[:-1]))
    return np.maximum(high - low, np.maximum(np.abs(high - prev), np.abs(low - prev)))


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """Vectorised :class:`ATR` (NaN for the first ``period`` candles)."""
    _check_period("ATR", period)
    return _smooth(_true_range(_arr(high), _arr(low), _arr(close)), period, 1.0 / period, start=1)


class CCI:
    """Commodity Channel Index (Lambert, 1980; TA-Lib ``CCI``): with the typical price
    ``tp = (high + low + close) / 3``, ``CCI = (tp - SMA(tp)) / (0.015 * mean |tp - SMA(tp)|)``
    over the last ``period`` candles; 0 when either part is 0.

    Raises:
        ValueError: ``period < 1``.
    """

    __slots__ = ("_window",)

    def __init__(self, period: int = 20):
        _check_period("CCI", period)
        self._window = _Window(period)

    def update(self, high: float, low: float, close: float) -> float | None:
        """Add a closed candle; the CCI once warm, else None."""
        w = self._window
        tp = (high + low + close) / 3.0
        if not w.push(tp):
            return None
        mean = w.mean()
        dev = math.fsum(abs(v - mean) for v in w.values) / w.period
        top = tp - mean
        return 0.0 if top == 0.0 or dev == 0.0 else top / (0.015 * dev)


def cci(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 20) -> np.ndarray:
    """Vectorised :class:`CCI` (NaN for the first ``period - 1`` candles). Memory is bounded:
    the mean deviation is computed over windows in blocks of 65,536 candles."""
    _check_period("CCI", period)
    tp = (_arr(high) + _arr(low) + _arr(close)) / 3.0
    n = tp.size
    out = _nan(n)
    if n < period:
        return out
    mean = sma(tp, period)
    dev = np.empty(n - period + 1)
    windows = np.lib.stride_tricks.sliding_window_view(tp, period)
    block = 65_536
    for a in range(0, windows.shape[0], block):
        w = windows[a:a + block]
        dev[a:a + block] = np.abs(w - mean[period - 1 + a:period - 1 + a + w.shape[0], None]).mean(axis=1)
    top = tp[period - 1:] - mean[period - 1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        out[period - 1:] = np.where((top == 0.0) | (dev == 0.0), 0.0, top / (0.015 * dev))
    return out


class UltimateOscillator:
    """Ultimate Oscillator (Williams, 1985; TA-Lib ``ULTOSC``): with
    ``bp = close - min(low, prev_close)`` and ``tr = max(high, prev_close) - min(low, prev_close)``,
    ``avg_n = sum(bp) / sum(tr)`` over the last n candles (0 when the range is 0), and
    ``UO = 100 * (4 avg_short + 2 avg_mid + avg_long) / 7``. The first value comes with the
    ``long + 1``-th candle.

    Raises:
        ValueError: a period < 1 or the periods not ``short < mid < long``.
    """

    __slots__ = ("periods", "_prev_close", "_bp", "_tr")

    def __init__(self, short: int = 7, mid: int = 14, long: int = 28):
        for name, p in (("short", short), ("mid", mid), ("long", long)):
            _check_period(f"Ultimate Oscillator {name}", p)
        if not short < mid < long:
            raise ValueError(f"Ultimate Oscillator periods must be short < mid < long, got {short}, {mid}, {long}")
        self.periods = (short, mid, long)
        self._prev_close: float | None = None
        self._bp: deque[float] = deque(maxlen=long)
        self._tr: deque[float] = deque(maxlen=long)

    def update(self, high: float, low: float, close: float) -> float | None:
        """Add a closed candle; the oscillator in [0, 100] once warm, else None."""
        prev, self._prev_close = self._prev_close, close
        if prev is None:
            return None
        true_low = min(low, prev)
        self._bp.append(close - true_low)
        self._tr.append(max(high, prev) - true_low)
        if len(self._bp) < self.periods[2]:
            return None
        bp, tr = list(self._bp), list(self._tr)
        total = 0.0
        for weight, p in zip((4.0, 2.0, 1.0), self.periods):
            r = math.fsum(tr[-p:])
            total += weight * (math.fsum(bp[-p:]) / r if r != 0.0 else 0.0)
        return 100.0 * total / 7.0


def ultosc(high: np.ndarray, low: np.ndarray, close: np.ndarray, short: int = 7, mid: int = 14,
           long: int = 28) -> np.ndarray:
    """Vectorised :class:`UltimateOscillator` (NaN for the first ``long`` candles)."""
    UltimateOscillator(short, mid, long)  # validates
    h, lo, c = _arr(high), _arr(low), _arr(close)
    prev = np.concatenate(([np.nan], c[:-1]))
    true_low = np.minimum(lo, prev)
    bp = pd.Series(c - true_low, copy=False)
    tr = pd.Series(np.maximum(h, prev) - true_low, copy=False)
    total = np.zeros(c.size)
    for weight, p in zip((4.0, 2.0, 1.0), (short, mid, long)):
        r = tr.rolling(p).sum().to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            total += weight * np.where(r != 0.0, bp.rolling(p).sum().to_numpy() / r, 0.0)
        total[np.isnan(r)] = np.nan
    out = 100.0 * total / 7.0
    out[:long] = np.nan
    return out


class OBV:
    """On-Balance Volume (Granville, 1963; TA-Lib ``OBV``): starts at the first candle's
    volume, then adds the volume on an up close and subtracts it on a down close. Units:
    base currency."""

    __slots__ = ("_prev", "value")

    def __init__(self) -> None:
        self._prev: float | None = None
        self.value = 0.0

    def update(self, close: float, volume: float) -> float:
        """Add a closed candle's close and volume; the running OBV."""
        prev, self._prev = self._prev, close
        if prev is None:
            self.value = volume
        elif close > prev:
            self.value += volume
        elif close < prev:
            self.value -= volume
        return self.value


def obv(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """Vectorised :class:`OBV` (a sequential cumulative sum, the incremental order)."""
    c, v = _arr(close), _arr(volume)
    step = np.sign(np.diff(c, prepend=np.nan))
    step[0] = 1.0
    return np.cumsum(step * v)
