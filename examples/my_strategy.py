"""A strategy of your own, loaded by name: ``rising_closes``.

Run it on the bundled sample (from the repository's root)::

    quantd strategies rising_closes --strategy-module examples/my_strategy.py
    quantd backtest --strategy-module examples/my_strategy.py --strategy rising_closes --param run=4

or in a daemon's config::

    strategy:
      module: examples/my_strategy.py   # or a dotted module on PYTHONPATH
      name: rising_closes
      params: {run: 4}

The same class runs in the backtester, in paper, dry-run and live: it sees one closed candle at a
time and answers with a signal or None; the engine sizes, checks risk and places the order.
"""

from __future__ import annotations

from pydantic import Field

from engine.models import Candle, Signal
from engine.strategy import Strategy, StrategyContext, StrategyParams, register


@register("rising_closes")
class RisingCloses(Strategy):
    """Momentum on consecutive closes.

    BUY when flat after ``run`` closes in a row each above the one before; SELL when long after
    ``run`` closes in a row each below the one before. Signals only when they change the position,
    so the ``signal_sanity`` rule never has to refuse a repeat.
    """

    class Params(StrategyParams):
        run: int = Field(3, ge=2, le=50, description="closes in a row, candles")

    search_space = {"run": [2, 3, 4, 5, 6]}

    def __init__(self, params: "RisingCloses.Params"):
        super().__init__(params)
        self._previous: float | None = None
        self._up = 0
        self._down = 0

    @property
    def warmup(self) -> int:
        return self.params.run + 1

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> Signal | None:
        close, previous = candle.close, self._previous
        self._previous = close
        if previous is None:
            return None
        self._up = self._up + 1 if close > previous else 0
        self._down = self._down + 1 if close < previous else 0
        if ctx.position_qty == 0 and self._up >= self.params.run:
            return Signal.BUY
        if ctx.position_qty > 0 and self._down >= self.params.run:
            return Signal.SELL
        return None
