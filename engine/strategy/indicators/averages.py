"""Moving averages: SMA and EMA, incremental and vectorised; two SMAs of one price series.

See :mod:`engine.strategy.indicators` for the conventions shared by every indicator.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pandas as pd

from engine.strategy.indicators._base import _arr, _check_period, _smooth, _Smoother


class SMA:
    """Simple moving average of the last ``period`` values (exactly rounded window sum).

    Raises:
        ValueError: ``period < 1``.
    """

    __slots__ = ("period", "_values")

    def __init__(self, period: int):
        _check_period("SMA", period)
        self.period = period
        self._values: deque[float] = deque(maxlen=period)

    def update(self, x: float) -> float | None:
        """Add the newest value; the average once ``period`` values were seen, else None."""
        values = self._values
        values.append(x)
        return math.fsum(values) / self.period if len(values) == self.period else None


_EXACT_SCALE = 2.0 ** 100
"""A float times this is an integer, exactly, for any magnitude down to 2**-48 (about 3.6e-15):
a power-of-two scale changes the exponent, never the digits."""
_UNSCALE = 2.0 ** -100


class SMAPair:
    """A fast and a slow simple moving average of one series (closes, quote per base), kept as
    running integer sums over one shared window.

    Each value is held as its exact binary value in units of 2**-100 (an integer: ``int(x *
    2**100)`` loses nothing for ``|x| >= 2**-48``). Each candle adds the newest integer to
    both sums and subtracts the ones leaving the windows: integer sums never round, so they
    never drift however long the run, and a candle costs the same whatever the periods. Each
    average is ``float(sum) x 2**-100 / period``: ``float`` of an integer rounds correctly, so
    this is the float :func:`math.fsum` of the window gives, divided by the period, which
    :class:`SMA` and :func:`sma_exact` return (the same trades as before, to the bit).

    Raises:
        ValueError: a period < 1, or ``fast > slow``.
    """

    __slots__ = ("fast", "slow", "_window", "_fast_sum", "_slow_sum")

    def __init__(self, fast: int, slow: int):
        _check_period("SMA", fast)
        _check_period("SMA", slow)
        if fast > slow:
            raise ValueError(f"SMAPair: the fast period ({fast}) must not exceed the slow one ({slow})")
        self.fast, self.slow = fast, slow
        self._window: deque[int] = deque(maxlen=slow)
        self._fast_sum = self._slow_sum = 0

    def update(self, x: float) -> tuple[float, float] | None:
        """Add the newest value; ``(fast, slow)`` once ``slow`` values were seen, else None."""
        raw = int(x * _EXACT_SCALE)
        window = self._window
        seen = len(window)
        if seen == self.slow:  # full: the oldest leaves the slow window, the fast one's leaves it too
            self._slow_sum += raw - window[0]
            self._fast_sum += raw - window[-self.fast]
            window.append(raw)
        else:
            self._slow_sum += raw
            self._fast_sum += raw - window[-self.fast] if seen >= self.fast else raw
            window.append(raw)
            if seen + 1 < self.slow:
                return None
        return float(self._fast_sum) * _UNSCALE / self.fast, float(self._slow_sum) * _UNSCALE / self.slow


def sma(values: np.ndarray, period: int) -> np.ndarray:
    """Vectorised :class:`SMA`: the mean of each window of ``period`` values, NaN before.

    Uses pandas' rolling mean (a compensated running sum), which equals :class:`SMA`'s exactly
    rounded window sum to about 1e-12 relative on price data; where a decision depends on
    a difference smaller than that, use :func:`sma_exact` for those candles.

    Raises:
        ValueError: ``period < 1``.
    """
    _check_period("SMA", period)
    return pd.Series(_arr(values), copy=False).rolling(period).mean().to_numpy()


def sma_exact(values: np.ndarray, period: int, at: np.ndarray) -> np.ndarray:
    """:class:`SMA`'s own value (``fsum`` of the window / period) at the indices ``at``
    (each ``>= period - 1``): the same float the incremental form returns."""
    return np.array([math.fsum(values[i - period + 1:i + 1].tolist()) / period for i in at.tolist()])


class EMA:
    """Exponential moving average, ``alpha = 2 / (period + 1)``, seeded with the SMA of the
    first ``period`` values (TA-Lib ``EMA``); the first value comes with the ``period``-th input.

    Raises:
        ValueError: ``period < 1``.
    """

    __slots__ = ("period", "_s")

    def __init__(self, period: int):
        _check_period("EMA", period)
        self.period = period
        self._s = _Smoother(period)

    def update(self, x: float) -> float | None:
        """Add the newest value; the EMA once seeded, else None."""
        return self._s.update(x)


def ema(values: np.ndarray, period: int) -> np.ndarray:
    """Vectorised :class:`EMA` (NaN for the first ``period - 1`` values)."""
    _check_period("EMA", period)
    return _smooth(_arr(values), period, 2.0 / (period + 1))
