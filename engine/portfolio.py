"""Cash, positions, realized PnL and equity of one account.

The ledger of record is ``Decimal`` (what the store writes and the venue reports); every
booking also refreshes its fixed-point image (:attr:`Portfolio.cash_raw`,
:attr:`Portfolio.held`, :mod:`engine.money`), from which equity is marked exactly and
cheaply on every candle. Both change only in :meth:`Portfolio.apply`, so they cannot drift.

Spot, long-only: cash in quote currency, positions in base currency. Fees are kept apart
from realized PnL, so ``realized_pnl - fees_paid`` is the net result of closed quantity.
A fee is taken from whichever currency the venue charged: quote (the simulators, Binance
sells), base (Binance buys without BNB: the position receives ``qty - fee``), or a third
asset such as BNB, which the account does not hold and so only records.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from mypy_extensions import mypyc_attr

from engine.errors import OrderError
from engine.models import ZERO, Fill, Position, Side
from engine.money import PRICE_DP, QTY_DP, price_from_float, quote_decimal, quote_raw, to_raw


@mypyc_attr(allow_interpreted_subclasses=True)  # FuturesAccount, when compiled (engine.compiled)
class Portfolio:
    """Account state changed only by :meth:`apply`.

    Attributes:
        cash: quote currency available.
        initial_cash: quote currency at the start (for PnL).
        fees_paid: quote currency paid in fees, all fills.
        positions: symbol -> :class:`Position` (kept after closing, with qty 0).
        cash_raw: :attr:`cash` in raw 1e-20 quote; held: symbol -> raw 1e-12 base of each
            position with a quantity (the fixed-point image of the ledger, see the module).
    """

    allows_short: ClassVar[bool] = False
    """Spot is long-only: a sell larger than the position is refused (see
    :class:`~engine.futures.FuturesAccount` for shorts)."""

    def __init__(self, cash: Decimal, quote: str = "USDT", initial_cash: Decimal | None = None,
                 fees_paid: Decimal = ZERO, positions: dict[str, Position] | None = None):
        self.cash = Decimal(cash)
        self.quote = quote
        self.initial_cash = Decimal(initial_cash if initial_cash is not None else cash)
        self.fees_paid = Decimal(fees_paid)
        self.positions: dict[str, Position] = dict(positions or {})
        self.cash_raw = quote_raw(self.cash)
        self.funding_by_symbol: dict[str, Decimal] = {}
        """symbol -> funding its open position paid, quote (futures; spot pays none)."""
        self.held: dict[str, int] = {}
        for pos in self.positions.values():
            self._refresh(pos)

    def _refresh(self, pos: Position) -> None:
        """Re-derive the fixed-point image of ``pos``: its quantity while it has one (dust below
        1e-12 is kept, as 0), dropped when flat."""
        if pos.qty:
            self.held[pos.symbol] = to_raw(pos.qty, QTY_DP)
        else:
            self.held.pop(pos.symbol, None)

    def position(self, symbol: str) -> Position:
        """The position in ``symbol`` (a flat one if never traded)."""
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position(symbol)
        return pos

    def apply(self, fill: Fill) -> Position:
        """Book a fill: move cash and quantity, update average price and realized PnL.

        Buy: ``cash -= qty * price + quote_fee``; position ``+= qty - base_fee``; the average
        entry price is volume-weighted over the gross quantity.
        Sell: ``cash += qty * price - quote_fee``; position ``-= qty + base_fee``;
        ``realized_pnl += (price - avg_price) * qty``. ``fees_paid`` grows by the fee's quote
        value (a base fee valued at the fill price; a third-asset fee is not valued).

        Raises:
            OrderError: a sell larger than the position (spot is long-only) or a buy that
                would make cash negative. Nothing is changed then.
        """
        pos = self.position(fill.symbol)
        notional = fill.qty * fill.price
        quote_fee, base_fee = self.split_fee(fill)
        if fill.side is Side.BUY:
            cost = notional + quote_fee
            if cost > self.cash:
                raise OrderError(f"fill {fill.trade_id} costs {cost} {self.quote}, cash is {self.cash}")
            if not pos.is_open:
                pos.opened_ts_ms = fill.ts_ms
            pos.avg_price = (pos.avg_price * pos.qty + notional) / (pos.qty + fill.qty)
            pos.qty += fill.qty - base_fee
            self.cash -= cost
        else:
            if fill.qty + base_fee > pos.qty:
                raise OrderError(f"fill {fill.trade_id} sells {fill.qty} {fill.symbol}, position is {pos.qty}")
            pos.realized_pnl += (fill.price - pos.avg_price) * fill.qty
            pos.qty -= fill.qty + base_fee
            self.cash += notional - quote_fee
            if pos.qty == 0:
                pos.avg_price = ZERO
                pos.opened_ts_ms = 0
        self.fees_paid += quote_fee + base_fee * fill.price
        self.cash_raw = quote_raw(self.cash)
        self._refresh(pos)
        return pos

    def split_fee(self, fill: Fill) -> tuple[Decimal, Decimal]:
        """The fill's fee as (quote part, base part); a third-asset fee is neither."""
        asset = fill.fee_asset
        if asset in ("", self.quote):
            return fill.fee, ZERO
        if asset == fill.symbol.split("/")[0]:
            return ZERO, fill.fee
        return ZERO, ZERO

    def equity_raw(self, marks: dict[str, int]) -> int:
        """Cash plus each held position valued at ``marks[symbol]`` (raw 1e-8 quote per base),
        in raw 1e-20 quote, exact; a position without a mark yet (its market has not produced
        a candle since start-up) at its average entry price (rounded to 1e-8)."""
        value = self.cash_raw
        for sym, qty in self.held.items():
            mark = marks.get(sym)
            value += qty * (mark if mark is not None else to_raw(self.positions[sym].avg_price, PRICE_DP))
        return value

    def equity(self, marks: dict[str, float]) -> Decimal:
        """:meth:`equity_raw` at float market prices (a candle's close, quote per base), as an
        exact ``Decimal`` in quote currency (for the store, Telegram and metrics)."""
        return quote_decimal(self.equity_raw({s: price_from_float(m) for s, m in marks.items()}))

    @property
    def realized_pnl(self) -> Decimal:
        """Sum of realized PnL over all positions, quote currency, gross of fees."""
        return sum((p.realized_pnl for p in self.positions.values()), ZERO)
