"""What a futures position's candle does besides the strategy (ADR 0017): a simulated
liquidation, the funding due, and the warning as the close nears the liquidation price.

A :class:`~engine.runner.StrategyRunner` on a futures account has one :class:`FuturesCandle`
(``runner.futures``) and calls it on every candle the position is held, after the open's fills
and before the strategy. Spot runners have none.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, cast

from engine.events import Event, EventSink, FundingPaid, LiquidationWarning
from engine.futures import FuturesAccount
from engine.models import Candle, Order, OrderType, Position, Side
from engine.oms import OrderManager
from engine.ports import Journal

if TYPE_CHECKING:
    from engine.ports import FundingSource


class FuturesCandle:
    """One futures market's per-candle duties.

    Args:
        symbol: the market; strategy: the name its liquidation order is keyed to; tf_ms: its
            candle length, ms.
        oms, journal, events: the runner's order manager (whose portfolio is a
            :class:`~engine.futures.FuturesAccount`), journal and event sink.
    """

    def __init__(self, symbol: str, strategy: str, tf_ms: int, oms: OrderManager, journal: Journal,
                 events: EventSink):
        self.symbol, self.strategy, self.tf_ms = symbol, strategy, tf_ms
        self.oms, self.journal, self.events = oms, journal, events
        self._venue_liquidates = oms.gateway.liquidates_itself
        """A live exchange liquidates on its own: its close reaches the store through
        reconciliation (a position drift halts trading), never through a simulated order."""
        self.funding: FundingSource | None = None
        """Funding rates charged at each funding time by a simulated venue (the backtest, paper),
        or a live venue's own bookings; None: none."""
        self.funded_through_ms = 0
        """Funding times before this (ms UTC) are booked: a daemon restarted inside a candle
        whose funding it booked before its cursor moved does not charge it again."""
        self.liquidation_alert_pct: Decimal | None = None
        """Warn when the close is within this percent of the liquidation price (the daemon's
        ``futures.liquidation_alert_pct``; None: never)."""
        self._warned = False

    def held(self, candle: Candle, now: int) -> Order | None:
        """A candle of a held position: liquidated when the range reached its liquidation
        price (a forced close at that price, keyed just before the candle so the venue fills
        it on it; the order is returned), else charged the funding due in the candle
        (``qty x open x rate``: the candle's open stands for the mark price) and warned of a
        near liquidation; None then.

        The liquidation is the venue's own close, which nothing can refuse, so it does not pass
        the risk manager; it is only simulated, for a venue that does not liquidate itself."""
        account = cast(FuturesAccount, self.oms.portfolio)
        pos = account.position(self.symbol)
        lp = account.liquidation_price(self.symbol)
        if lp is not None and not self._venue_liquidates and (candle.low <= lp if pos.qty > 0 else candle.high >= lp):
            side = Side.SELL if pos.qty > 0 else Side.BUY
            intent = (f"liquidation: {'low' if pos.qty > 0 else 'high'} "
                      f"{candle.low if pos.qty > 0 else candle.high} reached {lp:.8f}")
            order = self.oms.submit(strategy=self.strategy, symbol=self.symbol, side=side,
                                    signal_ts_ms=candle.ts_ms - 1, now_ms=now, qty=abs(pos.qty), intent=intent,
                                    order_type=OrderType.LIQUIDATION, price=lp)
            self.oms.sync(self.symbol, candle, now)
            return order
        if self.funding is not None:
            self._charge_funding(account, pos, candle, now)
        if self.liquidation_alert_pct is not None and lp:
            self._warn_near_liquidation(candle, now, pos, lp)
        return None

    def flat(self) -> None:
        """A candle without a position: the next position's approach is warned afresh."""
        self._warned = False

    def _charge_funding(self, account: FuturesAccount, pos: Position, candle: Candle, now: int) -> None:
        funding = cast("FundingSource", self.funding)
        end = candle.ts_ms + self.tf_ms
        start = max(candle.ts_ms, self.funded_through_ms)
        rate: Decimal | str | None
        mark: Decimal | str
        if funding.books_payments:  # a live venue's own bookings
            paid = funding.paid(start, end)
            rate = mark = ""
            if paid is not None:
                account.book_funding(self.symbol, paid)
        else:
            due = funding.due(start, end)
            rate, mark = due, Decimal(repr(candle.open))
            paid = None if due is None else account.apply_funding(self.symbol, due, mark)
        if paid is not None:
            events: list[Event] = [FundingPaid(now, self.symbol, str(pos.qty), str(rate), str(mark), str(paid), end)]
            self.journal.funding_applied(self.symbol, account, events)
            self.funded_through_ms = end
            self.events.emit(events)

    def _warn_near_liquidation(self, candle: Candle, now: int, pos: Position, lp: Decimal) -> None:
        """Emit a :class:`~engine.events.LiquidationWarning` when the close is within
        ``liquidation_alert_pct`` percent of the liquidation price ``lp`` (distance
        ``|close - lp| / close x 100``); once per approach, re-armed when the distance widens
        past the threshold or the position closes."""
        mark = Decimal(repr(candle.close))
        distance = abs(mark - lp) / mark * 100
        near = distance <= cast(Decimal, self.liquidation_alert_pct)  # set: the caller checked
        if near and not self._warned:
            events: list[Event] = [LiquidationWarning(now, self.symbol, str(pos.qty), str(mark), f"{lp:.8f}",
                                                      f"{distance:.2f}")]
            self.journal.record_events(events)
            self.events.emit(events)
        self._warned = near
