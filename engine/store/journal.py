"""The SQL implementation of :class:`engine.ports.Journal`: one transaction per state change.

Each method writes the change and the events it caused together, so after a crash the
store holds either all of a change or none of it.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from engine.events import Event
from engine.models import Candle, Fill, Order
from engine.portfolio import Portfolio
from engine.store.account import AccountRow, PositionRow
from engine.store.base import Store
from engine.store.ledger import CandleCursorRow, EquitySnapshotRow, EventRow
from engine.store.orders import FillRow, OrderRow, OrderTransitionRow

ACCOUNT_ID = "main"


class SqlJournal:
    """Writes the OMS's and runner's state changes to a :class:`Store`."""

    def __init__(self, store: Store):
        self.store = store

    def order_created(self, order: Order, events: list[Event]) -> None:
        """Insert the order (status new) and its first transition."""
        with self.store.transaction() as s:
            s.add(OrderRow.from_order(order))
            s.flush()
            s.add(OrderTransitionRow(client_order_id=order.client_order_id, ts_ms=order.created_ts_ms,
                                     from_status=None, to_status=order.status.value, reason=order.intent[:512]))
            _add_events(s, events)

    def order_changed(self, order: Order, previous: str, events: list[Event]) -> None:
        """Update the order row and record the transition."""
        with self.store.transaction() as s:
            self._update_order(s, order)
            _add_events(s, events)

    def fill_applied(self, order: Order, fill: Fill, portfolio: Portfolio, events: list[Event]) -> None:
        """Insert the fill; update the order, the position and the account."""
        with self.store.transaction() as s:
            s.add(FillRow(trade_id=fill.trade_id, client_order_id=fill.client_order_id, symbol=fill.symbol,
                          side=fill.side.value, qty=fill.qty, price=fill.price, fee=fill.fee, ts_ms=fill.ts_ms))
            self._update_order(s, order)
            pos = portfolio.position(fill.symbol)
            row = s.get(PositionRow, fill.symbol) or PositionRow(symbol=fill.symbol)
            row.qty, row.avg_price, row.realized_pnl = pos.qty, pos.avg_price, pos.realized_pnl
            row.opened_ts_ms, row.updated_ts_ms = pos.opened_ts_ms, order.updated_ts_ms
            s.add(row)
            acct = s.get(AccountRow, ACCOUNT_ID)
            acct.cash, acct.fees_paid, acct.updated_ts_ms = portfolio.cash, portfolio.fees_paid, order.updated_ts_ms
            _add_events(s, events)

    def candle_processed(self, key: str, candle: Candle, portfolio: Portfolio, equity: float) -> None:
        """Advance the candle cursor and store an equity snapshot at the candle's open time."""
        with self.store.transaction() as s:
            row = s.get(CandleCursorRow, key) or CandleCursorRow(key=key)
            row.last_ts_ms, row.close = candle.ts_ms, Decimal(repr(candle.close))
            s.add(row)
            s.add(EquitySnapshotRow(ts_ms=candle.ts_ms, cash=portfolio.cash, equity=Decimal(repr(equity))))

    def record_events(self, events: list[Event]) -> None:
        """Persist events that change no other state (start-up, shutdown)."""
        with self.store.transaction() as s:
            _add_events(s, events)

    @staticmethod
    def _update_order(s: Session, order: Order) -> None:
        row = s.query(OrderRow).filter_by(client_order_id=order.client_order_id).one()
        previous = row.status
        row.update_from(order)
        if previous != order.status.value:
            s.add(OrderTransitionRow(client_order_id=order.client_order_id, ts_ms=order.updated_ts_ms,
                                     from_status=previous, to_status=order.status.value, reason=order.reason[:512]))


def _add_events(s: Session, events: list[Event]) -> None:
    for e in events:
        s.add(EventRow(ts_ms=e.ts_ms, kind=e.kind, payload=e.payload()))
