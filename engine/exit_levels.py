"""The protective exits of one market's position, kept for its :class:`~engine.runner.StrategyRunner`.

The levels live in the risk manager (:class:`~engine.risk.protection.Protection`, ADR 0014): a
stop-loss and take-profit set when a position opens, a trailing stop raised (a short's lowered)
after each candle, a time exit, and the operator's or the breaker's flatten request. With
``risk.stop_on_exchange`` the stop rests on the venue (:class:`~engine.native_stop.NativeStop`)
and is moved with the level. This module decides when they act; the runner places the exit.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from engine.events import Event, EventSink, PairLocked, ProtectionSet
from engine.models import Candle, Fill, Position
from engine.native_stop import NativeStop
from engine.oms import OrderManager
from engine.ports import Journal
from engine.risk.manager import RiskManager
from engine.risk.pairlocks import ClosedTrade
from engine.strategy.indicators import ATR


class ExitLevels:
    """One market's protective exits.

    Args:
        symbol: the market; tf_ms: its candle length, ms.
        oms, risk, journal, events: the runner's order manager, risk manager, journal and event sink.
        native_stop: the stop resting on the venue, None when the engine enforces it.
        closable: base quantity of a position that can be closed at a price (the runner's
            :meth:`~engine.runner.StrategyRunner.sellable`: on the amount step, 0 for dust).
        atr: the runner's ATR(14), for levels set in ATR multiples.
    """

    def __init__(self, symbol: str, tf_ms: int, oms: OrderManager, risk: RiskManager, journal: Journal,
                 events: EventSink, native_stop: NativeStop | None,
                 closable: Callable[[Position, float | Decimal], Decimal], atr: ATR):
        self.symbol, self.tf_ms = symbol, tf_ms
        self.oms, self.risk, self.journal, self.events = oms, risk, journal, events
        self.native_stop = native_stop
        self._closable = closable
        self._atr = atr

    def working(self) -> bool:
        """True while an order other than the venue-side stop is working on this symbol."""
        orders = self.oms.open_orders(self.symbol)
        return bool(orders) and any(not o.is_protective_stop for o in orders)

    def keep_native_stop(self, candle: Candle, now: int) -> bool:
        """Have the venue hold the position's stop (placed, moved, re-placed when dropped);
        True when one was placed for an entry that filled on this candle (it may then trigger
        on this same candle). A working exit order means an exit is already under way."""
        native = self.native_stop
        pos = self.oms.portfolio.position(self.symbol)
        prot = self.risk.protections.get(self.symbol)
        if native is None or prot is None or prot.stop_price is None or self.working():
            return False
        qty = self._closable(pos, candle.close)
        fresh = pos.opened_ts_ms == candle.ts_ms and native.working() is None
        events = native.ensure(qty, prot.stop_price, candle.ts_ms - 1 if fresh else candle.ts_ms, now)
        if events:
            self.journal.record_events(events)
            self.events.emit(events)
        return fresh and native.working() is not None

    def trail(self, candle: Candle) -> None:
        """Move a trailing stop from this candle (up from its high, a short's down from its
        low; it acts from the next candle on); the venue-side stop is moved with it."""
        current = self.risk.protections.get(self.symbol)
        moved = self.risk.policy.trailed(current, candle) if current is not None else None
        if moved is None:
            return
        self.risk.protections[self.symbol] = moved
        events: list[Event] = [ProtectionSet(candle.ts_ms + self.tf_ms, self.symbol, str(moved.stop_price),
                                             str(moved.take_profit_price or ""))]
        self.journal.protection_changed(self.symbol, moved, events)
        self.events.emit(events)
        if self.native_stop is not None and self.native_stop.working() is not None:
            self.keep_native_stop(candle, candle.ts_ms + self.tf_ms)

    def forced_exit(self, candle: Candle) -> str | None:
        """Why the position must be closed now regardless of the strategy, or None."""
        risk = self.risk  # called on every candle a position is held: kept lean
        if risk.breaker.flatten_pending:
            return f"flatten: {risk.breaker.reason}"
        protection = risk.protections.get(self.symbol)
        if self.native_stop is None:
            reason = protection.triggered(candle) if protection is not None and (
                protection.stop_price is not None or protection.take_profit_price is not None) else None
        else:
            stop = self.native_stop.working()
            reason = protection.triggered(candle, check_stop=stop is None) if protection is not None else None
            if reason is None and stop is not None and stop.price is not None and candle.close < stop.price:
                reason = (f"stop_loss: close {candle.close} is below the exchange stop's limit {stop.price}, which "
                          "cannot fill there: selling at market")
        if reason is None and risk.policy.max_holding_candles is not None:
            opened = self.oms.portfolio.position(self.symbol).opened_ts_ms
            reason = risk.policy.time_exit(opened, candle, self.tf_ms)
        return reason

    def verify(self, now_ms: int) -> None:
        """At start-up: a position without the stop the policy wants gets an alert, then levels
        from its average entry price and the current ATR."""
        pos = self.oms.portfolio.position(self.symbol)
        if not pos.is_open:
            return
        missing = self.risk.verify(self.symbol, now_ms)
        if missing:
            events = missing + self.risk.protect(self.symbol, pos.avg_price, self._atr.value, now_ms,
                                                 short=pos.qty < 0)
            self.journal.protection_changed(self.symbol, self.risk.protections[self.symbol], events)
            self.events.emit(events)

    def after_fill(self, fill: Fill, position: Position, opening: bool, flat: bool) -> None:
        """After a fill of this market: a round trip it closed goes to the lock rules; a
        position it opened gets its levels; a position it closed (or left as dust) loses them,
        so the next entry gets levels of its own."""
        if flat and self.risk.pair_locks.rules:
            self._lock_after_exit(fill)
        if opening and self.symbol not in self.risk.protections:
            events = self.risk.protect(self.symbol, position.avg_price, self._atr.value, fill.ts_ms,
                                       short=position.qty < 0)
            events += self.risk.verify(self.symbol, fill.ts_ms)
            self.journal.protection_changed(self.symbol, self.risk.protections[self.symbol], events)
            self.events.emit(events)
        elif self._closable(position, fill.price) <= 0 and self.risk.protections.pop(self.symbol, None) is not None:
            self.journal.protection_changed(self.symbol, None, [])

    def _lock_after_exit(self, fill: Fill) -> None:
        """Tell the lock rules of the round trip this fill closed; store a lock they make."""
        returns = self.risk.view.trade_returns
        order = self.oms.orders.get(fill.client_order_id)
        trade = ClosedTrade(self.symbol, fill.ts_ms, returns[-1] if returns else 0.0,
                            order is not None and order.intent.startswith("stop_loss"))
        lock = self.risk.pair_locks.on_exit(trade, self.tf_ms)
        if lock is not None:
            events: list[Event] = [PairLocked(fill.ts_ms, lock.symbol, lock.until_ms, lock.rule, lock.reason)]
            self.journal.lock_added(lock, events)
            self.events.emit(events)
