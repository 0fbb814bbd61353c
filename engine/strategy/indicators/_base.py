"""Shared helpers of the indicators: argument checks, the exact window and the seeded smoother.

See :mod:`engine.strategy.indicators` for the conventions shared by every indicator.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np
import pandas as pd


def _check_period(name: str, period: int, minimum: int = 1) -> None:
    if int(period) != period or period < minimum:
        raise ValueError(f"{name} period must be an integer >= {minimum}, got {period!r}")


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan)


def _arr(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=float)


def _smooth(values: np.ndarray, period: int, alpha: float, start: int = 0) -> np.ndarray:
    """Exponential smoothing seeded with the mean of ``values[start:start + period]``.

    Returns NaN before index ``start + period - 1``; ``alpha`` is ``2 / (period + 1)`` for an
    EMA and ``1 / period`` for Wilder's smoothing.
    """
    n = values.size
    out = _nan(n)
    first = start + period - 1
    if first >= n:
        return out
    seed = math.fsum(values[start:first + 1].tolist()) / period
    tail = np.concatenate(([seed], values[first + 1:]))
    out[first:] = pd.Series(tail, copy=False).ewm(alpha=alpha, adjust=False).mean().to_numpy()
    return out


def replay(indicator: Any, *columns: Any) -> np.ndarray | tuple[np.ndarray, ...]:
    """Run an incremental indicator over whole columns: its exact values as arrays.

    Args:
        indicator: a fresh instance, e.g. ``EMA(20)``.
        columns: the arrays its ``update`` takes, in order (``close``; or ``high, low,
            close``; or ``close, volume``), all the same length.

    Returns:
        One float array (NaN during warm-up), or a tuple of arrays for an indicator whose
        ``update`` returns a tuple.
    """
    cols = [_arr(c).tolist() for c in columns]
    values = [indicator.update(*row) for row in zip(*cols)]
    width = next((len(v) for v in values if isinstance(v, tuple)), 0)
    if not width:
        return np.array([np.nan if v is None else v for v in values], dtype=float)
    return tuple(np.array([np.nan if v is None else v[k] for v in values], dtype=float) for k in range(width))


class _Window:
    """The last ``period`` values, summed exactly."""

    __slots__ = ("period", "values")

    def __init__(self, period: int):
        self.period = period
        self.values: deque[float] = deque(maxlen=period)

    def push(self, x: float) -> bool:
        """Add ``x``; True once the window is full."""
        self.values.append(x)
        return len(self.values) == self.period

    def mean(self) -> float:
        return math.fsum(self.values) / self.period


class _Smoother:
    """Seeded exponential smoothing (see the module docstring); ``None`` until seeded."""

    __slots__ = ("period", "alpha", "wilder", "_seed", "value")

    def __init__(self, period: int, wilder: bool = False):
        self.period = period
        self.wilder = wilder
        self.alpha = 1.0 / period if wilder else 2.0 / (period + 1)
        self._seed: list[float] = []
        self.value: float | None = None

    def update(self, x: float) -> float | None:
        if self.value is None:
            self._seed.append(x)
            if len(self._seed) < self.period:
                return None
            self.value = math.fsum(self._seed) / self.period
            self._seed = []
        elif self.wilder:
            self.value = (self.value * (self.period - 1) + x) / self.period
        else:
            self.value = (x - self.value) * self.alpha + self.value
        return self.value
