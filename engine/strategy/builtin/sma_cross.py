"""``sma_cross``: long when the fast SMA crosses above the slow SMA, out when it crosses below."""

from __future__ import annotations

from pydantic import Field, model_validator

from engine.models import Candle, Signal
from engine.strategy.base import Strategy, StrategyContext, StrategyParams
from engine.strategy.indicators import SMA
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
