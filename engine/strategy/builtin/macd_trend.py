"""``macd_trend``: long when the MACD line crosses above its signal line, out when below."""

from __future__ import annotations

from pydantic import Field, model_validator

from engine.models import Candle
from engine.strategy.base import StrategyParams
from engine.strategy.builtin._vector import Crossover, allow_short_field, replayed
from engine.strategy.indicators import MACD, macd
from engine.strategy.registry import register


@register("macd_trend")
class MacdTrend(Crossover):
    """Trend following on MACD (Appel): BUY where the MACD line crosses above the signal
    line (the histogram turns positive), SELL where it crosses below. TA-Lib's MACD
    conventions (see :class:`~engine.strategy.indicators.MACD`); the daemon warms it on
    ten times ``warmup`` candles of history, as ``ema_cross``."""

    class Params(StrategyParams):
        fast: int = Field(12, ge=1, le=1000, description="fast EMA period, candles")
        slow: int = Field(26, ge=2, le=5000, description="slow EMA period, candles")
        signal: int = Field(9, ge=1, le=1000, description="signal EMA period, candles")
        allow_short: bool = allow_short_field()

        @model_validator(mode="after")
        def _fast_below_slow(self) -> "MacdTrend.Params":
            if self.fast >= self.slow:
                raise ValueError(f"fast ({self.fast}) must be smaller than slow ({self.slow})")
            return self

    search_space = {"fast": [8, 12, 16], "slow": [21, 26, 35], "signal": [5, 9, 12]}

    def __init__(self, params: "MacdTrend.Params"):
        super().__init__(params)
        self._macd = MACD(params.fast, params.slow, params.signal)

    @property
    def warmup(self) -> int:
        return self.params.slow + self.params.signal

    def lines(self, candle: Candle):
        out = self._macd.update(candle.close)
        return None if out is None else (out[0], out[1])

    def line_arrays(self, df):
        close = df["close"].to_numpy(dtype=float)
        p = self.params
        line, signal, _ = macd(close, p.fast, p.slow, p.signal)
        exact_line = replayed(lambda: MACD(p.fast, p.slow, p.signal), close, line=0)
        exact_signal = replayed(lambda: MACD(p.fast, p.slow, p.signal), close, line=1)
        return line, signal, lambda idx: (exact_line(idx), exact_signal(idx))
