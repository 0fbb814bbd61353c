"""Bands and channels: Bollinger bands and the Donchian channel.

See :mod:`engine.strategy.indicators` for the conventions shared by every indicator.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pandas as pd

from engine.strategy.indicators._base import _arr, _check_period, _Window


class BollingerBands:
    """Bollinger bands (Bollinger, 1980s; TA-Lib ``BBANDS`` with an SMA):
    ``middle = SMA(period)``, ``upper/lower = middle +/- k * sigma`` with ``sigma`` the
    population standard deviation of the window. Units: the input's.

    Raises:
        ValueError: ``period < 1`` or ``k < 0``.
    """

    __slots__ = ("k", "_window")

    def __init__(self, period: int = 20, k: float = 2.0):
        _check_period("Bollinger", period)
        if not k >= 0:
            raise ValueError(f"Bollinger k must be >= 0, got {k!r}")
        self.k = k
        self._window = _Window(period)

    def update(self, x: float) -> tuple[float, float, float] | None:
        """Add the newest value; ``(lower, middle, upper)`` once warm, else None."""
        w = self._window
        if not w.push(x):
            return None
        mid = w.mean()
        sigma = math.sqrt(math.fsum((v - mid) ** 2 for v in w.values) / w.period)
        return mid - self.k * sigma, mid, mid + self.k * sigma


def bbands(values: np.ndarray, period: int = 20, k: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised :class:`BollingerBands`: ``(lower, middle, upper)``."""
    BollingerBands(period, k)  # validates
    s = pd.Series(_arr(values), copy=False).rolling(period)
    mid = s.mean().to_numpy()
    sigma = s.std(ddof=0).to_numpy()
    return mid - k * sigma, mid, mid + k * sigma


class Donchian:
    """Donchian channel: the highest high and lowest low of the last ``period`` candles,
    this one included (TA-Lib ``MAX(high)``/``MIN(low)``), and their midpoint.

    Raises:
        ValueError: ``period < 1``.
    """

    __slots__ = ("period", "_highs", "_lows")

    def __init__(self, period: int = 20):
        _check_period("Donchian", period)
        self.period = period
        self._highs: deque[float] = deque(maxlen=period)
        self._lows: deque[float] = deque(maxlen=period)

    def update(self, high: float, low: float) -> tuple[float, float, float] | None:
        """Add a closed candle's high and low; ``(lower, middle, upper)`` once warm, else None."""
        self._highs.append(high)
        self._lows.append(low)
        if len(self._highs) < self.period:
            return None
        hi, lo = max(self._highs), min(self._lows)
        return lo, (hi + lo) / 2.0, hi


def donchian(high: np.ndarray, low: np.ndarray, period: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised :class:`Donchian`: ``(lower, middle, upper)``."""
    _check_period("Donchian", period)
    hi = pd.Series(_arr(high), copy=False).rolling(period).max().to_numpy()
    lo = pd.Series(_arr(low), copy=False).rolling(period).min().to_numpy()
    return lo, (hi + lo) / 2.0, hi
