"""Incremental indicators: O(1) state per new closed candle, for the event-driven engine.

Each ``update(x)`` takes the newest value and returns the indicator value, or ``None``
during warm-up. Values equal the usual vectorised definitions (pandas ``rolling().mean()``,
Wilder's RSI) after warm-up; the tests check them on real data.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pandas as pd


class SMA:
    """Simple moving average of the last ``period`` values.

    The window sum is kept with :func:`math.fsum` semantics (exactly rounded) by summing the
    window each update; for the short windows strategies use this costs less than the
    drift of a running sum.
    """

    __slots__ = ("period", "_window")

    def __init__(self, period: int):
        if period < 1:
            raise ValueError("SMA period must be >= 1")
        self.period = period
        self._window: deque[float] = deque(maxlen=period)

    def update(self, x: float) -> float | None:
        """Add the newest value; the average once ``period`` values were seen, else None."""
        self._window.append(x)
        if len(self._window) < self.period:
            return None
        return math.fsum(self._window) / self.period


def sma(values: np.ndarray, period: int) -> np.ndarray:
    """Vectorised :class:`SMA`: the mean of each window of ``period`` values, NaN before.

    Uses pandas' rolling mean (a compensated running sum), which equals :class:`SMA`'s exactly
    rounded window sum to about 1e-12 relative on price data; where a decision depends on
    a difference smaller than that, use :func:`sma_exact` for those candles.

    Raises:
        ValueError: ``period < 1``.
    """
    if period < 1:
        raise ValueError("SMA period must be >= 1")
    return pd.Series(values, copy=False).rolling(period).mean().to_numpy()


def sma_exact(values: np.ndarray, period: int, at: np.ndarray) -> np.ndarray:
    """:class:`SMA`'s own value (``fsum`` of the window / period) at the indices ``at``
    (each ``>= period - 1``): the same float the incremental form returns."""
    return np.array([math.fsum(values[i - period + 1:i + 1].tolist()) / period for i in at.tolist()])


class RSI:
    """Relative Strength Index with Wilder's smoothing (Wilder, *New Concepts in Technical
    Trading Systems*, 1978; the TA-Lib definition).

    The first average gain/loss is the simple mean of the first ``period`` changes; after
    that ``avg = (avg * (period - 1) + x) / period``. RSI = 100 - 100 / (1 + avg_gain / avg_loss),
    100 when avg_loss is 0. The first value appears after ``period + 1`` inputs.
    """

    __slots__ = ("period", "_prev", "_gains", "_losses", "_avg_gain", "_avg_loss", "_n")

    def __init__(self, period: int):
        if period < 1:
            raise ValueError("RSI period must be >= 1")
        self.period = period
        self._prev: float | None = None
        self._gains = 0.0
        self._losses = 0.0
        self._avg_gain = 0.0
        self._avg_loss = 0.0
        self._n = 0

    def update(self, x: float) -> float | None:
        """Add the newest close; the RSI in [0, 100] once warm, else None."""
        prev, self._prev = self._prev, x
        if prev is None:
            return None
        change = x - prev
        gain, loss = (change, 0.0) if change > 0 else (0.0, -change)
        self._n += 1
        p = self.period
        if self._n < p:
            self._gains += gain
            self._losses += loss
            return None
        if self._n == p:
            self._avg_gain = (self._gains + gain) / p
            self._avg_loss = (self._losses + loss) / p
        else:
            self._avg_gain = (self._avg_gain * (p - 1) + gain) / p
            self._avg_loss = (self._avg_loss * (p - 1) + loss) / p
        if self._avg_loss == 0.0:
            return 100.0
        return 100.0 - 100.0 / (1.0 + self._avg_gain / self._avg_loss)


class ATR:
    """Average True Range with Wilder's smoothing (Wilder 1978; the TA-Lib definition).

    True range ``TR = max(high - low, |high - prev_close|, |low - prev_close|)``; the first
    ATR is the mean of the first ``period`` TRs (from the second candle on), then
    ``atr = (atr * (period - 1) + TR) / period``. Units: quote per base.
    """

    __slots__ = ("period", "_prev_close", "_sum", "_n", "value")

    def __init__(self, period: int = 14):
        if period < 1:
            raise ValueError("ATR period must be >= 1")
        self.period = period
        self._prev_close: float | None = None
        self._sum = 0.0
        self._n = 0
        self.value: float | None = None

    def update(self, high: float, low: float, close: float) -> float | None:
        """Add a closed candle; the ATR once warm, else None."""
        prev, self._prev_close = self._prev_close, close
        if prev is None:
            return None
        tr = max(high - low, abs(high - prev), abs(low - prev))
        self._n += 1
        if self._n < self.period:
            self._sum += tr
        elif self._n == self.period:
            self.value = (self._sum + tr) / self.period
        else:
            self.value = (self.value * (self.period - 1) + tr) / self.period
        return self.value
