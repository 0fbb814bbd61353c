"""The stop-loss as an order resting on the venue (``risk.stop_on_exchange``).

An engine-side stop only acts while the daemon runs and a candle closes; a stop on the
exchange protects the position when the process, the machine or the network is gone. For
each market a :class:`NativeStop`:

* places a stop-limit sell for the whole sellable position as soon as an entry fills (the
  stop price from the risk policy, the limit ``limit_offset_pct`` below it so a fast market
  still fills it; Binance spot ``STOP_LOSS_LIMIT``);
* replaces it when the stop level moves (a trailing stop) or the position's size changes,
  and places it again when the venue dropped it (canceled or expired by the venue, unknown
  to it at reconciliation), on the next candle;
* cancels it before any other exit (strategy, time exit, take-profit, flatten, kill);
* when the venue refuses it, raises an ``unprotected_position`` alert naming the reason,
  and the engine enforces the stop on closed candles instead, as without this option.

Its fills arrive like any order's (the venue poll, or reconciliation after downtime), so a
stop that filled while the daemon was down is booked at start-up. The simulators (backtest,
paper, dry-run) fill a resting stop at its stop price, or at the open when a candle gaps
through it, with slippage and fee (:mod:`engine.simulator`).
"""

from __future__ import annotations

import logging
from decimal import ROUND_DOWN, Decimal

from engine.events import Event, PositionUnprotected
from engine.models import Instrument, Order, OrderStatus, OrderType, Side
from engine.oms import OrderManager

log = logging.getLogger("quantd.stops")

DEFAULT_LIMIT_OFFSET_PCT = 0.5
"""How far below the stop price the stop-limit's limit sits (percent): room for the price to
fall through the stop before the order fills, without selling at any price."""


class NativeStop:
    """The venue-side stop of one market's position.

    Args:
        oms: the order manager (orders are stored, sent and tracked like any other).
        strategy: the strategy name the stop orders are filed under.
        instrument: price tick and amount step of the market.
        limit_offset_pct: the stop-limit's limit, percent below its stop price.

    Attributes:
        refused: the venue's reason when it refused the last stop ('' otherwise); while set,
            the engine enforces the stop on closed candles.
    """

    def __init__(self, oms: OrderManager, strategy: str, instrument: Instrument,
                 limit_offset_pct: float = DEFAULT_LIMIT_OFFSET_PCT):
        self.oms = oms
        self.strategy = strategy
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.limit_factor = 1 - Decimal(repr(limit_offset_pct)) / 100
        self.refused = ""
        self._last_refused_level: Decimal | None = None

    def working(self) -> Order | None:
        """The stop order resting on the venue for this market, None when there is none."""
        return next((o for o in self.oms.open_orders(self.symbol) if o.is_protective_stop), None)

    @property
    def protects(self) -> bool:
        """True while a stop rests on the venue (the engine then leaves the stop to it)."""
        return self.working() is not None

    def ensure(self, qty: Decimal, stop_price: Decimal | None, key_ts_ms: int, now_ms: int) -> list[Event]:
        """Make the venue hold a stop for ``qty`` (base) at ``stop_price`` (quote per base):
        place one when none rests, replace one at another level or size, nothing when it
        matches. ``key_ts_ms``: the time the order is keyed to (before the candle it may first
        trigger on). Returns the alert events of a refusal."""
        current = self.working()
        if qty <= 0 or stop_price is None:
            return []
        stop = self._tick(stop_price)
        if current is not None:
            if current.stop_price == stop and current.qty == qty:
                return []
            if not self.oms.cancel(current, f"stop moved to {stop}" if current.stop_price != stop
                                   else f"position is now {qty}", now_ms) or current.status is OrderStatus.FILLED:
                return []  # the venue did not answer (retried next candle), or the stop filled meanwhile
        if self.refused and current is None and self._last_refused_level == stop:
            return []  # refused at this level already: the engine-side stop is in charge
        ts = self.oms.free_signal_ts(self.strategy, self.symbol, Side.SELL, key_ts_ms)
        order = self.oms.submit(strategy=self.strategy, symbol=self.symbol, side=Side.SELL, signal_ts_ms=ts,
                                now_ms=now_ms, qty=qty, order_type=OrderType.STOP_LIMIT,
                                price=self._tick(stop * self.limit_factor), stop_price=stop,
                                intent=f"stop_loss: stop {stop} on the exchange")
        if order.status is OrderStatus.REJECTED:
            self.refused, self._last_refused_level = order.reason or "refused", stop
            log.error("the venue refused the stop of %s at %s: %s; the engine enforces it on closed candles",
                      self.symbol, stop, order.reason)
            return [PositionUnprotected(now_ms, self.symbol,
                                        f"the exchange refused the stop of {self.symbol} at {stop} ({order.reason}); "
                                        "the position has no stop on the exchange: quantd enforces it on closed "
                                        "candles while it runs")]
        self.refused = ""
        return []

    def cancel(self, reason: str, now_ms: int) -> bool:
        """Take the stop off the venue before another exit. Returns False when it could not be
        canceled now (the venue did not answer): the exit must wait for the next candle."""
        current = self.working()
        if current is None:
            return True
        return self.oms.cancel(current, reason, now_ms)

    def _tick(self, price: Decimal) -> Decimal:
        step = self.instrument.price_step
        return price if step is None else (price / step).to_integral_value(rounding=ROUND_DOWN) * step
