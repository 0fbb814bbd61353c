"""``rsi_reversion``: buy oversold, sell overbought, on Wilder's RSI of closes."""

from __future__ import annotations

from pydantic import Field, model_validator

from engine.models import Candle, Signal
from engine.strategy.base import Strategy, StrategyContext, StrategyParams
from engine.strategy.builtin._vector import exact_diff, levels, replayed
from engine.strategy.indicators import RSI, rsi
from engine.strategy.registry import register


@register("rsi_reversion")
class RsiReversion(Strategy):
    """Mean reversion on RSI levels.

    BUY on every candle whose RSI is below ``lower``, SELL on every candle above ``upper``
    (the engine acts only on the first one that matches its position: a BUY when flat, a
    SELL when long; the repeats are refused by the ``signal_sanity`` risk rule, counted once
    per streak in a backtest's rejections, and trade nothing).
    """

    class Params(StrategyParams):
        period: int = Field(14, ge=1, le=1000, description="RSI period, candles")
        lower: float = Field(30.0, gt=0, lt=100, description="oversold level")
        upper: float = Field(70.0, gt=0, lt=100, description="overbought level")

        @model_validator(mode="after")
        def _lower_below_upper(self) -> "RsiReversion.Params":
            if self.lower >= self.upper:
                raise ValueError(f"lower ({self.lower}) must be smaller than upper ({self.upper})")
            return self

    search_space = {"period": [7, 14, 21], "lower": [20.0, 25.0, 30.0, 35.0], "upper": [65.0, 70.0, 75.0, 80.0]}

    def __init__(self, params: "RsiReversion.Params"):
        super().__init__(params)
        self._rsi = RSI(params.period)

    @property
    def warmup(self) -> int:
        return self.params.period + 1

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> Signal | None:
        rsi_now = self._rsi.update(candle.close)
        if rsi_now is None:
            return None
        if rsi_now < self.params.lower:
            return Signal.BUY
        if rsi_now > self.params.upper:
            return Signal.SELL
        return None

    def signals(self, df):
        """Vectorised :meth:`on_candle`: +1 BUY, -1 SELL, candle for candle."""
        close = df["close"].to_numpy(dtype=float)
        p = self.params
        r = rsi(close, p.period)
        exact = replayed(lambda: RSI(p.period), close)
        below = exact_diff(r, p.lower, lambda idx: (exact(idx), p.lower)) < 0
        above = exact_diff(r, p.upper, lambda idx: (exact(idx), p.upper)) > 0
        return levels(below, above)
