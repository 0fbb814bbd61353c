"""The domain model: candles, signals, orders, fills, positions, and their enums.

Units: times are int milliseconds since the epoch, UTC; a candle's ``ts_ms`` is its open
time. Prices and notionals are in the quote currency (USDT for BTC/USDT), quantities in the
base currency (BTC). Money on orders, fills and positions is :class:`~decimal.Decimal` (the
ledger, as the venue and the store have it); the engine's per-candle arithmetic is
fixed-point (:mod:`engine.money`); candle prices are floats because they are market data and
feed the strategies' indicators.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import NamedTuple

ZERO = Decimal(0)

EXTERNAL_STRATEGY = "external"
"""Strategy name of orders placed outside quantd and adopted by reconciliation."""


class Side(enum.StrEnum):
    """Order side."""

    BUY = "buy"
    SELL = "sell"


class OrderType(enum.StrEnum):
    """Order type. ``STOP_LIMIT`` rests until ``stop_price`` trades, then becomes a limit order."""

    MARKET = "market"
    LIMIT = "limit"
    STOP_LIMIT = "stop_limit"
    LIQUIDATION = "liquidation"
    """A futures position's forced close at its liquidation price; the backtest's venue fills
    it at that price on the candle that reached it (a live venue liquidates by itself)."""


class OrderStatus(enum.StrEnum):
    """Order lifecycle states; see :mod:`engine.oms` for the allowed transitions."""

    NEW = "new"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        """True once the order can no longer change (filled, canceled, rejected, expired)."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})
"""The statuses an order can no longer leave."""


class Signal(enum.StrEnum):
    """What a strategy wants after a candle closes.

    ``BUY``/``SELL`` are the long-only names of ``ENTER_LONG``/``EXIT_LONG`` (the same
    members). ``ENTER_SHORT``/``EXIT_SHORT`` need a futures account (ADR 0017); on spot the
    runner refuses them. An entry against an open position of the other side reverses it in two
    orders: the position is closed first, and the new side is entered once it is flat.
    """

    BUY = "buy"
    SELL = "sell"
    ENTER_LONG = "buy"
    EXIT_LONG = "sell"
    ENTER_SHORT = "enter_short"
    EXIT_SHORT = "exit_short"


class Candle(NamedTuple):
    """One closed OHLCV candle: immutable, and cheap to make (a named tuple: about a third of
    a frozen dataclass's construction cost, which the backtest pays once per candle).

    Attributes:
        ts_ms: open time, ms since the epoch, UTC.
        open, high, low, close: prices in quote currency.
        volume: traded volume in base currency.
    """

    ts_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


FINEST_STEP = Decimal("1e-12")
"""Base-currency rounding of an instrument without an amount step (backtests)."""


@dataclass(frozen=True, slots=True)
class Instrument:
    """Trading rules of one market, as ccxt's ``market`` structure gives them.

    Attributes:
        symbol: unified symbol, e.g. "BTC/USDT".
        amount_step: quantity increment in base currency (ccxt ``precision.amount``);
            ``None`` means no rounding (backtests).
        price_step: price tick in quote currency (ccxt ``precision.price``); ``None``: no rounding.
        min_notional: smallest order value in quote currency (ccxt ``limits.cost.min``).
    """

    symbol: str
    amount_step: Decimal | None = None
    price_step: Decimal | None = None
    min_notional: Decimal = ZERO

    def round_qty(self, qty: Decimal) -> Decimal:
        """``qty`` (base currency) rounded down to :attr:`amount_step`, or to
        :data:`FINEST_STEP` when the instrument has none."""
        step = self.amount_step or FINEST_STEP
        return (qty / step).to_integral_value(rounding=ROUND_DOWN) * step

    @property
    def base(self) -> str:
        """Base currency ("BTC" of "BTC/USDT")."""
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        """Quote currency ("USDT" of "BTC/USDT")."""
        return self.symbol.split("/")[1] if "/" in self.symbol else "QUOTE"


@dataclass(slots=True)
class Order:
    """An order and its lifecycle state, keyed by its client order id.

    Exactly one of ``qty`` (base currency) and ``quote_qty`` (quote currency notional: a
    market buy "with cost", as Binance's ``quoteOrderQty``, or a simulated short entry) is set.

    Attributes:
        client_order_id: ``qd-<instance tag>-<strategy>-<seq>``, unique (ADR 0012).
        strategy: id of the strategy that produced the intent.
        signal_ts_ms: open time of the candle whose close produced the signal.
        filled_qty: base currency filled so far; ``avg_fill_price`` in quote per base.
        fee_paid: quote currency paid in fees so far.
    """

    client_order_id: str
    strategy: str
    symbol: str
    side: Side
    type: OrderType
    signal_ts_ms: int
    created_ts_ms: int
    qty: Decimal | None = None
    quote_qty: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    status: OrderStatus = OrderStatus.NEW
    filled_qty: Decimal = ZERO
    avg_fill_price: Decimal = ZERO
    fee_paid: Decimal = ZERO
    updated_ts_ms: int = 0
    exchange_order_id: str | None = None
    reason: str = ""
    intent: str = ""

    @property
    def is_protective_stop(self) -> bool:
        """True for a stop-limit sell: the stop-loss resting on the venue for a long position
        (``risk.stop_on_exchange``), which is not "an order working" for the strategy."""
        return self.type is OrderType.STOP_LIMIT and self.side is Side.SELL


class Fill(NamedTuple):
    """One execution of (part of) an order: immutable, and a named tuple because the
    backtest makes one per order (a third of a frozen dataclass's construction cost).

    Attributes:
        trade_id: the venue's trade id; fills are de-duplicated by it.
        qty: base currency traded (gross of any fee taken in base); price: quote per base.
        fee: commission, in ``fee_asset``.
        fee_asset: currency of the fee: "" means the quote currency (the simulators); a live
            venue names it ("USDT", or "BTC" when Binance takes a buy's fee from the base
            received, or "BNB").
        ts_ms: execution time, ms UTC.
    """

    trade_id: str
    client_order_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    ts_ms: int
    fee_asset: str = ""

    @property
    def notional(self) -> Decimal:
        """qty x price, in quote currency."""
        return self.qty * self.price


@dataclass(slots=True)
class Position:
    """A position in one symbol (one-way mode: one net position per symbol).

    Attributes:
        qty: base currency, signed: above 0 long, below 0 short (futures only; a spot
            position is never below 0), 0 flat.
        avg_price: volume-weighted entry price in quote per base (fees excluded).
        realized_pnl: quote currency, gross of fees, from closed quantity.
        opened_ts_ms: time of the fill that opened the current position, 0 when flat.
    """

    symbol: str
    qty: Decimal = ZERO
    avg_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    opened_ts_ms: int = 0

    @property
    def is_open(self) -> bool:
        """True while qty is not 0 (long or short)."""
        return self.qty != 0


@dataclass(slots=True)
class OrderUpdate:
    """What a gateway reports about an order: status, plus any fills it carries."""

    client_order_id: str
    status: OrderStatus
    exchange_order_id: str | None = None
    reason: str = ""
    fills: list[Fill] = field(default_factory=list)
    side: Side | None = None
    """The venue's side of the order (None: not reported); checked against the intent before a
    timed-out submission found by its client order id is adopted."""
    amount: Decimal | None = None
    """The venue's original quantity, base currency (None: not reported)."""
    cost: Decimal | None = None
    """The venue's original quote amount of a market buy by cost (None: not reported)."""
