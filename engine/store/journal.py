"""The SQL implementation of :class:`engine.ports.Journal`: one transaction per state change.

Each method writes the change and the events it caused together, so after a crash the
store holds either all of a change or none of it.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from engine.events import Event
from engine.models import ZERO, Candle, Fill, Order
from engine.money import quote_decimal
from engine.portfolio import Portfolio
from engine.risk.breaker import CircuitBreaker
from engine.risk.pairlocks import PairLock
from engine.risk.protection import Protection
from engine.store.account import AccountRow, PositionRow
from engine.store.base import MetaRow, Store
from engine.store.ledger import BreakerRow, CandleCursorRow, EquitySnapshotRow, EventRow, OperatorCommandRow
from engine.store.orders import FillRow, OrderRow, OrderTransitionRow, mutable_values, new_values
from engine.store.pairlocks import add_lock, end_locks
from engine.store.reconciliation import BalanceBaselineRow, ReconciliationIssueRow

ACCOUNT_ID = "main"


class SqlJournal:
    """Writes the OMS's and runner's state changes to a :class:`Store`."""

    records_candles = True
    """Every candle advances its cursor and writes an equity snapshot."""

    def __init__(self, store: Store):
        self.store = store
        self._group: list[tuple] | None = None

    def begin_candle_group(self) -> None:
        """From now on hold :meth:`candle_processed` writes until :meth:`end_candle_group`,
        which commits them in one transaction: the daemon groups the candles of one close
        time (one per market), so N markets cost one commit for their cursors, not N.

        Safe because a candle whose cursor was not committed is processed again after a
        crash, and processing is idempotent (orders by intent key, fills by trade id)."""
        self._group = []

    def end_candle_group(self) -> None:
        """Commit the held cursor and equity-snapshot writes (nothing when none are held)."""
        group, self._group = self._group, None
        if not group:
            return
        with self.store.transaction() as s:
            for key, ts_ms, close, close_ms, cash, equity in group:
                self._write_candle(s, key, ts_ms, close, close_ms, cash, equity)

    def order_created(self, order: Order, events: list[Event]) -> None:
        """Insert the order (status new) and its first transition."""
        with self.store.transaction() as s:
            c = s.connection()
            c.execute(insert(_ORDERS), [new_values(order)])
            c.execute(insert(_TRANSITIONS), [{"client_order_id": order.client_order_id, "ts_ms": order.created_ts_ms,
                                              "from_status": None, "to_status": order.status.value,
                                              "reason": order.intent[:512]}])
            _add_events(s, events)

    def order_changed(self, order: Order, previous: str, events: list[Event]) -> None:
        """Update the order row and record the transition (a note when the status is unchanged)."""
        with self.store.transaction() as s:
            self._update_order(s, order, always=True)
            _add_events(s, events)

    def fill_applied(self, order: Order, fill: Fill, portfolio: Portfolio, events: list[Event]) -> None:
        """Insert the fill; update the order, the position and the account."""
        with self.store.transaction() as s:
            c = s.connection()
            c.execute(insert(_FILLS), [{"trade_id": fill.trade_id, "client_order_id": fill.client_order_id,
                                        "symbol": fill.symbol, "side": fill.side.value, "qty": fill.qty,
                                        "price": fill.price, "fee": fill.fee, "fee_asset": fill.fee_asset,
                                        "ts_ms": fill.ts_ms}])
            self._update_order(s, order)
            pos = portfolio.position(fill.symbol)
            _upsert(c, _POSITIONS, _POSITIONS.c.symbol, fill.symbol,
                    {"qty": pos.qty, "avg_price": pos.avg_price, "realized_pnl": pos.realized_pnl,
                     "opened_ts_ms": pos.opened_ts_ms, "updated_ts_ms": order.updated_ts_ms,
                     **_futures_position(portfolio, fill.symbol)})
            c.execute(update(_ACCOUNTS).where(_ACCOUNTS.c.id == ACCOUNT_ID).values(
                cash=portfolio.cash, fees_paid=portfolio.fees_paid, updated_ts_ms=order.updated_ts_ms,
                **_futures_account(portfolio)))
            _add_events(s, events)

    def funding_applied(self, symbol: str, portfolio: Portfolio, events: list[Event]) -> None:
        """Update the position's margin and funding and the account's wallet, available cash
        and funding paid, with the funding event."""
        ts_ms = events[0].ts_ms if events else 0
        with self.store.transaction() as s:
            c = s.connection()
            c.execute(update(_POSITIONS).where(_POSITIONS.c.symbol == symbol).values(
                updated_ts_ms=ts_ms, **_futures_position(portfolio, symbol)))
            c.execute(update(_ACCOUNTS).where(_ACCOUNTS.c.id == ACCOUNT_ID).values(
                cash=portfolio.cash, updated_ts_ms=ts_ms, **_futures_account(portfolio)))
            _add_events(s, events)

    def candle_processed(self, key: str, candle: Candle, close_ms: int, portfolio: Portfolio, equity_raw: int) -> None:
        """Advance the candle cursor (the candle's open time) and store an equity snapshot at
        its close time (when the marks were taken; markets of different timeframes interleave
        in that order)."""
        args = (key, candle.ts_ms, Decimal(repr(candle.close)), close_ms, portfolio.cash, quote_decimal(equity_raw))
        if self._group is not None:
            self._group.append(args)
            return
        with self.store.transaction() as s:
            self._write_candle(s, *args)

    @staticmethod
    def _write_candle(s: Session, key: str, ts_ms: int, close: Decimal, close_ms: int, cash: Decimal,
                      equity: Decimal) -> None:
        c = s.connection()
        _upsert(c, _CURSORS, _CURSORS.c.key, key, {"last_ts_ms": ts_ms, "close": close})
        c.execute(insert(_EQUITY), [{"ts_ms": close_ms, "cash": cash, "equity": equity}])

    def risk_recorded(self, events: list[Event], breaker: CircuitBreaker) -> None:
        """Persist risk decisions with the breaker state they leave behind."""
        with self.store.transaction() as s:
            _add_events(s, events)
            _save_breaker(s, breaker)

    def protection_changed(self, symbol: str, protection: Protection | None, events: list[Event]) -> None:
        """Store (or clear) a position's exit levels with the events about them."""
        with self.store.transaction() as s:
            row = s.get(PositionRow, symbol)
            if row is not None:
                row.stop_price = protection.stop_price if protection else None
                row.take_profit_price = protection.take_profit_price if protection else None
            _add_events(s, events)

    def lock_added(self, lock: PairLock, events: list[Event]) -> None:
        """Store a new per-pair lock with the events about it."""
        with self.store.transaction() as s:
            add_lock(s, lock)
            _add_events(s, events)

    def locks_ended(self, symbols: list[str], by: str, now_ms: int) -> None:
        """Record that an operator ended the locks of ``symbols``."""
        with self.store.transaction() as s:
            end_locks(s, symbols, by, now_ms)

    def pending_commands(self) -> list[tuple[int, str, str]]:
        """Operator commands not yet applied, oldest first: (id, command, requested_by).
        Read on every engine step, so through Core (0.1 ms, not the ORM's 0.5)."""
        t = OperatorCommandRow.__table__
        with self.store.engine.connect() as c:
            rows = c.execute(select(t.c.id, t.c.command, t.c.requested_by).where(t.c.applied_ts_ms.is_(None))
                             .order_by(t.c.id))
            return [(r.id, r.command, r.requested_by) for r in rows]

    def command_applied(self, command_id: int, result: str, ts_ms: int, breaker: CircuitBreaker,
                        events: list[Event]) -> None:
        """Mark a command applied with its result, with the breaker state and events, in one transaction."""
        with self.store.transaction() as s:
            row = s.get(OperatorCommandRow, command_id)
            row.applied_ts_ms, row.result = ts_ms, result[:512]
            _save_breaker(s, breaker)
            _add_events(s, events)

    def reconciliation_recorded(self, issues: list, events: list[Event], breaker: CircuitBreaker, ts_ms: int) -> None:
        """Store what a reconciliation run found (:class:`engine.reconcile.Issue` list), its
        events and the breaker state it leaves, in one transaction."""
        with self.store.transaction() as s:
            for i in issues:
                s.add(ReconciliationIssueRow(ts_ms=ts_ms, kind=i.kind, symbol=i.symbol,
                                             client_order_id=i.client_order_id[:64], action=i.action[:256],
                                             detail=i.detail))
            _add_events(s, events)
            _save_breaker(s, breaker)
            meta = s.get(MetaRow, "last_reconciliation_ms") or MetaRow(key="last_reconciliation_ms")
            meta.value = str(ts_ms)
            s.add(meta)

    def baseline_shifted(self, shifts: dict[str, Decimal], ts_ms: int) -> None:
        """Move the balance baseline of each asset by its shift (an operator accepted a drift)."""
        with self.store.transaction() as s:
            for asset, shift in shifts.items():
                row = s.get(BalanceBaselineRow, asset)
                if row is None:
                    s.add(BalanceBaselineRow(asset=asset, amount=shift, ts_ms=ts_ms))
                else:
                    row.amount, row.ts_ms = row.amount + shift, ts_ms

    def record_events(self, events: list[Event]) -> None:
        """Persist events that change no other state (start-up, shutdown)."""
        with self.store.transaction() as s:
            _add_events(s, events)

    @staticmethod
    def _update_order(s: Session, order: Order, always: bool = False) -> None:
        c = s.connection()
        where = _ORDERS.c.client_order_id == order.client_order_id
        previous = c.execute(select(_ORDERS.c.status).where(where)).scalar_one()
        c.execute(update(_ORDERS).where(where).values(**mutable_values(order)))
        if always or previous != order.status.value:
            c.execute(insert(_TRANSITIONS), [{"client_order_id": order.client_order_id, "ts_ms": order.updated_ts_ms,
                                              "from_status": previous, "to_status": order.status.value,
                                              "reason": order.reason[:512],
                                              "exchange_order_id": order.exchange_order_id}])


# The rows written on every candle, order and fill go through SQLAlchemy Core on the
# session's connection (same transaction): the ORM's unit of work cost about 0.5 ms a
# statement, more than the durable commit itself (ADR 0010).
_ORDERS, _TRANSITIONS, _FILLS = OrderRow.__table__, OrderTransitionRow.__table__, FillRow.__table__
_POSITIONS, _ACCOUNTS, _EVENTS = PositionRow.__table__, AccountRow.__table__, EventRow.__table__
_CURSORS, _EQUITY, _BREAKER = CandleCursorRow.__table__, EquitySnapshotRow.__table__, BreakerRow.__table__


def _upsert(c, table, key_column, key, values: dict) -> None:
    """Update the row whose ``key_column`` is ``key``, or insert it (any database)."""
    if c.execute(update(table).where(key_column == key).values(**values)).rowcount == 0:
        c.execute(insert(table), [{key_column.key: key, **values}])


def _futures_account(portfolio: Portfolio) -> dict:
    """The account row's futures columns (none on spot: they stay NULL)."""
    if not portfolio.allows_short:
        return {}
    return {"wallet": portfolio.wallet, "funding_paid": portfolio.funding_paid}


def _futures_position(portfolio: Portfolio, symbol: str) -> dict:
    """A position row's futures columns: isolated margin, signed cost basis and funding of the
    position, quote, and its liquidation price (none when flat; no columns on spot)."""
    if not portfolio.allows_short:
        return {}
    return {"margin": portfolio.margin.get(symbol, ZERO), "cost": portfolio.cost.get(symbol, ZERO),
            "funding": portfolio.funding_by_symbol.get(symbol, ZERO),
            "liquidation_price": portfolio.liquidation_price(symbol)}


def _add_events(s: Session, events: list[Event]) -> None:
    if events:
        s.connection().execute(insert(_EVENTS), [{"ts_ms": e.ts_ms, "kind": e.kind.value, "payload": e.payload()}
                                                 for e in events])


def _save_breaker(s: Session, breaker: CircuitBreaker) -> None:
    _upsert(s.connection(), _BREAKER, _BREAKER.c.id, 1,
            {"state": breaker.state.value, "reason": breaker.reason[:512], "since_ms": breaker.since_ms,
             "flatten_pending": breaker.flatten_pending})


def queue_command(store: Store, command: str, by: str, ts_ms: int) -> int:
    """Queue an operator command for the daemon (``<verb> [argument]``, see
    :mod:`engine.commands`; a bare :class:`~engine.commands.Verb` is stored as its word); returns its id."""
    with store.transaction() as s:
        row = OperatorCommandRow(ts_ms=ts_ms, command=str(command), requested_by=by)
        s.add(row)
        s.flush()
        return row.id
