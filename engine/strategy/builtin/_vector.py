"""Helpers for the built-in strategies' vectorised ``signals(df)``.

The vectorised indicators equal the incremental ones to ~1e-12 relative; a decision such as
``fast > slow`` can only differ between the two forms where the two sides are closer than
that. :func:`exact_diff` takes the fast difference and, only at those near-ties, replaces it
with the incremental form's exact floats, so ``signals(df)`` agrees with ``on_candle``
candle for candle (``quantd validate`` and ``tests/test_strategies.py`` check it).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from pydantic import Field

from engine.models import Candle, Signal
from engine.strategy.base import Strategy, StrategyContext
from engine.strategy.indicators import replay

TIE = 1e-9
"""Relative gap below which a decision is recomputed exactly."""

CODE = {Signal.BUY: 1, Signal.SELL: -1, Signal.ENTER_SHORT: 2, Signal.EXIT_SHORT: -2, None: 0}
"""The vectorised codes: +1/-1 enter/exit long, +2/-2 enter/exit short, 0 nothing."""


def exact_diff(a: np.ndarray, b: np.ndarray | float,
               exact: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | float]]) -> np.ndarray:
    """``a - b`` with the sign the incremental form gives.

    Args:
        a, b: vectorised values (NaN during warm-up); ``b`` may be a constant level.
        exact: given the near-tie candle indices, returns the incremental form's ``(a, b)``
            at them; called only when there is one.
    """
    diff = np.asarray(a - b, dtype=float)
    scale = np.maximum(np.abs(a), np.abs(b))
    near = np.flatnonzero(np.abs(diff) <= TIE * scale)
    if near.size:
        ea, eb = exact(near)
        diff[near] = np.asarray(ea) - np.asarray(eb)
    return diff


def replayed(make: Callable[[], object], *columns: np.ndarray, line: int | None = None):
    """An ``exact`` callback for :func:`exact_diff`: replay a fresh incremental indicator
    (``make()``) over the columns, once, and index it (``line`` picks one output of a
    multi-line indicator)."""
    cache: list = []

    def at(idx: np.ndarray) -> np.ndarray:
        if not cache:
            values = replay(make(), *columns)
            cache.append(values if line is None else values[line])
        return cache[0][idx]

    return at


def previous(x: np.ndarray) -> np.ndarray:
    """``x`` shifted one candle later (NaN first): the value at the previous candle."""
    out = np.empty_like(x, dtype=float)
    out[0] = np.nan
    out[1:] = x[:-1]
    return out


def crossings(diff: np.ndarray) -> np.ndarray:
    """+1 where ``diff`` turns positive (from <= 0), -1 where it turns negative (from >= 0),
    as int8; NaN on either candle gives 0 (the incremental forms need both candles)."""
    prev = previous(diff)
    out = np.zeros(diff.size, dtype=np.int8)
    out[(diff > 0) & (prev <= 0)] = 1
    out[(diff < 0) & (prev >= 0)] = -1
    return out


def levels(buy: np.ndarray, sell: np.ndarray) -> np.ndarray:
    """+1 where ``buy`` (a boolean array) holds, else -1 where ``sell`` does, as int8 (the
    order the strategies test them in ``on_candle``)."""
    out = np.zeros(buy.size, dtype=np.int8)
    out[sell] = -1
    out[buy] = 1
    return out


def as_signal(code: int) -> Signal | None:
    """The signal of a vectorised code (:data:`CODE`): +1 BUY, -1 SELL, +2 ENTER_SHORT,
    -2 EXIT_SHORT, 0 None."""
    return _SIGNAL_OF[int(code)]


_SIGNAL_OF = {v: k for k, v in CODE.items()}


def allow_short_field():
    """The ``allow_short`` parameter every crossover strategy has (last in its ``Params``)."""
    return Field(False, description="a cross below enters a short (needs market futures); off: it only exits "
                                    "the long")


class Crossover(Strategy):
    """Base of the crossover strategies: BUY where line ``a`` crosses above line ``b``
    (``a > b`` after ``a <= b`` on the previous candle), SELL where it crosses below. Both
    lines must be defined on both candles.

    Subclasses give the lines both ways: :meth:`lines` for one closed candle (incremental,
    None during warm-up) and :meth:`line_arrays` for all candles (vectorised, NaN during
    warm-up, with the ``exact`` callback of :func:`exact_diff`).
    """

    def __init__(self, params):
        super().__init__(params)
        self._prev_diff: float | None = None
        self._down = Signal.ENTER_SHORT if params.allow_short else Signal.SELL
        """The signal of a cross below: SELL (exit the long), or ENTER_SHORT with ``allow_short``
        (a cross above is BUY either way: it enters a long, or closes the short and then enters)."""

    def lines(self, candle: Candle) -> tuple[float, float] | None:
        raise NotImplementedError

    def line_arrays(self, df: pd.DataFrame):
        raise NotImplementedError

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> Signal | None:
        pair = self.lines(candle)
        if pair is None:
            return None
        a, b = pair
        prev, self._prev_diff = self._prev_diff, a - b
        if prev is None:
            return None
        if a > b and prev <= 0:
            return Signal.BUY
        if a < b and prev >= 0:
            return self._down
        return None

    def signals(self, df: pd.DataFrame) -> np.ndarray:
        """Vectorised :meth:`on_candle`: +1 BUY, -1 SELL, candle for candle."""
        a, b, exact = self.line_arrays(df)
        out = crossings(exact_diff(a, b, exact))
        if self.params.allow_short:
            out[out < 0] = CODE[Signal.ENTER_SHORT]
        return out
