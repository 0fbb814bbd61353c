"""Invariants between the daemon's store and the (fake) exchange, checked at quiescent points
(the daemon stopped). Each violation names its invariant, so a failing campaign says what broke.

Invariants:
- ``orders_known``: every order the venue holds with quantd's client-id prefix is in the store.
- ``unique_client_ids``: no client order id was placed twice at the venue.
- ``orders_agree``: a filled order in the store is filled at the venue with the same quantity;
  an order the store holds as finished is not working at the venue.
- ``fills_agree``: the store's fills are exactly the venue's trades of quantd's orders (ids,
  quantities, prices).
- ``balances_agree``: for every traded asset, venue total minus the start baseline equals what
  the store's books say (cash change, position).
- ``risk_limits``: no buy order's notional exceeded ``max_order_notional``.
- ``candles_once``: no candle close has more equity snapshots than there are markets (a candle
  processed twice after a restart would add one).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select

from engine.models import OrderStatus
from engine.store import load_state, open_store
from engine.store.ledger import EquitySnapshotRow

PREFIX = "qd-"


@dataclass(frozen=True)
class Violation:
    """One broken invariant: its name and what was seen."""

    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.detail}"


def check(store_url: str, venue, markets: int, max_order_notional: Decimal | None = None) -> list[Violation]:
    """Every invariant of the module docstring; an empty list when all hold.

    Args:
        venue: the fake exchange (``orders``, ``trades``, ``total(asset)``, ``assets``).
        markets: how many markets the daemon trades (bound of ``candles_once``).
    """
    store = open_store(store_url, create=False)
    try:
        state = load_state(store)
        with store.read() as s:
            per_close = s.execute(select(EquitySnapshotRow.ts_ms, func.count()).group_by(EquitySnapshotRow.ts_ms)
                                  .having(func.count() > markets)).all()
    finally:
        store.close()
    out: list[Violation] = []
    ours = {o.client_order_id: o for o in state.orders}
    at_venue = [o for o in venue.orders.values() if o.client_order_id.startswith(PREFIX)]
    by_cid = Counter(o.client_order_id for o in at_venue)

    for o in at_venue:
        if o.client_order_id not in ours:
            out.append(Violation("orders_known", f"venue order {o.order_id} ({o.client_order_id}, {o.side} {o.symbol}, "
                                                 f"{o.status}) is not in the store"))
    for cid, n in by_cid.items():
        if n > 1:
            out.append(Violation("unique_client_ids", f"{cid} was placed {n} times at the venue"))
    venue_by_cid = {o.client_order_id: o for o in at_venue}
    for cid, order in ours.items():
        v = venue_by_cid.get(cid)
        if order.status is OrderStatus.FILLED and (v is None or v.status != "FILLED" or v.executed_qty != order.filled_qty):
            seen = "absent" if v is None else f"{v.status} {v.executed_qty}"
            out.append(Violation("orders_agree", f"{cid} is filled {order.filled_qty} in the store, {seen} at the venue"))
        if order.status.is_terminal and v is not None and v.status in ("NEW", "PARTIALLY_FILLED"):
            out.append(Violation("orders_agree", f"{cid} is {order.status.value} in the store but working at the venue"))

    venue_trades = {str(t["id"]): t for t in venue.trades
                    if venue.orders[t["orderId"]].client_order_id.startswith(PREFIX)}
    stored = {f.trade_id: f for f in state.fills}
    for tid in sorted(set(venue_trades) - set(stored)):
        out.append(Violation("fills_agree", f"venue trade {tid} ({venue_trades[tid]['symbol']}) is not booked"))
    for tid in sorted(set(stored) - set(venue_trades)):
        out.append(Violation("fills_agree", f"booked fill {tid} has no venue trade"))
    for tid in set(stored) & set(venue_trades):
        f, t = stored[tid], venue_trades[tid]
        if f.qty != Decimal(t["qty"]) or f.price != Decimal(t["price"]):
            out.append(Violation("fills_agree", f"fill {tid}: store {f.qty} @ {f.price}, venue {t['qty']} @ {t['price']}"))

    p = state.portfolio
    expected = {p.quote: p.cash - p.initial_cash}
    for symbol, pos in p.positions.items():
        expected[symbol.split("/")[0]] = pos.qty
    for asset, delta in sorted(expected.items()):
        venue_delta = venue.total(asset) - state.baseline.get(asset, Decimal(0))
        if venue_delta != delta:
            out.append(Violation("balances_agree", f"{asset}: the venue moved {venue_delta}, the store's books "
                                                   f"say {delta}"))

    if max_order_notional is not None:
        for order in state.orders:
            notional = order.quote_qty or ((order.qty or 0) * (order.price or order.avg_fill_price or 0))
            if order.side.value == "buy" and notional > max_order_notional:
                out.append(Violation("risk_limits", f"{order.client_order_id} bought {notional} > max_order_notional "
                                                    f"{max_order_notional}"))
    for ts_ms, n in per_close:
        out.append(Violation("candles_once", f"{n} equity snapshots at close {ts_ms} for {markets} market(s)"))
    return out
