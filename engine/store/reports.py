"""Read-only reports over the store for operators (the bot's /pnl, /daily, /trades).

Days are UTC days of the equity snapshots' times (a snapshot is stamped with the close of
its candle, so a replay reports the replayed days). Analytics: floats are fine here; the
books stay Decimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from engine.events import EventKind
from engine.futures import FuturesAccount
from engine.models import Fill, Side
from engine.portfolio import Portfolio
from engine.store.account import AccountRow
from engine.store.base import Store
from engine.store.ledger import EquitySnapshotRow, EventRow
from engine.store.orders import FillRow

DAY_MS = 86_400_000
_START = EventKind.STARTUP.value
_LIFECYCLE = (_START, EventKind.SHUTDOWN.value)
"""The kinds that mark a run's start and clean stop, as the store's ``events.kind`` has them."""


@dataclass(frozen=True)
class DayPnl:
    """One UTC day: ``day_ms`` its start (ms UTC), equity at its last snapshot (quote), the
    change from the previous day's last snapshot (or the day's first), and its fills."""

    day_ms: int
    equity: float
    change: float
    fills: int


@dataclass(frozen=True)
class FillReport:
    """A stored fill with the PnL it realized, quote: an exit (a sell of a long, a buy of a
    short: ``closes``) realizes ``(price - avg entry) x qty - fee`` (a short's sign turned);
    an entry 0."""

    ts_ms: int
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    realized: Decimal
    client_order_id: str
    closes: bool = False
    """The fill reduces a position (it realizes PnL)."""


def daily_pnl(store: Store, days: int) -> list[DayPnl]:
    """The last ``days`` UTC days that have equity snapshots, oldest first."""
    with store.read() as s:
        rows = s.execute(select(EquitySnapshotRow.ts_ms, EquitySnapshotRow.equity).order_by(EquitySnapshotRow.id)).all()
        fill_ts = [t for (t,) in s.execute(select(FillRow.ts_ms))]
    last_of_day: dict[int, float] = {}
    first_of_day: dict[int, float] = {}
    for ts, equity in rows:
        d = ts // DAY_MS * DAY_MS
        first_of_day.setdefault(d, float(equity))
        last_of_day[d] = float(equity)
    fills_per_day: dict[int, int] = {}
    for ts in fill_ts:
        d = ts // DAY_MS * DAY_MS
        fills_per_day[d] = fills_per_day.get(d, 0) + 1
    out, prev = [], None
    for d in sorted(last_of_day):
        base = prev if prev is not None else first_of_day[d]
        out.append(DayPnl(d, last_of_day[d], last_of_day[d] - base, fills_per_day.get(d, 0)))
        prev = last_of_day[d]
    return out[-days:] if days > 0 else out


def equity_change(store: Store, days: float) -> tuple[float, float, int, int] | None:
    """Equity (quote) at the start and the end of the last ``days`` days of snapshots, and
    the window (ms UTC); None without snapshots."""
    with store.read() as s:
        last = s.execute(select(EquitySnapshotRow.ts_ms, EquitySnapshotRow.equity)
                         .order_by(EquitySnapshotRow.id.desc()).limit(1)).first()
        if last is None:
            return None
        start_ms = last.ts_ms - int(days * DAY_MS)
        first = s.execute(select(EquitySnapshotRow.ts_ms, EquitySnapshotRow.equity)
                          .where(EquitySnapshotRow.ts_ms >= start_ms).order_by(EquitySnapshotRow.id).limit(1)).first()
    return float(first.equity), float(last.equity), first.ts_ms, last.ts_ms


def fill_reports(store: Store) -> list[FillReport]:
    """Every stored fill, oldest first, with the PnL each realized, net of its fee: replayed
    through a :class:`Portfolio` from the account's starting cash, or on a futures account
    through a :class:`~engine.futures.FuturesAccount` at its leverage with the stored funding
    payments in order (a fill that reduces a long or a short realizes; ADR 0017)."""
    with store.read() as s:
        acct = s.scalars(select(AccountRow)).first()
        rows = s.scalars(select(FillRow).order_by(FillRow.id)).all()
        fills = [Fill(r.trade_id, r.client_order_id, r.symbol, Side(r.side), r.qty, r.price, r.fee, r.ts_ms,
                      r.fee_asset) for r in rows]
        funding = [(p["ts_ms"], p["symbol"], Decimal(p["amount"])) for p in s.scalars(
            select(EventRow.payload).where(EventRow.kind == EventKind.FUNDING.value).order_by(EventRow.id))]
    if acct is None:
        return []
    if acct.market == "futures":
        book: Portfolio = FuturesAccount(acct.initial_cash, acct.quote, acct.leverage or Decimal(1))
    else:
        book = Portfolio(acct.initial_cash, acct.quote)
    out, paid = [], 0
    for f in fills:
        while paid < len(funding) and funding[paid][0] <= f.ts_ms:  # funding paid before this fill
            _, symbol, amount = funding[paid]
            if book.position(symbol).qty:
                book.book_funding(symbol, amount)
            paid += 1
        held = book.position(f.symbol).qty
        before = book.position(f.symbol).realized_pnl
        fees_before = book.fees_paid
        book.apply(f)
        realized = Decimal(0)
        closes = (held > 0 and f.side is Side.SELL) or (held < 0 and f.side is Side.BUY) or \
            (not book.allows_short and f.side is Side.SELL)
        if closes:
            realized = book.position(f.symbol).realized_pnl - before - (book.fees_paid - fees_before)
        out.append(FillReport(f.ts_ms, f.symbol, f.side.value, f.qty, f.price, f.fee, f.fee_asset or acct.quote,
                              realized, f.client_order_id, closes))
    return out


def unclean_run(store: Store) -> tuple[int, int] | None:
    """(event id, ms UTC) of the previous run's ``startup`` event if that run never recorded
    a clean stop, else None. Call before this run records its own start."""
    with store.read() as s:
        last = s.scalars(select(EventRow).where(EventRow.kind.in_(_LIFECYCLE))
                         .order_by(EventRow.id.desc()).limit(1)).first()
        return (last.id, last.ts_ms) if last is not None and last.kind == EventKind.STARTUP else None


@dataclass(frozen=True)
class StoredEvent:
    """An event read back from the store, with what alert formatting uses: ``kind``,
    ``ts_ms`` (ms UTC) and ``payload()``."""

    id: int
    kind: str
    ts_ms: int
    data: dict

    def payload(self) -> dict:
        """The event's fields as stored (JSON values)."""
        return dict(self.data)


def events_after(store: Store, event_id: int) -> list[StoredEvent]:
    """Every stored event with an id above ``event_id``, oldest first."""
    with store.read() as s:
        rows = s.scalars(select(EventRow).where(EventRow.id > event_id).order_by(EventRow.id)).all()
        return [StoredEvent(r.id, r.kind, r.ts_ms, dict(r.payload)) for r in rows]


def unclean_stops(store: Store, since_ms: int) -> int:
    """How many runs that started at or after ``since_ms`` (ms UTC) never recorded a clean
    stop: a start followed by another start, or by nothing. Call before this run records its
    own start; a number above 1 is a crash loop."""
    with store.read() as s:
        kinds = s.scalars(select(EventRow.kind).where(EventRow.kind.in_(_LIFECYCLE),
                                                      EventRow.ts_ms >= since_ms).order_by(EventRow.id)).all()
    return sum(1 for kind, after in zip(kinds, kinds[1:] + [_START]) if kind == _START and after == _START)
