"""``donchian_breakout``: buy a close above the previous ``entry`` candles' highest high, sell
a close below the previous ``exit`` candles' lowest low (the Turtle rules, long side)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from engine.models import Candle, Signal
from engine.strategy.base import Strategy, StrategyContext, StrategyParams
from engine.strategy.builtin._vector import levels, previous
from engine.strategy.indicators import Donchian, donchian
from engine.strategy.registry import register


@register("donchian_breakout")
class DonchianBreakout(Strategy):
    """Channel breakout (Donchian; the Turtles' system 1 used 20 and 10): BUY on a candle
    that closes above the highest high of the ``entry`` candles before it, SELL on one that
    closes below the lowest low of the ``exit`` candles before it. Highs and lows are
    compared exactly (no arithmetic), so both forms agree without tie handling."""

    class Params(StrategyParams):
        entry: int = Field(20, ge=1, le=1000, description="breakout look-back, candles")
        exit: int = Field(10, ge=1, le=1000, description="exit look-back, candles")

    search_space = {"entry": [10, 20, 40, 55, 100], "exit": [5, 10, 20, 40]}

    def __init__(self, params: "DonchianBreakout.Params"):
        super().__init__(params)
        self._entry = Donchian(params.entry)
        self._exit = Donchian(params.exit)
        self._channel: tuple[float | None, float | None] = (None, None)

    @property
    def warmup(self) -> int:
        return max(self.params.entry, self.params.exit) + 1

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> Signal | None:
        upper, lower = self._channel  # of the candles before this one
        entry, exit_ = self._entry.update(candle.high, candle.low), self._exit.update(candle.high, candle.low)
        self._channel = (None if entry is None else entry[2], None if exit_ is None else exit_[0])
        if upper is not None and candle.close > upper:
            return Signal.BUY
        if lower is not None and candle.close < lower:
            return Signal.SELL
        return None

    def signals(self, df):
        """Vectorised :meth:`on_candle`: +1 BUY, -1 SELL, candle for candle."""
        h, lo, c = (df[k].to_numpy(dtype=float) for k in ("high", "low", "close"))
        upper = previous(donchian(h, lo, self.params.entry)[2])
        lower = previous(donchian(h, lo, self.params.exit)[0])
        with np.errstate(invalid="ignore"):
            return levels(c > upper, c < lower)
