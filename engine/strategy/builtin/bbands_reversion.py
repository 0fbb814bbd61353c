"""``bbands_reversion``: buy a close below the lower Bollinger band, sell back above the middle."""

from __future__ import annotations

from pydantic import Field

from engine.models import Candle, Signal
from engine.strategy.base import Strategy, StrategyContext, StrategyParams
from engine.strategy.builtin._vector import exact_diff, levels, replayed
from engine.strategy.indicators import BollingerBands, bbands
from engine.strategy.registry import register


@register("bbands_reversion")
class BbandsReversion(Strategy):
    """Mean reversion on Bollinger bands of closes: BUY on a candle that closes below the
    lower band, SELL on one that closes above the middle band (the mean it reverts to)."""

    class Params(StrategyParams):
        period: int = Field(20, ge=2, le=1000, description="band period, candles")
        k: float = Field(2.0, gt=0, le=10, description="band width, standard deviations")

    search_space = {"period": [10, 20, 30, 50], "k": [1.5, 2.0, 2.5, 3.0]}

    def __init__(self, params: "BbandsReversion.Params"):
        super().__init__(params)
        self._bands = BollingerBands(params.period, params.k)

    @property
    def warmup(self) -> int:
        return self.params.period

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> Signal | None:
        bands = self._bands.update(candle.close)
        if bands is None:
            return None
        lower, middle, _ = bands
        if candle.close < lower:
            return Signal.BUY
        if candle.close > middle:
            return Signal.SELL
        return None

    def signals(self, df):
        """Vectorised :meth:`on_candle`: +1 BUY, -1 SELL, candle for candle."""
        close = df["close"].to_numpy(dtype=float)
        p = self.params
        lower, middle, _ = bbands(close, p.period, p.k)
        exact_lower = replayed(lambda: BollingerBands(p.period, p.k), close, line=0)
        exact_middle = replayed(lambda: BollingerBands(p.period, p.k), close, line=1)
        below = exact_diff(close, lower, lambda idx: (close[idx], exact_lower(idx))) < 0
        above = exact_diff(close, middle, lambda idx: (close[idx], exact_middle(idx))) > 0
        return levels(below, above)
