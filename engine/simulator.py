"""Simulated exchange: the fill model of backtests and paper trading.

Rules (the backtest must not lie):

* A market order created after candle *t* closed fills at the **open of the first candle
  after t** (``next_bar_open``), never on the candle that produced its signal.
* Slippage worsens the price by a fraction ``s``: buys pay ``open * (1 + s)``, sells get
  ``open * (1 - s)``, where ``s = slippage_bps/10000`` plus two optional terms computed from
  the **last candle closed before the fill** (known when the order reaches the venue, so no
  lookahead): ``slippage_range_frac x (high - low) / close`` (volatility: a share of the
  candle's range) and ``impact_k x sqrt(notional / (volume x close))`` (the square-root
  market-impact law, capped at :data:`MAX_IMPACT`).
* ``latency_candles = N`` delays every order by N candles: a market order fills at the open
  of the (N+1)-th candle after its signal.
* Fee: ``fee_rate x notional``, in quote currency, on every fill.
* A buy given as quote notional gets ``qty = notional / fill_price``, rounded down to the
  instrument's amount step; orders below the minimum notional are rejected at creation.
* A **limit** order rests until a candle trades through its price: a buy fills at the open
  when the open is at or below the limit, else at the limit when the low is strictly
  below it (touching is not enough: the queue ahead may take it); sells mirror this with
  the high. Slippage applies but never past the limit price. It is never filled on the
  candle of its signal either.
* A **stop-limit sell** (the protective stop of ``risk.stop_on_exchange``) fills at its stop
  price when a candle's low reaches it, or at the open when the candle opens below it (a
  gap: the worse price), with slippage and fee; never on the candle of its signal (a stop
  placed right after an entry fill is keyed just before the fill's candle, so it can
  trigger on that candle after the open it was placed at).
* A futures **liquidation** order (:attr:`~engine.models.OrderType.LIQUIDATION`) fills at its
  price, without slippage, with the fee; the runner places it on the candle whose range
  reached the position's liquidation price (keyed just before that candle).
* An order given as quote notional on the sell side (a short entry on a futures account)
  gets ``qty = notional / fill_price`` like a buy.
* :meth:`SimulatedExchange.fill_at_close` fills resting orders at a candle's close
  (slippage and fee applied): used to close an open position when a backtest ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import ClassVar, cast

from mypy_extensions import mypyc_attr

from engine.models import (
    TERMINAL_STATUSES,
    Candle,
    Fill,
    Instrument,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
)

_BPS = Decimal(10_000)


MAX_IMPACT = Decimal("0.1")
"""Cap of the market-impact term (10%): a candle without volume would make it infinite."""


@dataclass(frozen=True)
class FillModel:
    """Costs of simulated fills.

    Attributes:
        fee_rate: fraction of notional per fill (0.001 = 0.1%).
        slippage_bps: fixed slippage, basis points (1 = 0.01%).
        slippage_range_frac: extra slippage as a fraction of the previous candle's
            high-low range relative to its close (0.1 = a tenth of the range).
        impact_k: coefficient of the square-root impact law
            ``k x sqrt(Q / V)``, Q the order's notional and V the previous candle's quote
            volume (source: Almgren, Thum, Hauptmann and Li, "Direct Estimation of Equity
            Market Impact", Risk 18(7), 2005; Toth et al., "Anomalous price impact and the
            critical nature of liquidity", Phys. Rev. X 1, 2011).
        latency_candles: candles an order waits before it can fill (0 = next open).
    """

    fee_rate: Decimal = Decimal("0.001")
    slippage_bps: Decimal = Decimal(0)
    slippage_range_frac: Decimal = Decimal(0)
    impact_k: Decimal = Decimal(0)
    latency_candles: int = 0

    def slippage(self, previous: Candle | None, notional: Decimal) -> Decimal:
        """Slippage as a fraction of the price (see the module docstring); ``previous`` is
        the last closed candle before the fill, ``notional`` the order's value in quote."""
        slip = self.slippage_bps / _BPS
        if previous is None:
            return slip
        if self.slippage_range_frac and previous.close > 0:
            slip += self.slippage_range_frac * Decimal(repr((previous.high - previous.low) / previous.close))
        if self.impact_k:
            volume_quote = Decimal(repr(previous.volume * previous.close))
            impact = (self.impact_k * (notional / volume_quote).sqrt()) if volume_quote > 0 else MAX_IMPACT
            slip += min(impact, MAX_IMPACT)
        return slip

    def price(self, side: Side, reference: float, instrument: Instrument, slip: Decimal | None = None) -> Decimal:
        """Fill price in quote per base: the reference price worsened by ``slip`` (a fraction;
        default the fixed ``slippage_bps``), on the tick."""
        price = Decimal(repr(reference))
        slip = self.slippage_bps / _BPS if slip is None else slip
        if slip:
            price = price * (1 + slip) if side is Side.BUY else price * (1 - slip)
        if instrument.price_step is not None:
            price = price.quantize(instrument.price_step, rounding=ROUND_HALF_EVEN)
        return price


def _limit_reference(order: Order, candle: Candle) -> float | None:
    """Price (quote per base) a resting limit order fills at on ``candle``; None when the
    candle does not trade through it."""
    limit = float(cast(Decimal, order.price))  # a limit order has one (_reject_reason)
    if order.side is Side.BUY:
        if candle.open <= limit:
            return candle.open
        return limit if candle.low < limit else None
    if candle.open >= limit:
        return candle.open
    return limit if candle.high > limit else None


def _stop_reference(order: Order, candle: Candle) -> float | None:
    """Price (quote per base) a resting stop sell fills at on ``candle``: the open when the
    candle opens at or below the stop (a gap through it: the worse price), else the stop when
    the low reaches it; None when it does not trigger. The stop-limit's limit is not modelled:
    a gap below it fills at the open, the pessimistic reading (a real one might not fill)."""
    stop = float(cast(Decimal, order.stop_price))  # a stop-limit order has one (_reject_reason)
    if candle.open <= stop:
        return candle.open
    return stop if candle.low <= stop else None


@mypyc_attr(allow_interpreted_subclasses=True)  # PaperGateway, when compiled (engine.compiled)
class SimulatedExchange:
    """An in-memory venue implementing :class:`engine.ports.ExchangeGateway`.

    Args:
        instruments: symbol -> trading rules.
        model: fee and slippage.
        keep_history: False for a backtest: what it knew of an order is dropped once the order
            is terminal (nothing asks again), so a long run does not hold every order.
    """

    def __init__(self, instruments: dict[str, Instrument], model: FillModel, keep_history: bool = True):
        self.instruments = instruments
        self.model = model
        self.keep_history = keep_history
        self._resting: dict[str, Order] = {}
        self._known: dict[str, OrderUpdate] = {}
        self._waited: dict[str, int] = {}  # candles a resting order has waited out (latency)
        self._previous: dict[str, Candle] = {}  # symbol -> last candle synced (the cost models' input)

    liquidates_itself: ClassVar[bool] = False
    """The runner orders a simulated account's liquidations (:class:`engine.ports.ExchangeGateway`)."""

    @property
    def needs_every_candle(self) -> bool:
        """True when :meth:`sync` must see every candle, not only those with orders resting:
        the volatility and volume slippage models read the last candle before the fill."""
        return bool(self.model.slippage_range_frac or self.model.impact_k)

    def create_order(self, order: Order) -> OrderUpdate:
        """Accept (status open) or reject an order; it fills on a later candle."""
        inst = self.instruments[order.symbol]
        reason = self._reject_reason(order, inst)
        status = OrderStatus.REJECTED if reason else OrderStatus.OPEN
        update = OrderUpdate(order.client_order_id, status, f"sim-{order.client_order_id}", reason)
        if not reason:
            self._resting[order.client_order_id] = order
        self._remember(update)
        return update

    def cancel_order(self, order: Order, reason: str) -> OrderUpdate:
        """Take a resting order off the book (canceled); an order no longer resting keeps its last state."""
        client_order_id = order.client_order_id
        resting = self._resting.pop(client_order_id, None)
        self._waited.pop(client_order_id, None)
        if resting is None:
            return self._known.get(client_order_id) or OrderUpdate(client_order_id, OrderStatus.REJECTED, None,
                                                                   "unknown order")
        update = OrderUpdate(client_order_id, OrderStatus.CANCELED, resting.exchange_order_id, reason)
        self._remember(update)
        return update

    def _remember(self, update: OrderUpdate) -> None:
        """Keep the last state of an order (``update`` itself, or a copy without its fills) for
        :meth:`fetch_order`; a terminal one only with ``keep_history``."""
        cid = update.client_order_id
        if self.keep_history or update.status not in TERMINAL_STATUSES:
            self._known[cid] = OrderUpdate(cid, update.status, update.exchange_order_id, update.reason) \
                if update.fills else update
        else:
            self._known.pop(cid, None)

    def fetch_order(self, order: Order) -> OrderUpdate | None:
        """Last known state of an order, None when it never arrived."""
        return self._known.get(order.client_order_id)

    def restore(self, orders: list[Order]) -> None:
        """Put working orders back on the book (paper restart: the store is the book)."""
        for order in orders:
            if order.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED):
                self._resting[order.client_order_id] = order
                self._known[order.client_order_id] = OrderUpdate(
                    order.client_order_id, order.status, order.exchange_order_id)

    def sync(self, symbol: str, candle: Candle, working: list[Order] | None = None) -> list[OrderUpdate]:
        """Fill the resting orders of ``symbol`` signalled before ``candle`` that it fills:
        market orders at its open, limit orders it trades through (module docstring)."""
        if not self._resting:
            self._previous[symbol] = candle
            return []
        updates = []
        latency = self.model.latency_candles
        for order in list(self._resting.values()):
            if order.symbol != symbol or order.signal_ts_ms >= candle.ts_ms:
                continue
            if latency:
                waited = self._waited.get(order.client_order_id, 0)
                if waited < latency:
                    self._waited[order.client_order_id] = waited + 1
                    continue
            if order.type is OrderType.LIMIT:
                reference = _limit_reference(order, candle)
            elif order.type is OrderType.STOP_LIMIT:
                reference = _stop_reference(order, candle)
            elif order.type is OrderType.LIQUIDATION:
                reference = float(cast(Decimal, order.price))
            else:
                reference = candle.open
            if reference is not None:
                updates.append(self._fill(order, reference, candle.ts_ms))
        self._previous[symbol] = candle
        return updates

    def fill_at_close(self, symbol: str, candle: Candle) -> list[OrderUpdate]:
        """Fill every resting order of ``symbol`` at ``candle``'s close (end of a backtest)."""
        return [self._fill(o, candle.close, candle.ts_ms) for o in list(self._resting.values())
                if o.symbol == symbol]

    def cancel_all(self, symbol: str, reason: str) -> list[OrderUpdate]:
        """Cancel every resting order of ``symbol``."""
        return [self.cancel_order(o, reason) for o in list(self._resting.values()) if o.symbol == symbol]

    def _fill(self, order: Order, reference: float, ts_ms: int) -> OrderUpdate:
        inst = self.instruments[order.symbol]
        slip = None
        quote_qty = order.quote_qty  # exactly one of quote_qty and qty is set (Order)
        if self.model.slippage_range_frac or self.model.impact_k:
            notional = quote_qty if quote_qty is not None else \
                (cast(Decimal, order.qty) - order.filled_qty) * Decimal(repr(reference))
            slip = self.model.slippage(self._previous.get(order.symbol), notional)
        price = cast(Decimal, order.price) if order.type is OrderType.LIQUIDATION else \
            self.model.price(order.side, reference, inst, slip)
        limit = order.price
        if order.type is OrderType.LIMIT and limit is not None:  # slippage never past the limit (a stop's may)
            price = min(price, limit) if order.side is Side.BUY else max(price, limit)
        ordered = order.qty
        qty = inst.round_qty(cast(Decimal, quote_qty) / price) if ordered is None else ordered - order.filled_qty
        del self._resting[order.client_order_id]
        self._waited.pop(order.client_order_id, None)
        if qty <= 0:  # accepted earlier, so it cannot be rejected now: it expires unfilled
            update = OrderUpdate(order.client_order_id, OrderStatus.EXPIRED, order.exchange_order_id,
                                 f"notional {order.quote_qty} buys less than one amount step at {price}")
        else:
            fee = qty * price * self.model.fee_rate
            fill = Fill(f"{order.client_order_id}-1", order.client_order_id, order.symbol, order.side,
                        qty, price, fee, ts_ms)
            update = OrderUpdate(order.client_order_id, OrderStatus.FILLED, order.exchange_order_id, "", [fill])
        self._remember(update)
        return update

    @staticmethod
    def _reject_reason(order: Order, inst: Instrument) -> str:
        if order.type is OrderType.STOP_LIMIT:
            if order.side is not Side.SELL:
                return "only stop-limit sells (protective stops of long positions) are simulated"
            if order.stop_price is None or order.stop_price <= 0:
                return "a stop_limit order needs a positive stop_price"
        if order.quote_qty is not None:
            if order.quote_qty < inst.min_notional:
                return f"notional {order.quote_qty} is below the minimum {inst.min_notional} {inst.quote}"
        elif order.qty is None or order.qty <= 0:
            return "quantity must be positive"
        if order.type in (OrderType.LIMIT, OrderType.LIQUIDATION) and (order.price is None or order.price <= 0):
            return f"a {order.type.value} order needs a positive price"
        return ""
