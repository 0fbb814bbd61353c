"""Moving averages: SMA and EMA, incremental and vectorised.

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
