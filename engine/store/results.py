"""Results from the store: round trips rebuilt from the stored fills and orders, broken down
by exit reason, entry signal and symbol; profit (closed and open); equity per week or month.
What ``/stats``, ``/performance``, ``/profit``, ``/weekly``, ``/monthly`` and
``quantd report`` show.

A round trip opens with the first buy fill of a flat symbol and closes when sells have taken
the position back to dust: less than :data:`DUST_SHARE` of the quantity bought (a fee
taken in the base currency leaves such a remainder, which the engine counts as flat).
On a futures account (ADR 0017) a sell of a flat symbol opens a short, which buys close;
the funding a position paid (its ``funding`` events) is in its PnL.
Money in quote currency: a fee paid in the base currency is valued at its fill's price.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import select

from engine.events import EventKind
from engine.models import ZERO
from engine.store.account import AccountRow
from engine.store.base import Store
from engine.store.ledger import EquitySnapshotRow, EventRow
from engine.store.orders import FillRow, OrderRow

DUST_SHARE = Decimal("0.001")
"""A position below this share of the quantity bought in its round trip is closed."""


@dataclass
class RoundTrip:
    """One round trip, long or ``short``. Times ms UTC; quantities base; money quote, ``pnl``
    net of fees and funding. A long buys to enter (``bought``, ``cost``) and sells to exit
    (``sold``, ``proceeds``); a short the other way round."""

    symbol: str
    entry_ts_ms: int
    entry_signal: str
    bought: Decimal = ZERO
    cost: Decimal = ZERO
    sold: Decimal = ZERO
    proceeds: Decimal = ZERO
    fees: Decimal = ZERO
    """Every fee, valued in quote (a base-currency fee at its fill's price)."""
    quote_fees: Decimal = ZERO
    """The fees paid in quote; a base-currency fee is already in the smaller quantity sold."""
    exit_ts_ms: int | None = None
    exit_reason: str = ""
    fills: int = 0
    short: bool = False
    funding: Decimal = ZERO
    """Funding paid while open, quote (negative: received)."""

    @property
    def is_open(self) -> bool:
        """True until sells took the position back to dust."""
        return self.exit_ts_ms is None

    @property
    def held(self) -> Decimal:
        """Base quantity still held, unsigned (a long's bought less sold, a short's sold less
        bought back; base fees are in ``fees`` already)."""
        return self.sold - self.bought if self.short else self.bought - self.sold

    @property
    def side(self) -> str:
        """``long`` or ``short``."""
        return "short" if self.short else "long"

    @property
    def entered(self) -> Decimal:
        """Base quantity of the entry side (bought for a long, sold for a short)."""
        return self.sold if self.short else self.bought

    @property
    def pnl(self) -> Decimal:
        """Proceeds minus cost minus the fees paid in quote (a fee taken in the base currency
        shrank the quantity sold, so it is in the proceeds already) minus funding, quote."""
        return self.proceeds - self.cost - self.quote_fees - self.funding

    @property
    def holding_secs(self) -> float:
        """From the first entry fill to the closing fill, seconds (0 while open)."""
        return 0.0 if self.exit_ts_ms is None else (self.exit_ts_ms - self.entry_ts_ms) / 1000


def exit_reason(intent: str) -> str:
    """The exit reason of an exit order's intent, in freqtrade's spirit: ``stop_loss``,
    ``take_profit``, ``time_exit``, ``flatten``, ``end_of_data``, ``liquidation``,
    ``exit_signal`` (the strategy's sell or exit of a short; a reversal's exit too) or the
    intent itself."""
    for reason in ("stop_loss", "take_profit", "time_exit", "end_of_data", "liquidation"):
        if intent.startswith(reason):
            return reason
    if intent.startswith("flatten"):
        return "flatten"
    if intent.startswith("manual"):
        return "manual"
    return "exit_signal" if intent.endswith((" SELL", " EXIT_SHORT", ": reverse")) else intent or "unknown"


def entry_signal(intent: str) -> str:
    """The entry signal of an entry order's intent: the strategy's name (``sma_cross`` of
    ``sma_cross(fast=10, slow=30) BUY`` or ``... ENTER_SHORT``), or the intent itself for
    manual and adopted orders."""
    for word in (" BUY", " ENTER_SHORT"):
        if intent.endswith(word):
            return intent[:-len(word)].split("(")[0]
    if intent.startswith("manual"):
        return "manual"
    return intent or "unknown"


def round_trips(store: Store) -> list[RoundTrip]:
    """Every round trip of the store, oldest first, open ones last in their symbol's order."""
    with store.read() as s:
        intents = dict(s.execute(select(OrderRow.client_order_id, OrderRow.intent)).all())
        fills = s.execute(select(FillRow.symbol, FillRow.side, FillRow.qty, FillRow.price, FillRow.fee,
                                 FillRow.fee_asset, FillRow.ts_ms, FillRow.client_order_id)
                          .order_by(FillRow.id)).all()
        acct = s.scalars(select(AccountRow)).first()
        funding = [(p["ts_ms"], p["symbol"], Decimal(p["amount"])) for p in s.scalars(
            select(EventRow.payload).where(EventRow.kind == EventKind.FUNDING.value).order_by(EventRow.id))]
    quote = acct.quote if acct is not None else ""
    futures = acct is not None and acct.market == "futures"
    trips: list[RoundTrip] = []
    current: dict[str, RoundTrip] = {}
    paid = iter(funding)
    next_paid = next(paid, None)
    for symbol, side, qty, price, fee, fee_asset, ts_ms, cid in fills:
        while next_paid is not None and next_paid[0] <= ts_ms:  # funding paid before this fill
            if next_paid[1] in current:
                current[next_paid[1]].funding += next_paid[2]
            next_paid = next(paid, None)
        base = symbol.split("/")[0]
        fee_quote = fee * price if fee_asset == base else fee if fee_asset in ("", quote) else ZERO
        trip = current.get(symbol)
        if trip is None:
            if side == "sell" and not futures:
                continue  # a sell of something bought before the store existed (adopted balance)
            trip = current[symbol] = RoundTrip(symbol, ts_ms, entry_signal(intents.get(cid, "")), short=side == "sell")
            trips.append(trip)
        if side == "buy":
            trip.bought += qty - (fee if fee_asset == base else ZERO)
            trip.cost += qty * price
        else:
            trip.sold += qty
            trip.proceeds += qty * price
        exiting = (side == "buy") == trip.short
        if exiting and trip.held <= trip.entered * DUST_SHARE:
            trip.exit_ts_ms, trip.exit_reason = ts_ms, exit_reason(intents.get(cid, ""))
            del current[symbol]
        trip.fees += fee_quote
        if fee_asset != base:
            trip.quote_fees += fee_quote
        trip.fills += 1
    for _, symbol, amount in ([next_paid] if next_paid else []) + list(paid):  # after the last fill
        if symbol in current:
            current[symbol].funding += amount
    return trips


@dataclass
class Breakdown:
    """Closed round trips grouped by one key: count, wins, PnL (quote), mean holding (s)."""

    key: str
    trades: int = 0
    wins: int = 0
    total_pnl: Decimal = ZERO
    holding_secs: float = 0.0

    @property
    def win_rate(self) -> float:
        """Share of trades with a positive net PnL, 0..1."""
        return self.wins / self.trades if self.trades else 0.0

    @property
    def mean_pnl(self) -> Decimal:
        """Mean net PnL per trade, quote."""
        return self.total_pnl / self.trades if self.trades else ZERO

    @property
    def mean_holding_secs(self) -> float:
        """Mean time from entry to exit, seconds."""
        return self.holding_secs / self.trades if self.trades else 0.0


def breakdown(trips: list[RoundTrip], by: str) -> list[Breakdown]:
    """Closed round trips grouped by ``by`` (``exit_reason``, ``entry_signal``, ``symbol`` or
    ``side``), the largest total PnL first."""
    groups: dict[str, Breakdown] = {}
    for t in trips:
        if t.is_open:
            continue
        g = groups.setdefault(getattr(t, by), Breakdown(getattr(t, by)))
        g.trades += 1
        g.wins += t.pnl > 0
        g.total_pnl += t.pnl
        g.holding_secs += t.holding_secs
    return sorted(groups.values(), key=lambda g: g.total_pnl, reverse=True)


@dataclass(frozen=True)
class PeriodPnl:
    """Equity at the end of a week (Monday 00:00 UTC start) or calendar month, and its change
    from the previous period's end (the first: from the period's first snapshot), quote."""

    start_ms: int
    equity: float
    change: float


def period_start(ts_ms: int, period: str) -> int:
    """The start (ms UTC) of the ``week`` (Monday) or ``month`` containing ``ts_ms``."""
    day = datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        start = day - timedelta(days=day.weekday())
    elif period == "month":
        start = day.replace(day=1)
    else:
        raise ValueError(f"unknown period {period!r}: week or month")
    return int(start.timestamp() * 1000)


def period_pnl(store: Store, period: str, n: int) -> list[PeriodPnl]:
    """The last ``n`` weeks or months that have equity snapshots, oldest first."""
    with store.read() as s:
        rows = s.execute(select(EquitySnapshotRow.ts_ms, EquitySnapshotRow.equity).order_by(EquitySnapshotRow.id)).all()
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    for ts, equity in rows:
        p = period_start(ts, period)
        first.setdefault(p, float(equity))
        last[p] = float(equity)
    out, prev = [], None
    for p in sorted(last):
        out.append(PeriodPnl(p, last[p], last[p] - (prev if prev is not None else first[p])))
        prev = last[p]
    return out[-n:]


def month_label(start_ms: int) -> str:
    """``2021-01`` style label of a month start."""
    d = datetime.fromtimestamp(start_ms / 1000, tz=timezone.utc)
    return f"{d.year}-{d.month:02d} ({calendar.month_abbr[d.month]})"
