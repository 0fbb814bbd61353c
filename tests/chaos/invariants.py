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
  the store's books say (cash change, position); on futures, the wallet's change and each
  signed position.
- ``risk_limits``: no entry's notional (a buy; on futures a short's sell too) exceeded
  ``max_order_notional``.
- ``candles_once``: no candle close has more equity snapshots than there are markets (a candle
  processed twice after a restart would add one).

And between the store and what the (fake) Telegram received (:func:`check_alerts`):
- ``alerts_queued``: every fill, rejection, breaker trip and stale-data episode (start and end)
  in the store has exactly one alert in the outbox;
- ``alerts_delivered``: every queued alert reached the chat;
- ``alerts_once``: none reached it twice (a SIGKILL between a send and its commit may repeat
  one: allowed only when the campaign killed the daemon, and counted);
- ``alerts_in_order``: the chat got them in the order they were queued.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select

from bot.telegram.alerting import alert_type
from engine.models import OrderStatus
from engine.store import load_state, open_store
from engine.store.ledger import EquitySnapshotRow
from engine.store.outbox import OutboxRow
from engine.store.reports import events_after

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

    out.extend(_balances(state, venue))
    if max_order_notional is not None:
        for order in state.orders:
            notional = order.quote_qty or ((order.qty or 0) * (order.price or order.avg_fill_price or 0))
            entry = order.side.value == "buy" or (state.market == "futures" and order.quote_qty is not None)
            if entry and notional > max_order_notional:
                out.append(Violation("risk_limits", f"{order.client_order_id} bought {notional} > max_order_notional "
                                                    f"{max_order_notional}"))
    for ts_ms, n in per_close:
        out.append(Violation("candles_once", f"{n} equity snapshots at close {ts_ms} for {markets} market(s)"))
    return out


def _balances(state, venue) -> list[Violation]:
    """``balances_agree``: spot, each asset's venue total minus its baseline equals the store's
    cash change or position; futures, the venue's wallet change equals the ledger's wallet
    change and each position equals the venue's signed position."""
    p, out = state.portfolio, []
    if state.market == "futures":
        pairs = [(p.quote, venue.wallet - state.baseline.get(p.quote, Decimal(0)), p.wallet - p.initial_cash)]
        pairs += [(f"{sym} position", venue.position_amt(sym.replace("/", "")), pos.qty)
                  for sym, pos in p.positions.items()]
    else:
        expected = {p.quote: p.cash - p.initial_cash} | {sym.split("/")[0]: pos.qty for sym, pos in p.positions.items()}
        pairs = [(asset, venue.total(asset) - state.baseline.get(asset, Decimal(0)), delta)
                 for asset, delta in sorted(expected.items())]
    for what, venue_delta, delta in pairs:
        if venue_delta != delta:
            out.append(Violation("balances_agree", f"{what}: the venue moved {venue_delta}, the store's books "
                                                   f"say {delta}"))
    return out


ALERTED = ("fill", "rejection", "breaker_tripped", "stale_data", "stale_data_recovered")


def check_alerts(store_url: str, sent: list[dict], chat_id: int, kills: int) -> tuple[list[Violation], int]:
    """The alert invariants of the module docstring for ``chat_id``; returns (violations,
    duplicates seen). ``sent``: the fake Telegram's record of successful sends."""
    store = open_store(store_url, create=False)
    try:
        wanted = Counter(alert_type(e) for e in events_after(store, 0))
        with store.read() as s:
            queued = s.execute(select(OutboxRow.id, OutboxRow.kind, OutboxRow.text, OutboxRow.sent_ms)
                               .where(OutboxRow.chat_id == chat_id).order_by(OutboxRow.id)).all()
    finally:
        store.close()
    out: list[Violation] = []
    per_kind = Counter(kind for _, kind, _, _ in queued)
    for kind in ALERTED:
        if per_kind[kind] != wanted[kind]:
            out.append(Violation("alerts_queued", f"{wanted[kind]} {kind} event(s) in the store, "
                                                  f"{per_kind[kind]} queued alert(s)"))
    bodies = [m["text"].split("\n", 1)[-1] for m in sent
              if m.get("method") == "sendMessage" and m.get("chat_id") == chat_id and "reply_parameters" not in m]
    positions: dict[str, list[int]] = {}
    for i, body in enumerate(bodies):
        positions.setdefault(body, []).append(i)
    duplicates, last = 0, -1
    seen: Counter = Counter()
    for row_id, kind, text, sent_ms in queued:
        body = html.escape(text, quote=False)
        at = positions.get(body, [])
        seen[body] += 1
        if sent_ms is None or not at:
            out.append(Violation("alerts_delivered", f"{kind} alert {row_id} never reached the chat: {text[:80]}"))
            continue
        mine = at[min(seen[body], len(at)) - 1]  # the n-th identical alert is the n-th identical message
        extra = len(at) - sum(1 for _, _, t, _ in queued if html.escape(t, quote=False) == body)
        if extra > 0 and seen[body] == 1:
            duplicates += extra
            if not kills:
                out.append(Violation("alerts_once", f"{kind} alert {row_id} reached the chat {extra + 1} times"))
        if mine < last:
            out.append(Violation("alerts_in_order", f"{kind} alert {row_id} arrived before an earlier one"))
        last = max(last, mine)
    return out, duplicates
