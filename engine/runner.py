"""The flow of one candle, shared by the backtester and the daemon.

For each closed candle of its symbol a :class:`StrategyRunner`:

1. books the venue's updates (fills of orders resting since earlier candles);
2. asks the strategy for a signal, seeing only candles up to this one;
3. turns a signal into an order when it fits the position (BUY when flat, SELL when long,
   nothing while an order is working), sized by the sizer;
4. records the candle as processed with an equity snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engine.models import Candle, Side, Signal
from engine.oms import OrderManager
from engine.ports import Journal
from engine.risk.sizing import StakeSizer
from engine.strategy.base import Strategy, StrategyContext
from engine.timeframes import timeframe_to_ms


@dataclass
class Decision:
    """What happened to a signal: the order it produced, or why it was ignored."""

    signal: Signal
    action: str
    client_order_id: str | None = None


class StrategyRunner:
    """One strategy on one symbol and timeframe.

    Args:
        strategy: the strategy instance (its indicator state lives here).
        symbol, timeframe: e.g. "BTC/USDT", "5m".
        oms: order manager (with the portfolio).
        sizer: entry sizing.
        journal: where processed candles are recorded.
    """

    def __init__(self, strategy: Strategy, symbol: str, timeframe: str, oms: OrderManager,
                 sizer: StakeSizer, journal: Journal):
        self.strategy = strategy
        self.symbol = symbol
        self.timeframe = timeframe
        self.tf_ms = timeframe_to_ms(timeframe)
        self.oms = oms
        self.sizer = sizer
        self.journal = journal
        self.key = f"{strategy.name}|{symbol}|{timeframe}"
        self._ctx = StrategyContext(symbol, timeframe)

    def warmup(self, candles: list[Candle]) -> None:
        """Feed already-processed candles to the strategy so its indicators match; no orders."""
        for candle in candles:
            self.strategy.on_candle(candle, self._ctx)

    def on_candle(self, candle: Candle, now_ms: int | None = None) -> Decision | None:
        """Process one closed candle (steps 1-3); ``now_ms`` defaults to the candle's close time."""
        now = candle.ts_ms + self.tf_ms if now_ms is None else now_ms
        self.oms.sync(self.symbol, candle, now)
        pos = self.oms.portfolio.position(self.symbol)
        working = bool(self.oms.open_orders(self.symbol))
        ctx = self._ctx
        ctx.position_qty, ctx.has_open_order = float(pos.qty), working
        signal = self.strategy.on_candle(candle, ctx)
        if signal is None:
            return None
        if working:
            return Decision(signal, "ignored: an order is working")
        if signal is Signal.BUY and not pos.is_open:
            return self._enter(candle, now)
        if signal is Signal.SELL and pos.is_open:
            order = self.oms.submit(strategy=self.strategy.name, symbol=self.symbol, side=Side.SELL,
                                    signal_ts_ms=candle.ts_ms, now_ms=now, qty=pos.qty,
                                    intent=f"{self.strategy.describe()} SELL")
            return Decision(signal, order.status.value, order.client_order_id)
        return Decision(signal, "ignored: position already " + ("open" if pos.is_open else "flat"))

    def finish_candle(self, candle: Candle, equity: float) -> None:
        """Step 4: record the candle as processed (after the caller marked equity)."""
        self.journal.candle_processed(self.key, candle, self.oms.portfolio, equity)

    def _enter(self, candle: Candle, now: int) -> Decision:
        notional = self.sizer.entry_notional(self.oms.portfolio.cash)
        if notional <= Decimal(0):
            return Decision(Signal.BUY, "ignored: no cash")
        order = self.oms.submit(strategy=self.strategy.name, symbol=self.symbol, side=Side.BUY,
                                signal_ts_ms=candle.ts_ms, now_ms=now, quote_qty=notional,
                                intent=f"{self.strategy.describe()} BUY")
        return Decision(Signal.BUY, order.status.value, order.client_order_id)
