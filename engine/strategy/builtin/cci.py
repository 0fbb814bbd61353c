"""``cci``: buy when the Commodity Channel Index is below ``lower``, sell above ``upper``."""

from __future__ import annotations

from pydantic import Field, model_validator

from engine.models import Candle, Signal
from engine.strategy.base import Strategy, StrategyContext, StrategyParams
from engine.strategy.builtin._vector import exact_diff, levels, replayed
from engine.strategy.indicators import CCI, cci
from engine.strategy.registry import register


@register("cci")
class CciReversion(Strategy):
    """Mean reversion on Lambert's CCI of the typical price: BUY on a candle whose CCI is
    below ``lower`` (oversold), SELL on one above ``upper`` (overbought)."""

    class Params(StrategyParams):
        period: int = Field(20, ge=2, le=1000, description="CCI period, candles")
        lower: float = Field(-100.0, ge=-1000, le=1000, description="oversold level")
        upper: float = Field(100.0, ge=-1000, le=1000, description="overbought level")

        @model_validator(mode="after")
        def _lower_below_upper(self) -> "CciReversion.Params":
            if self.lower >= self.upper:
                raise ValueError(f"lower ({self.lower}) must be smaller than upper ({self.upper})")
            return self

    search_space = {"period": [14, 20, 30, 40], "lower": [-200.0, -150.0, -100.0], "upper": [100.0, 150.0, 200.0]}

    def __init__(self, params: "CciReversion.Params"):
        super().__init__(params)
        self._cci = CCI(params.period)

    @property
    def warmup(self) -> int:
        return self.params.period

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> Signal | None:
        value = self._cci.update(candle.high, candle.low, candle.close)
        if value is None:
            return None
        if value < self.params.lower:
            return Signal.BUY
        if value > self.params.upper:
            return Signal.SELL
        return None

    def signals(self, df):
        """Vectorised :meth:`on_candle`: +1 BUY, -1 SELL, candle for candle."""
        h, lo, c = (df[k].to_numpy(dtype=float) for k in ("high", "low", "close"))
        p = self.params
        value = cci(h, lo, c, p.period)
        exact = replayed(lambda: CCI(p.period), h, lo, c)
        below = exact_diff(value, p.lower, lambda idx: (exact(idx), p.lower)) < 0
        above = exact_diff(value, p.upper, lambda idx: (exact(idx), p.upper)) > 0
        return levels(below, above)
