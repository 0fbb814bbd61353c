"""``sma_cross``: long when the fast SMA crosses above the slow SMA, out when it crosses below."""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from engine.models import Candle, Signal
from engine.strategy.base import Strategy, StrategyContext, StrategyParams
from engine.strategy.indicators import SMA, sma, sma_exact
from engine.strategy.registry import register


@register("sma_cross")
class SmaCross(Strategy):
    """Moving-average crossover on closes.

    BUY on the candle where ``fast > slow`` after ``fast <= slow`` on the previous candle;
    SELL where ``fast < slow`` after ``fast >= slow``. Both averages must be defined on both
    candles, so the first signal can come on candle ``slow + 1``.
    """

    class Params(StrategyParams):
        fast: int = Field(10, ge=1, description="fast SMA period, candles")
        slow: int = Field(30, ge=2, description="slow SMA period, candles")

        @model_validator(mode="after")
        def _fast_below_slow(self) -> "SmaCross.Params":
            if self.fast >= self.slow:
                raise ValueError(f"fast ({self.fast}) must be smaller than slow ({self.slow})")
            return self

    def __init__(self, params: "SmaCross.Params"):
        super().__init__(params)
        self._fast = SMA(params.fast)
        self._slow = SMA(params.slow)
        self._prev: tuple[float, float] | None = None

    @property
    def warmup(self) -> int:
        return self.params.slow + 1

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> Signal | None:
        fast, slow = self._fast.update(candle.close), self._slow.update(candle.close)
        if fast is None or slow is None:
            return None
        prev, self._prev = self._prev, (fast, slow)
        if prev is None:
            return None
        if fast > slow and prev[0] <= prev[1]:
            return Signal.BUY
        if fast < slow and prev[0] >= prev[1]:
            return Signal.SELL
        return None

    TIE = 1e-9
    """Relative gap between the averages below which the vectorised form recomputes them
    exactly (pandas' rolling mean is within ~1e-12 of the exactly rounded one)."""

    def signals(self, df) -> np.ndarray:
        """Vectorised :meth:`on_candle` (same crossings, candle for candle): +1 BUY, -1 SELL."""
        close = df["close"].to_numpy(dtype=float)
        f, s = self.params.fast, self.params.slow
        fast, slow = sma(close, f), sma(close, s)
        diff = fast - slow  # x - y > 0 exactly when x > y for finite floats
        near = np.flatnonzero(np.abs(diff) <= self.TIE * np.abs(slow))
        if near.size:  # the sign is not certain from the fast path: use the incremental maths
            diff[near] = sma_exact(close, f, near) - sma_exact(close, s, near)
        prev = np.empty_like(diff)
        prev[0] = np.nan
        prev[1:] = diff[:-1]
        out = np.zeros(len(close), dtype=np.int8)
        out[(diff > 0) & (prev <= 0)] = 1
        out[(diff < 0) & (prev >= 0)] = -1
        return out
