"""``sma_cross``: long when the fast SMA crosses above the slow SMA, out when it crosses below."""

from __future__ import annotations

from pydantic import Field, model_validator

from engine.models import Candle
from engine.strategy.base import StrategyParams
from engine.strategy.builtin._vector import Crossover, allow_short_field
from engine.strategy.indicators import SMAPair, sma, sma_exact
from engine.strategy.registry import register


@register("sma_cross")
class SmaCross(Crossover):
    """Moving-average crossover on closes.

    BUY on the candle where ``fast > slow`` after ``fast <= slow`` on the previous candle;
    SELL where ``fast < slow`` after ``fast >= slow``. Both averages must be defined on both
    candles, so the first signal can come on candle ``slow + 1``.
    """

    class Params(StrategyParams):
        fast: int = Field(10, ge=1, le=1000, description="fast SMA period, candles")
        slow: int = Field(30, ge=2, le=5000, description="slow SMA period, candles")
        allow_short: bool = allow_short_field()

        @model_validator(mode="after")
        def _fast_below_slow(self) -> "SmaCross.Params":
            if self.fast >= self.slow:
                raise ValueError(f"fast ({self.fast}) must be smaller than slow ({self.slow})")
            return self

    search_space = {"fast": [5, 10, 15, 20, 30, 40], "slow": [50, 75, 100, 150, 200]}

    def __init__(self, params: "SmaCross.Params"):
        super().__init__(params)
        self._smas = SMAPair(params.fast, params.slow)

    @property
    def warmup(self) -> int:
        return self.params.slow + 1

    def lines(self, candle: Candle):
        return self._smas.update(candle.close)

    def line_arrays(self, df):
        close = df["close"].to_numpy(dtype=float)
        f, s = self.params.fast, self.params.slow
        return sma(close, f), sma(close, s), lambda idx: (sma_exact(close, f, idx), sma_exact(close, s, idx))
