"""A USDT-margined perpetual futures account: long and short positions, leverage, isolated
margin, funding and the liquidation price (ADR 0017).

One-way mode: one signed net position per symbol (above 0 long, below 0 short). An order
opens from flat, adds to the position's side or reduces it towards flat; it never crosses
zero (a reversal is two orders, as in freqtrade). Linear contracts of one base unit: the
position's PnL is ``qty x (price - entry)`` in quote currency.

The ledger, in quote currency (``Decimal``, like :class:`~engine.portfolio.Portfolio`):

* ``wallet``: deposits plus realized PnL, minus fees and funding;
* each position's isolated ``margin``: ``|qty| x entry / leverage`` when opened, reduced in
  proportion when the position is, and by the funding it pays (isolated margin pays its own
  funding, as on Binance);
* ``cash``: the available balance ``wallet - sum(margin)``, which funds new margin and fees.

Equity is ``wallet + sum(qty x (mark - entry))``. Its fixed-point image keeps the spot form
``cash_raw + sum(held x mark)`` (:mod:`engine.money`), so the runner marks both accounts the
same way: here ``cash_raw`` is ``wallet - sum(qty x entry)`` (the wallet less the signed
cost basis), not the available balance.
"""

from __future__ import annotations

import csv
import json
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import ClassVar, NamedTuple

from engine.errors import ConfigError, DataError, OrderError, StoreError
from engine.models import ZERO, Fill, Position, Side
from engine.money import quote_raw
from engine.portfolio import Portfolio

FUNDING_INTERVAL_MS = 8 * 3_600_000
"""Binance USD-M funding every 8 hours (00:00, 08:00, 16:00 UTC)."""


def perpetual_stem(symbol: str) -> str:
    """``XRP/USDT`` -> ``XRP_USDT_USDT``: the file-name stem of its linear perpetual
    (ccxt's ``XRP/USDT:USDT``), as freqtrade names futures data: candles
    ``<stem>-5m-futures.csv.gz``, funding rates ``<stem>-8h-funding_rate.csv``."""
    base, quote = symbol.split("/")[:2]
    return f"{base}_{quote}_{quote}"


def liquidation_price(qty: Decimal, entry: Decimal, margin: Decimal, mmr: Decimal, cum: Decimal = ZERO) -> Decimal:
    """Isolated-margin liquidation price of one position, quote per base.

    The position is liquidated when its margin balance ``margin + s x Q x (P - entry)`` falls to
    the maintenance margin ``Q x P x mmr - cum`` (``s`` = +1 long, -1 short, ``Q = |qty|``).
    Solving for ``P`` gives ``(margin + cum - s x Q x entry) / (Q x (mmr - s))``; source:
    Binance, "How to Calculate Liquidation Price of USDⓈ-M Contracts" (isolated mode, one
    position), with ``mmr``/``cum`` the maintenance rate and amount of the notional's tier
    (ccxt ``fetch_leverage_tiers``: ``maintenanceMarginRate`` and the tier's ``cum``).

    Args:
        qty: signed base quantity (not 0); entry: average entry price; margin: the position's
            isolated margin, quote. Returns 0 for a long whose margin covers any fall.

    Raises:
        ValueError: ``qty`` is 0.
    """
    if not qty:
        raise ValueError("a flat position has no liquidation price")
    s = 1 if qty > 0 else -1
    q = abs(qty)
    price = (margin + cum - s * q * entry) / (q * (mmr - s))
    return max(price, ZERO)


class MaintenanceTier(NamedTuple):
    """One maintenance-margin tier of a market: positions whose notional (quote) is above
    ``min_notional`` and at most ``max_notional`` keep ``rate x notional - amount`` of
    maintenance margin and may use at most ``max_leverage``."""

    min_notional: Decimal
    max_notional: Decimal
    rate: Decimal
    amount: Decimal
    max_leverage: Decimal


@dataclass(frozen=True)
class LeverageTiers:
    """A market's maintenance tiers, ascending (ccxt ``fetch_leverage_tiers``, ``tiers[symbol]``)."""

    tiers: tuple[MaintenanceTier, ...]

    def max_notional(self, leverage: Decimal) -> Decimal:
        """The largest position (quote) a venue allows at ``leverage``: the cap of the last tier
        whose maximum leverage is at least it (0 when none allows it)."""
        caps = [t.max_notional for t in self.tiers if t.max_leverage >= leverage]
        return caps[-1] if caps else ZERO

    def at(self, notional: Decimal) -> MaintenanceTier:
        """The tier holding ``notional`` (quote): the first whose cap is at least it, so a
        position at a cap (the largest its leverage allows, :meth:`max_notional`) is in the
        tier that allows it; the last tier above every cap."""
        i = bisect_left([t.max_notional for t in self.tiers], notional)
        return self.tiers[min(i, len(self.tiers) - 1)]

    @classmethod
    def from_ccxt(cls, rows: list[dict]) -> LeverageTiers:
        """Tiers from ccxt's unified leverage-tier structures. The rate is read from the
        venue's own text when ccxt keeps it (``info.maintMarginRatio`` on Binance: exact),
        else from ``maintenanceMarginRate``. The maintenance amount is Binance's ``cum``, built
        tier by tier as ``cum_i = cum_(i-1) + min_notional_i x (rate_i - rate_(i-1))`` (so the
        maintenance margin is continuous across tiers; it equals ``info.cum`` where given).

        Raises:
            DataError: no tier, a missing or non-numeric field, or tiers out of order.
        """
        if not rows:
            raise DataError("no leverage tier")
        tiers, cum, prev_rate = [], ZERO, ZERO
        try:
            for row in sorted(rows, key=lambda r: float(r["minNotional"])):
                info = row.get("info") or {}
                rate = Decimal(str(info.get("maintMarginRatio", row["maintenanceMarginRate"])))
                low = Decimal(str(info.get("notionalFloor", row["minNotional"])))
                high = Decimal(str(info.get("notionalCap", row["maxNotional"])))
                cum += low * (rate - prev_rate)
                prev_rate = rate
                tiers.append(MaintenanceTier(low, high, rate, cum, Decimal(str(row["maxLeverage"]))))
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise DataError(f"a leverage tier lacks a number: {exc}") from None
        if any(b.min_notional != a.max_notional for a, b in zip(tiers, tiers[1:])):
            raise DataError("leverage tiers must follow one another (each min_notional the previous max_notional)")
        return cls(tuple(tiers))

    @classmethod
    def read_json(cls, path: str | Path, symbol: str) -> LeverageTiers:
        """``symbol``'s tiers from a JSON file of ``exchange.fetch_leverage_tiers()`` (symbol ->
        tiers); ``BASE/QUOTE`` finds the linear perpetual ``BASE/QUOTE:QUOTE``.

        Raises:
            DataError: an unreadable file or no tiers for the symbol.
        """
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot read the leverage tiers: {exc}") from None
        quote = symbol.split("/")[-1]
        rows = data.get(symbol) or data.get(f"{symbol}:{quote}") if isinstance(data, dict) else None
        if not rows:
            raise DataError(f"{path}: no leverage tiers for {symbol}")
        return cls.from_ccxt(rows)


def tiers_for(tiers: LeverageTiers | Mapping[str, LeverageTiers] | None, symbol: str) -> LeverageTiers | None:
    """``symbol``'s tiers from one market's :class:`LeverageTiers` (any symbol's) or a mapping
    symbol -> tiers; None when there are none for it."""
    if tiers is None or isinstance(tiers, LeverageTiers):
        return tiers
    return tiers.get(symbol)


class FuturesAccount(Portfolio):
    """A perpetual futures account (see the module docstring); :meth:`apply` is its only
    writer besides :meth:`apply_funding`.

    Args:
        wallet: starting wallet balance, quote.
        leverage: position notional per unit of margin (1 to 125 on Binance).
        maintenance_rate, maintenance_amount: the maintenance tier used for the liquidation
            price (Binance BTCUSDT's first tier: 0.004 and 0) when no ``tiers`` are given.
        tiers: the markets' maintenance tiers, symbol -> :class:`LeverageTiers` (a bare
            :class:`LeverageTiers` is any symbol's: one market); a position's liquidation price
            then uses the tier of its notional at entry. A symbol without tiers uses
            ``maintenance_rate``/``maintenance_amount``.

    Raises:
        ConfigError: leverage below 1.
    """

    allows_short = True

    def __init__(self, wallet: Decimal, quote: str = "USDT", leverage: Decimal = Decimal(1),
                 maintenance_rate: Decimal = Decimal("0.004"), maintenance_amount: Decimal = ZERO,
                 tiers: LeverageTiers | Mapping[str, LeverageTiers] | None = None):
        if leverage < 1:
            raise ConfigError(f"futures.leverage: must be at least 1, got {leverage}")
        self.leverage = Decimal(leverage)
        self.maintenance_rate = Decimal(maintenance_rate)
        self.maintenance_amount = Decimal(maintenance_amount)
        self.tiers = tiers
        self.wallet = Decimal(wallet)
        self.margin: dict[str, Decimal] = {}
        """symbol -> isolated margin of its open position, quote."""
        self.cost: dict[str, Decimal] = {}
        """symbol -> signed cost basis of its open position (``qty x entry``), quote."""
        self.funding_paid = ZERO
        """Funding paid over the account's life, quote (negative when received)."""
        super().__init__(wallet, quote)

    def tiers_of(self, symbol: str) -> LeverageTiers | None:
        """``symbol``'s maintenance tiers, None when it has none (one tier at
        ``maintenance_rate`` then)."""
        return tiers_for(self.tiers, symbol)

    def restore(self, positions: dict[str, Position]) -> None:
        """Take the stored ``positions`` (with :attr:`margin`, :attr:`cost` and the funding
        already set for the open ones) and re-derive the available cash and the fixed-point
        image; a daemon's restart (:func:`engine.store.state.load_state`).

        Raises:
            StoreError: an open position without its margin or cost basis."""
        for sym, pos in positions.items():
            if pos.qty and (self.margin.get(sym) is None or self.cost.get(sym) is None):
                raise StoreError(f"futures position {sym} has no stored margin or cost basis: the store's "
                                 "positions table is inconsistent")
        self.positions = dict(positions)
        self.held = {}
        for pos in self.positions.values():
            self._refresh(pos)
        self._rebalance()

    def _rebalance(self) -> None:
        self.cash = self.wallet - sum(self.margin.values(), ZERO)
        self.cash_raw = quote_raw(self.wallet - sum(self.cost.values(), ZERO))

    def apply(self, fill: Fill) -> Position:
        """Book a fill: open or add (margin ``qty x price / leverage`` and the fee must fit the
        available balance) or reduce (realize ``(price - entry) x qty`` for a long,
        ``(entry - price) x qty`` for a short, release margin in proportion). The fee is quote.

        Raises:
            OrderError: a fill that would cross zero (a flip in one order), or margin plus fee
                above the available balance. Nothing is changed then.
        """
        pos = self.position(fill.symbol)
        sym = fill.symbol
        step = fill.qty if fill.side is Side.BUY else -fill.qty
        fee = fill.fee if fill.fee_asset in ("", self.quote) else ZERO
        if not pos.qty or (pos.qty > 0) == (step > 0):  # open or add
            margin = fill.qty * fill.price / self.leverage
            if margin + fee > self.cash:
                raise OrderError(f"fill {fill.trade_id} needs {margin + fee} {self.quote} of margin and fee, "
                                 f"available is {self.cash}")
            if not pos.qty:
                pos.opened_ts_ms = fill.ts_ms
                self.funding_by_symbol[sym] = ZERO
            self.cost[sym] = self.cost.get(sym, ZERO) + step * fill.price
            self.margin[sym] = self.margin.get(sym, ZERO) + margin
            pos.qty += step
            pos.avg_price = self.cost[sym] / pos.qty
        else:  # reduce towards flat
            if fill.qty > abs(pos.qty):
                raise OrderError(f"fill {fill.trade_id} {fill.side.value}s {fill.qty} {sym} against a position of "
                                 f"{pos.qty}: an order may not cross zero (close, then open the other side)")
            if fill.qty == abs(pos.qty):
                released_cost, released_margin = self.cost.pop(sym), self.margin.pop(sym)
            else:
                share = fill.qty / abs(pos.qty)
                released_cost, released_margin = self.cost[sym] * share, self.margin[sym] * share
                self.cost[sym] -= released_cost
                self.margin[sym] -= released_margin
            pnl = -step * fill.price - released_cost  # closing -step at price: proceeds less cost basis
            pos.realized_pnl += pnl
            self.wallet += pnl
            pos.qty += step
            if not pos.qty:
                pos.avg_price = ZERO
                pos.opened_ts_ms = 0
        self.wallet -= fee
        self.fees_paid += fee
        self._rebalance()
        self._refresh(pos)
        return pos

    def apply_funding(self, symbol: str, rate: Decimal, mark: Decimal) -> Decimal:
        """Book one funding payment on ``symbol``'s position: it pays ``qty x mark x rate``
        (quote; a long pays a positive rate, a short receives it), from its isolated margin
        and the wallet. Returns the amount paid (0 when flat)."""
        pos = self.positions.get(symbol)
        if pos is None or not pos.qty:
            return ZERO
        return self.book_funding(symbol, pos.qty * mark * rate)

    def book_funding(self, symbol: str, paid: Decimal) -> Decimal:
        """Book a funding payment of ``paid`` quote on ``symbol``'s open position (negative:
        received), as a live venue reported it; from its isolated margin and the wallet.
        Returns ``paid``."""
        self.wallet -= paid
        self.margin[symbol] -= paid
        self.funding_paid += paid
        self.funding_by_symbol[symbol] = self.funding_by_symbol.get(symbol, ZERO) + paid
        self._rebalance()
        return paid

    def liquidation_price(self, symbol: str) -> Decimal | None:
        """The open position's isolated liquidation price (:func:`liquidation_price`), None when flat."""
        pos = self.positions.get(symbol)
        if pos is None or not pos.qty:
            return None
        rate, amount = self.maintenance(abs(self.cost[symbol]), symbol)
        return liquidation_price(pos.qty, pos.avg_price, self.margin[symbol], rate, amount)

    def maintenance(self, notional: Decimal, symbol: str) -> tuple[Decimal, Decimal]:
        """Maintenance rate and amount for a position of ``notional`` (quote) in ``symbol``:
        its tier's, or the account's single tier when the symbol has no tiers."""
        tiers = self.tiers_of(symbol)
        if tiers is None:
            return self.maintenance_rate, self.maintenance_amount
        tier = tiers.at(notional)
        return tier.rate, tier.amount


@dataclass(frozen=True)
class FundingRates:
    """Funding rates of one perpetual market: ``times`` ms UTC (ascending), ``rates`` as
    fractions of the notional (0.0001 = 0.01%) paid by longs to shorts when positive."""

    times: tuple[int, ...]
    rates: tuple[Decimal, ...]
    books_payments: ClassVar[bool] = False
    """Rates the runner applies to the position (:class:`engine.ports.FundingSource`)."""

    def due(self, start_ms: int, end_ms: int) -> Decimal | None:
        """The rate of a funding time in ``[start_ms, end_ms)`` (one candle), None when none
        falls in it (a candle longer than 8 h with several: their sum)."""
        i = bisect_left(self.times, start_ms)
        total, found = ZERO, False
        while i < len(self.times) and self.times[i] < end_ms:
            total += self.rates[i]
            found = True
            i += 1
        return total if found else None

    @classmethod
    def read_csv(cls, path: str | Path) -> FundingRates:
        """Read a CSV of ``timestamp,funding_rate`` (ms UTC, a fraction of the notional), one
        row per funding time, ascending (``tests/fixtures/futures`` has a real one).

        Raises:
            DataError: an unreadable file, a missing column, a row whose time or rate is not a
                number (named by its line), or times out of order.
        """
        try:
            return cls._read(path)
        except OSError as exc:
            raise DataError(f"{path}: cannot read the funding file: {exc.strerror}") from None

    @classmethod
    def _read(cls, path: str | Path) -> FundingRates:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            for col in ("timestamp", "funding_rate"):
                if col not in (reader.fieldnames or []):
                    raise DataError(f"{path}: no '{col}' column (expected timestamp,funding_rate)")
            times, rates = [], []
            for row in reader:
                ts, rate = row["timestamp"], row["funding_rate"]
                try:
                    times.append(int(ts))
                    rates.append(Decimal(rate))
                    if not rates[-1].is_finite():
                        raise ValueError(rate)
                except (ValueError, TypeError, ArithmeticError):
                    raise DataError(f"{path} line {reader.line_num}: bad funding row {ts!r},{rate!r}") from None
        if any(b <= a for a, b in zip(times, times[1:])):
            raise DataError(f"{path}: funding times must be strictly increasing")
        return cls(tuple(times), tuple(rates))
