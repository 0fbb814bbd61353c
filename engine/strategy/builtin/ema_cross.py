"""``ema_cross``: long when the fast EMA crosses above the slow EMA, out when it crosses below."""

from __future__ import annotations

from pydantic import Field, model_validator

from engine.models import Candle
from engine.strategy.base import StrategyParams
from engine.strategy.builtin._vector import Crossover, allow_short_field, replayed
from engine.strategy.indicators import EMA, ema
from engine.strategy.registry import register


@register("ema_cross")
class EmaCross(Crossover):
    """Exponential moving-average crossover on closes (rules as ``sma_cross``).

    An EMA depends on every close since it was seeded: the daemon warms it on ten times
    ``warmup`` candles of history, after which the seed's weight is below 1e-7.
    """

    class Params(StrategyParams):
        fast: int = Field(12, ge=1, le=1000, description="fast EMA period, candles")
        slow: int = Field(26, ge=2, le=5000, description="slow EMA period, candles")
        allow_short: bool = allow_short_field()

        @model_validator(mode="after")
        def _fast_below_slow(self) -> "EmaCross.Params":
            if self.fast >= self.slow:
                raise ValueError(f"fast ({self.fast}) must be smaller than slow ({self.slow})")
            return self

    search_space = {"fast": [5, 8, 12, 20, 30], "slow": [26, 50, 75, 100, 150]}

    def __init__(self, params: "EmaCross.Params"):
        super().__init__(params)
        self._fast = EMA(params.fast)
        self._slow = EMA(params.slow)

    @property
    def warmup(self) -> int:
        return self.params.slow + 1

    def lines(self, candle: Candle):
        fast, slow = self._fast.update(candle.close), self._slow.update(candle.close)
        return None if fast is None or slow is None else (fast, slow)

    def line_arrays(self, df):
        close = df["close"].to_numpy(dtype=float)
        f, s = self.params.fast, self.params.slow
        exact_f, exact_s = replayed(lambda: EMA(f), close), replayed(lambda: EMA(s), close)
        return ema(close, f), ema(close, s), lambda idx: (exact_f(idx), exact_s(idx))
