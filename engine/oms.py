"""Order management: lifecycle state machine, client order ids, the submission protocol.

Submission protocol (docs/adr/0003-order-submission.md):

1. The intent becomes an :class:`~engine.models.Order` in status ``new`` with a client order
   id ``qd-<instance tag>-<strategy>-<seq>`` (the tag is made when the store is created, so
   ids never repeat across stores; ADR 0012) and an intent key (strategy, symbol, side,
   signal candle); the journal commits it **before** the gateway is called.
2. The gateway's answer moves it to ``open`` (or ``rejected``); that is committed too.
3. No answer (timeout, dropped connection, 5xx: :class:`~engine.errors.SubmissionUnknown`)
   leaves the order ``new`` with the reason recorded. An order still ``new`` (after such an
   error, or found at start-up) is looked up at the venue by its client order id: adopted if
   the venue has it and it matches the intent (side, quantity or quote amount), rejected as a
   collision when it does not, sent again with the same id only if the venue proves it has
   no such order; while the venue cannot answer, it stays ``new`` and blocks its symbol.
4. Re-submitting the same intent (a restart that re-processes the same candle) returns the
   existing order.

Allowed transitions::

    new -> open | partially_filled | filled | rejected | canceled | expired
    open -> partially_filled | filled | canceled | expired
    partially_filled -> partially_filled | filled | canceled | expired
    filled, canceled, rejected, expired: terminal
"""

from __future__ import annotations

import functools
import logging
import re
from decimal import Decimal

from engine.errors import IllegalTransition, OrderError, SubmissionUnknown, VenueUnavailable
from engine.events import (
    Event,
    EventSink,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
)
from engine.models import TERMINAL_STATUSES, Candle, Fill, Order, OrderStatus, OrderType, OrderUpdate, Side
from engine.portfolio import Portfolio
from engine.ports import ExchangeGateway, Journal

log = logging.getLogger(__name__)

S = OrderStatus
_ALLOWED: dict[OrderStatus, set[OrderStatus]] = {
    S.NEW: {S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.REJECTED, S.CANCELED, S.EXPIRED},
    S.OPEN: {S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED},
    S.PARTIALLY_FILLED: {S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED},
    S.FILLED: set(), S.CANCELED: set(), S.REJECTED: set(), S.EXPIRED: set(),
}


def check_transition(order: Order, new: OrderStatus) -> None:
    """Raise :class:`IllegalTransition` unless ``order.status -> new`` is allowed."""
    if new is not order.status and new not in _ALLOWED[order.status]:
        raise IllegalTransition(f"order {order.client_order_id}: {order.status.value} -> {new.value} is not allowed")


MAX_CLIENT_ID_LEN = 36
"""Binance's limit on ``newClientOrderId`` (``^[.A-Z:/a-z0-9_-]{1,36}$``), the tightest of the
major venues; ccxt passes ``clientOrderId`` through unchanged."""

_SLUG = re.compile(r"[^A-Za-z0-9_]")
_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
ID_TOLERANCE = Decimal("1e-6")
"""Relative tolerance when a venue order's quantity or cost is compared with the intent's
(the venue may echo a float); two intents closer than this are the same trade anyway."""


def make_client_order_id(prefix: str, strategy: str, seq: int) -> str:
    """``<prefix>-<strategy, letters/digits/_ only, at most 12>-<seq>``, e.g.
    ``qd-k3x9pa-sma_cross-42`` with the store's instance tag in ``prefix`` (ADR 0012).

    Raises:
        OrderError: the id would break the venue's 36-character ``[.A-Z:/a-z0-9_-]`` rule.
    """
    head, valid = _client_id_head(prefix, strategy)
    cid = head + str(seq)
    if not valid or len(cid) > MAX_CLIENT_ID_LEN:
        raise OrderError(f"client order id {cid!r} breaks the venue's rule (at most {MAX_CLIENT_ID_LEN} "
                         "characters of A-Z a-z 0-9 . : / _ -)")
    return cid


@functools.lru_cache(maxsize=64)
def _client_id_head(prefix: str, strategy: str) -> tuple[str, bool]:
    """The id up to its sequence number, and whether its characters are all allowed (the
    digits that follow always are): checked once per prefix and strategy, not per order."""
    head = f"{prefix}-{_SLUG.sub('', strategy)[:12] or 'x'}-"
    return head, bool(_CLIENT_ID.match(head))


def intent_mismatch(order: Order, update: OrderUpdate) -> str:
    """Why the venue order ``update`` (found by ``order``'s client order id) is not ``order``'s
    intent: another side, quantity or quote amount; '' when it matches or the venue did not say."""
    if update.side is not None and update.side is not order.side:
        return f"side {update.side.value}, the intent is {order.side.value}"
    if order.qty is not None and update.amount and abs(update.amount - order.qty) > order.qty * ID_TOLERANCE:
        return f"quantity {update.amount}, the intent is {order.qty}"
    if order.quote_qty is not None and update.cost and \
            abs(update.cost - order.quote_qty) > order.quote_qty * ID_TOLERANCE:
        return f"quote amount {update.cost}, the intent is {order.quote_qty}"
    return ""


def intent_key(strategy: str, symbol: str, side: Side, signal_ts_ms: int) -> str:
    """The identity of an intent: one order per strategy, symbol, side and signal candle."""
    return f"{strategy}|{symbol}|{side}|{signal_ts_ms}"  # a StrEnum formats as its value


class OrderManager:
    """Tracks orders by client order id and applies venue updates to them and the portfolio.

    Args:
        gateway: where orders go.
        journal: durable record; every change is committed before it is acted on.
        portfolio: account the fills are booked to.
        orders: orders loaded from the store at start-up (all statuses).
        id_prefix: first part of client order ids: ``qd-<instance tag>`` in the daemon, ``qd``
            in backtests (see :func:`make_client_order_id`).
        events: where persisted events wait to be published (a new sink when None).
        keep_terminal: False for a backtest: an order is dropped from :attr:`orders` once it
            is terminal (the journal has it), so a long run does not hold every order.
    """

    def __init__(self, gateway: ExchangeGateway, journal: Journal, portfolio: Portfolio,
                 orders: list[Order] | None = None, id_prefix: str = "qd", events: EventSink | None = None,
                 keep_terminal: bool = True):
        self.gateway = gateway
        self.journal = journal
        self.portfolio = portfolio
        self.id_prefix = id_prefix
        self.orders: dict[str, Order] = {}
        self._working: dict[str, Order] = {}
        """Orders not yet terminal when last looked at; statuses only move towards terminal,
        so :meth:`open_orders` drops the ones that got there since (O(working), not O(all))."""
        self._by_intent: dict[str, Order] = {}
        self._seen_trades: set[str] = set()
        self._seq = 0
        self.keep_terminal = keep_terminal
        self.events = events if events is not None else EventSink()
        """Persisted events waiting to be published (shared with the runners)."""
        self._sync_quiet = not gateway.needs_every_candle
        """The venue needs :meth:`sync` only while an order works (the simulator without cost
        models); a live venue is asked on every candle."""
        self.fill_listeners: list = []
        """Callables ``(fill, position)`` told of each booked fill (after it is persisted)."""
        self.idle = self._sync_quiet
        """True when no order is working and the venue needs no :meth:`sync` without one: a
        candle then cannot fill anything (the backtest's quiet candles). An attribute kept
        where the working orders change, not a property: the runner reads it every candle."""
        for order in orders or []:
            self._track(order)
            self._seq = max(self._seq, _seq_of(order.client_order_id))

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders not yet terminal, optionally for one symbol, in the order they were created."""
        working = self._working
        if not working:
            return []
        done = [cid for cid, o in working.items() if o.status in TERMINAL_STATUSES]
        if done:
            for cid in done:
                del working[cid]
            self.idle = self._sync_quiet and not working
        return [o for o in working.values() if symbol is None or o.symbol == symbol]

    def cancel_entries(self, reason: str, now_ms: int) -> None:
        """Cancel every working entry, of every symbol and strategy (adopted external ones
        included): a breaker that stops entries stops them portfolio-wide. On spot an entry is
        a buy; on a futures account it is an order by quote notional, either side (a short's
        buy-back by quantity is an exit and keeps working, ADR 0017)."""
        futures = self.portfolio.allows_short
        for order in self.open_orders():
            if (order.quote_qty is not None) if futures else order.side is Side.BUY:
                self.cancel(order, reason, now_ms)

    def mark_fills_seen(self, trade_ids: list[str]) -> None:
        """Register trade ids already booked (loaded from the store) so they are never booked twice."""
        self._seen_trades.update(trade_ids)

    def submit(self, *, strategy: str, symbol: str, side: Side, signal_ts_ms: int, now_ms: int,
               qty: Decimal | None = None, quote_qty: Decimal | None = None, intent: str = "",
               order_type: OrderType = OrderType.MARKET, price: Decimal | None = None,
               stop_price: Decimal | None = None, events: list[Event] | None = None) -> Order:
        """Create (or find) the order for an intent and send it; see the module docstring.

        Args:
            qty: base currency to trade, or
            quote_qty: quote currency notional to buy (market buy with cost).
            intent: human-readable reason kept on the order (the signal).
            order_type, price: a limit order rests at ``price`` (quote per base).
            stop_price: trigger of a stop-limit order (quote per base); live venues only.
            events: already-published events that belong to this order (the risk decision
                that approved it), stored in the transaction that creates the order, so the
                order reaches the venue after one commit, not two.

        Returns:
            The order, in whatever status the venue's answer put it.
        """
        key = intent_key(strategy, symbol, side, signal_ts_ms)
        existing = self._by_intent.get(key)
        if existing is not None:
            if events:
                self.journal.record_events(events)
            if existing.status is S.NEW:
                self._resolve_unacknowledged(existing, now_ms)
            return existing
        self._seq += 1
        order = Order(
            client_order_id=make_client_order_id(self.id_prefix, strategy, self._seq), strategy=strategy, symbol=symbol,
            side=side, type=order_type, signal_ts_ms=signal_ts_ms, created_ts_ms=now_ms,
            updated_ts_ms=now_ms, qty=qty, quote_qty=quote_qty, price=price, stop_price=stop_price, intent=intent,
        )
        self._track(order)
        self.journal.order_created(order, list(events or []))
        self._send(order, now_ms)
        return order

    def adopt(self, order: Order, update: OrderUpdate, now_ms: int) -> list[Fill]:
        """Take over an order placed outside quantd (reconciliation, ``adopt_external_orders``):
        store it, then apply the exchange's view of it (its fills so far are booked).

        ``order`` carries the venue's client order id; its ``signal_ts_ms`` is moved forward
        by 1 ms while another order holds the same intent key. Returns the fills booked.
        """
        order.signal_ts_ms = self.free_signal_ts(order.strategy, order.symbol, order.side, order.signal_ts_ms)
        self._track(order)
        self.journal.order_created(order, [])
        log.warning("adopted external order %s (%s %s %s @ %s)", order.client_order_id, order.side.value,
                    order.qty, order.symbol, order.price)
        return self.apply_update(order, update, now_ms)

    def free_signal_ts(self, strategy: str, symbol: str, side: Side, ts_ms: int) -> int:
        """The first signal time at or after ``ts_ms`` (ms) whose intent key no order holds:
        for orders that must be new even when one was already made at that time (an
        operator's second flatten, an adopted order)."""
        while intent_key(strategy, symbol, side, ts_ms) in self._by_intent:
            ts_ms += 1
        return ts_ms

    def cancel(self, order: Order, reason: str, now_ms: int) -> bool:
        """Ask the venue to cancel a working order and apply its answer.

        Returns False (logged; the order stays working and reconciliation retries) when the
        venue cannot be reached."""
        if order.status is S.NEW:
            self._resolve_unacknowledged(order, now_ms)
            if order.status.is_terminal:
                return True
        try:
            update = self.gateway.cancel_order(order, reason)
        except VenueUnavailable as exc:
            log.warning("cancel of %s failed, the venue did not answer: %s", order.client_order_id, exc)
            return False
        self.apply_update(order, update, now_ms)
        return True

    def recover(self, now_ms: int) -> None:
        """At start-up: resolve every order that was persisted but never acknowledged."""
        for order in list(self.orders.values()):
            if order.status is S.NEW:
                self._resolve_unacknowledged(order, now_ms)

    def sync(self, symbol: str, candle: Candle, now_ms: int) -> list[Fill]:
        """Pull updates from the gateway after ``candle`` closed; returns the fills booked.

        Unacknowledged orders of ``symbol`` are resolved first. A venue that cannot answer is
        logged and tried again on the next candle. Nothing is asked on a quiet candle (no
        order working) of a venue that says it does not need one (``needs_every_candle``)."""
        booked: list[Fill] = []
        if self.idle:
            return booked
        working = self.open_orders(symbol) if self._working else []
        unacknowledged = [o for o in working if o.status is S.NEW]
        if unacknowledged:  # resolved first; one still unknown is not the venue's to update yet
            for order in unacknowledged:
                self._resolve_unacknowledged(order, now_ms)
            working = [o for o in self.open_orders(symbol) if o.status is not S.NEW]
        try:
            updates = self.gateway.sync(symbol, candle, working)
        except VenueUnavailable as exc:
            log.warning("order updates for %s unavailable: %s", symbol, exc)
            return booked
        for update in updates:
            known = self.orders.get(update.client_order_id)
            if known is None:
                log.warning("update for unknown order %s ignored (reconciliation handles it)", update.client_order_id)
                continue
            booked.extend(self.apply_update(known, update, now_ms))
        return booked

    def apply_update(self, order: Order, update: OrderUpdate, now_ms: int) -> list[Fill]:
        """Apply a venue update: book new fills (de-duplicated by trade id), then the status.

        Raises:
            IllegalTransition: the update would move a terminal order.
        """
        booked = []
        order.exchange_order_id = update.exchange_order_id or order.exchange_order_id
        for fill in update.fills:
            if fill.trade_id in self._seen_trades:
                continue
            self._book_fill(order, fill, update.status, now_ms)
            booked.append(fill)
        if update.status is not order.status:
            check_transition(order, update.status)
            previous = order.status
            order.status, order.updated_ts_ms = update.status, now_ms
            order.reason = update.reason or order.reason
            order.exchange_order_id = update.exchange_order_id or order.exchange_order_id
            self._commit_change(order, previous, now_ms)
        if not self.keep_terminal and order.status in TERMINAL_STATUSES:
            self._forget(order)
        return booked

    def _book_fill(self, order: Order, fill: Fill, final_status: OrderStatus, now_ms: int) -> None:
        new_filled = order.filled_qty + fill.qty
        if order.qty is not None and new_filled > order.qty:
            raise IllegalTransition(f"order {order.client_order_id}: fill {fill.trade_id} overfills {new_filled} > {order.qty}")
        status = final_status if final_status in (S.FILLED, S.PARTIALLY_FILLED) else S.PARTIALLY_FILLED
        check_transition(order, status)
        position = self.portfolio.apply(fill)
        order.avg_fill_price = (order.avg_fill_price * order.filled_qty + fill.qty * fill.price) / new_filled
        order.filled_qty = new_filled
        order.fee_paid += fill.fee
        order.status, order.updated_ts_ms = status, now_ms
        self._seen_trades.add(fill.trade_id)
        event = OrderFilled(fill.ts_ms, order.client_order_id, order.symbol, order.side,
                            str(fill.qty), str(fill.price), str(fill.fee), status, fill.fee_asset)
        self.journal.fill_applied(order, fill, self.portfolio, [event])
        self.events.emit([event])
        for listener in self.fill_listeners:
            listener(fill, position)

    def _send(self, order: Order, now_ms: int) -> None:
        try:
            update = self.gateway.create_order(order)
        except SubmissionUnknown as exc:
            order.reason = f"submission outcome unknown: {exc}"[:512]
            log.warning("order %s: %s; it will be looked up by its client order id", order.client_order_id, exc)
            self.journal.order_changed(order, order.status.value, [])
            return
        self.apply_update(order, update, now_ms)

    def _resolve_unacknowledged(self, order: Order, now_ms: int) -> None:
        try:
            update = self.gateway.fetch_order(order)
        except VenueUnavailable as exc:
            log.warning("order %s is unacknowledged and the venue cannot say whether it has it (%s): "
                        "it stays new and blocks its symbol", order.client_order_id, exc)
            return
        if update is None:
            log.info("order %s is provably not at the venue: sending it with the same client order id",
                     order.client_order_id)
            self._send(order, now_ms)
        elif mismatch := intent_mismatch(order, update):
            log.error("order %s: the venue's order under this client order id is not ours (%s): not adopted; "
                      "the intent is rejected", order.client_order_id, mismatch)
            reason = f"client order id collision: the venue's order {update.exchange_order_id} has {mismatch}; not adopted"
            self.apply_update(order, OrderUpdate(order.client_order_id, S.REJECTED, None, reason), now_ms)
        else:
            log.info("order %s found at the venue: adopting its state %s", order.client_order_id, update.status.value)
            self.apply_update(order, update, now_ms)

    def _commit_change(self, order: Order, previous: OrderStatus, now_ms: int) -> None:
        events: list[Event] = []
        if order.status is S.OPEN:
            events.append(OrderSubmitted(now_ms, order.client_order_id, order.symbol, order.side, order.intent))
        elif order.status is S.REJECTED:
            events.append(OrderRejected(now_ms, order.client_order_id, order.symbol, order.side, order.reason))
        elif order.status in (S.CANCELED, S.EXPIRED):
            events.append(OrderCanceled(now_ms, order.client_order_id, order.symbol, order.reason))
        self.journal.order_changed(order, previous, events)
        self.events.emit(events)

    def _forget(self, order: Order) -> None:
        """Drop a terminal order (``keep_terminal`` False); its fills stay de-duplicated."""
        self.orders.pop(order.client_order_id, None)
        self._working.pop(order.client_order_id, None)
        self.idle = self._sync_quiet and not self._working
        self._by_intent.pop(intent_key(order.strategy, order.symbol, order.side, order.signal_ts_ms), None)

    def _track(self, order: Order) -> None:
        self.orders[order.client_order_id] = order
        if order.status not in TERMINAL_STATUSES:
            self._working[order.client_order_id] = order
            self.idle = False
        self._by_intent[intent_key(order.strategy, order.symbol, order.side, order.signal_ts_ms)] = order

    def take_events(self) -> list[Event]:
        """Events produced since the last call (already persisted), for the bus."""
        return self.events.take()


def _seq_of(client_order_id: str) -> int:
    tail = client_order_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0
