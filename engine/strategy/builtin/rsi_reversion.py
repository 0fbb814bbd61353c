"""``rsi_reversion``: buy oversold, sell overbought, on Wilder's RSI of closes."""

from __future__ import annotations

from pydantic import Field, model_validator

from engine.models import Candle, Signal
from engine.strategy.base import Strategy, StrategyContext, StrategyParams
from engine.strategy.indicators import RSI
from engine.strategy.registry import register


@register("rsi_reversion")
class RsiReversion(Strategy):
    """Mean reversion on RSI levels.

    BUY on every candle whose RSI is below ``lower``, SELL on every candle above ``upper``
    (the engine acts only on the first one that matches its position: a BUY when flat, a
    SELL when long).
    """

    class Params(StrategyParams):
        period: int = Field(14, ge=1, description="RSI period, candles")
        lower: float = Field(30.0, gt=0, lt=100, description="oversold level")
        upper: float = Field(70.0, gt=0, lt=100, description="overbought level")

        @model_validator(mode="after")
        def _lower_below_upper(self) -> "RsiReversion.Params":
            if self.lower >= self.upper:
                raise ValueError(f"lower ({self.lower}) must be smaller than upper ({self.upper})")
            return self

    def __init__(self, params: "RsiReversion.Params"):
        super().__init__(params)
        self._rsi = RSI(params.period)

    @property
    def warmup(self) -> int:
        return self.params.period + 1

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> Signal | None:
        rsi = self._rsi.update(candle.close)
        if rsi is None:
            return None
        if rsi < self.params.lower:
            return Signal.BUY
        if rsi > self.params.upper:
            return Signal.SELL
        return None
