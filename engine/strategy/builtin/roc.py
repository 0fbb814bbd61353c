"""``roc``: momentum on the rate of change: long while it is above ``threshold`` percent."""

from __future__ import annotations

from pydantic import Field

from engine.models import Candle, Signal
from engine.strategy.base import Strategy, StrategyContext, StrategyParams
from engine.strategy.builtin._vector import exact_diff, levels, replayed
from engine.strategy.indicators import ROC, roc
from engine.strategy.registry import register


@register("roc")
class RocMomentum(Strategy):
    """Momentum on the close's rate of change over ``period`` candles (percent): BUY on a
    candle whose ROC is above ``threshold``, SELL on one below ``-threshold``."""

    class Params(StrategyParams):
        period: int = Field(10, ge=1, le=1000, description="ROC look-back, candles")
        threshold: float = Field(1.0, ge=0, le=100, description="entry level, percent (exit at minus it)")

    search_space = {"period": [5, 10, 20, 40], "threshold": [0.0, 0.5, 1.0, 2.0, 4.0]}

    def __init__(self, params: "RocMomentum.Params"):
        super().__init__(params)
        self._roc = ROC(params.period)

    @property
    def warmup(self) -> int:
        return self.params.period + 1

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> Signal | None:
        value = self._roc.update(candle.close)
        if value is None:
            return None
        if value > self.params.threshold:
            return Signal.BUY
        if value < -self.params.threshold:
            return Signal.SELL
        return None

    def signals(self, df):
        """Vectorised :meth:`on_candle`: +1 BUY, -1 SELL, candle for candle."""
        close = df["close"].to_numpy(dtype=float)
        p = self.params
        value = roc(close, p.period)
        exact = replayed(lambda: ROC(p.period), close)
        up = exact_diff(value, p.threshold, lambda idx: (exact(idx), p.threshold)) > 0
        down = exact_diff(value, -p.threshold, lambda idx: (exact(idx), -p.threshold)) < 0
        return levels(up, down)
