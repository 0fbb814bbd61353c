"""The per-trade audit trail of a backtest: round trips built from fills."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

from engine.events import Event
from engine.models import ZERO, Candle, Fill, Order, Side
from engine.portfolio import Portfolio
from engine.timeframes import iso_utc

END_OF_DATA = "end_of_data"


@dataclass
class Trade:
    """One round trip: an entry, then the exit that closed it. Times ms UTC, prices quote
    per base, qty base (unsigned), fees, funding and pnl quote; ``short`` for a short
    (futures); ``funding`` is what the position paid (negative: received); ``pnl`` is net
    of both fees and the funding."""

    symbol: str
    entry_ts_ms: int
    entry_price: Decimal
    qty: Decimal
    entry_fee: Decimal
    entry_signal: str
    exit_ts_ms: int = 0
    exit_price: Decimal = ZERO
    exit_fee: Decimal = ZERO
    exit_reason: str = ""
    short: bool = False
    funding: Decimal = ZERO

    @property
    def fees(self) -> Decimal:
        """Entry plus exit fee, quote."""
        return self.entry_fee + self.exit_fee

    @property
    def pnl(self) -> Decimal:
        """``qty x (exit - entry)`` for a long, ``qty x (entry - exit)`` for a short, less fees and
        funding, quote."""
        gross = self.qty * (self.exit_price - self.entry_price)
        return (-gross if self.short else gross) - self.fees - self.funding


class TradeLog:
    """A :class:`engine.ports.Journal` for backtests: keeps round trips and events in memory."""

    def __init__(self) -> None:
        self.trades: list[Trade] = []
        self._open: dict[str, Trade] = {}
        self.events: list[Event] = []

    def order_created(self, order: Order, events: list[Event]) -> None:
        self.events.extend(events)

    def order_changed(self, order: Order, previous: str, events: list[Event]) -> None:
        self.events.extend(events)

    def fill_applied(self, order: Order, fill: Fill, portfolio: Portfolio, events: list[Event]) -> None:
        self.events.extend(events)
        trade = self._open.get(fill.symbol)
        if trade is None or trade.short == (fill.side is Side.SELL):  # an entry (a long's buy, a short's sell)
            self._open[fill.symbol] = Trade(fill.symbol, fill.ts_ms, fill.price, fill.qty, fill.fee, order.intent,
                                            short=fill.side is Side.SELL)
            return
        del self._open[fill.symbol]
        trade.exit_ts_ms, trade.exit_price, trade.exit_fee = fill.ts_ms, fill.price, fill.fee
        trade.exit_reason = order.intent
        trade.funding = portfolio.funding_by_symbol.get(fill.symbol, ZERO)
        self.trades.append(trade)

    def funding_applied(self, symbol: str, portfolio: Portfolio, events: list[Event]) -> None:
        """Funding is read from the account when the round trip closes (its ``funding``)."""

    def risk_recorded(self, events: list[Event], breaker) -> None:
        self.events.extend(events)

    def record_events(self, events: list[Event]) -> None:
        self.events.extend(events)

    def protection_changed(self, symbol: str, protection, events: list[Event]) -> None:
        self.events.extend(events)

    def lock_added(self, lock, events: list[Event]) -> None:
        self.events.extend(events)

    def locks_ended(self, symbols: list[str], by: str, now_ms: int) -> None:
        pass

    records_candles: ClassVar[bool] = False
    """A backtest's log keeps no candle cursor (:class:`engine.ports.Journal`)."""

    def candle_processed(self, key: str, candle: Candle, close_ms: int, portfolio: Portfolio, equity_raw: int) -> None:
        pass


def money_text(value: Decimal) -> str:
    """A quote amount for a CSV: 8 decimal places, or 8 significant digits when that needs more
    (0.000012345678), rounded half-even; never an exponent nor a 25-digit tail of a product."""
    if not value:
        return "0"
    places = max(8, 7 - value.adjusted())
    return f"{value.quantize(Decimal(1).scaleb(-places)):f}"


def write_trades_csv(trades: list[Trade], path: str | Path) -> None:
    """Write ``entry_time,entry_price,exit_time,exit_price,qty,fees,pnl,exit_reason,entry_signal,symbol,side,funding``
    (times ISO-8601 UTC, prices quote per base, qty base, fees, pnl and funding quote rounded
    by :func:`money_text`; ``side`` is long or short; ``side`` and ``funding`` follow
    ``symbol``, so readers of the older ten columns are unaffected)."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["entry_time", "entry_price", "exit_time", "exit_price", "qty", "fees", "pnl",
                    "exit_reason", "entry_signal", "symbol", "side", "funding"])
        for t in trades:
            w.writerow([iso_utc(t.entry_ts_ms), t.entry_price, iso_utc(t.exit_ts_ms), t.exit_price, t.qty,
                        money_text(t.fees), money_text(t.pnl), t.exit_reason, t.entry_signal, t.symbol,
                        "short" if t.short else "long", money_text(t.funding)])
