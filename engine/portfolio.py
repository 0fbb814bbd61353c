"""Cash, positions, realized PnL and equity of one account, in Decimal.

Spot, long-only: cash in quote currency, positions in base currency. Fees are kept apart
from realized PnL, so ``realized_pnl - fees_paid`` is the net result of closed quantity.
A fee is taken from whichever currency the venue charged: quote (the simulators, Binance
sells), base (Binance buys without BNB: the position receives ``qty - fee``), or a third
asset such as BNB, which the account does not hold and so only records.
"""

from __future__ import annotations

from decimal import Decimal

from engine.errors import OrderError
from engine.models import ZERO, Fill, Position, Side


class Portfolio:
    """Account state changed only by :meth:`apply`.

    Attributes:
        cash: quote currency available.
        initial_cash: quote currency at the start (for PnL).
        fees_paid: quote currency paid in fees, all fills.
        positions: symbol -> :class:`Position` (kept after closing, with qty 0).
    """

    def __init__(self, cash: Decimal, quote: str = "USDT", initial_cash: Decimal | None = None,
                 fees_paid: Decimal = ZERO, positions: dict[str, Position] | None = None):
        self.cash = Decimal(cash)
        self.quote = quote
        self.initial_cash = Decimal(initial_cash if initial_cash is not None else cash)
        self.fees_paid = Decimal(fees_paid)
        self.positions: dict[str, Position] = dict(positions or {})

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
        return pos

    def split_fee(self, fill: Fill) -> tuple[Decimal, Decimal]:
        """The fill's fee as (quote part, base part); a third-asset fee is neither."""
        asset = fill.fee_asset
        if asset in ("", self.quote):
            return fill.fee, ZERO
        if asset == fill.symbol.split("/")[0]:
            return ZERO, fill.fee
        return ZERO, ZERO

    def equity(self, marks: dict[str, float]) -> Decimal:
        """Cash plus each open position valued at ``marks[symbol]`` (quote per base); a position
        without a mark yet (its market has not produced a candle since start-up) at its average
        entry price."""
        value = self.cash
        for sym, pos in self.positions.items():
            if pos.is_open:
                value += pos.qty * (Decimal(repr(marks[sym])) if sym in marks else pos.avg_price)
        return value

    @property
    def realized_pnl(self) -> Decimal:
        """Sum of realized PnL over all positions, quote currency, gross of fees."""
        return sum((p.realized_pnl for p in self.positions.values()), ZERO)
