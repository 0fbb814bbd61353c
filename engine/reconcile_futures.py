"""Reconciliation of a live futures account (ADR 0017): the orders as on spot
(:mod:`engine.reconcile`), and instead of asset balances, the futures wallet and each
market's signed position.

* **Wallet**: the exchange's ``walletBalance`` (quote; realized PnL, fees and funding, not the
  unrealized PnL) must equal its balance when the live account was created plus what the
  store's ledger moved since: ``baseline[quote] + account.wallet - account.initial_cash``
  (the ledger's wallet starts at the capital, so only its change counts).
* **Positions**: the exchange's one-way ``positionAmt`` of each traded perpetual must equal
  the store's signed position. A difference (a liquidation by the exchange, a trade by hand)
  is a ``balance_drift`` on ``"<symbol> position"``: alert and halt, like a spot drift.

External open orders are reported and left alone (adoption is spot-only).

An operator's Accept (re-baseline) takes a wallet drift (a deposit, a transfer); a position
drift cannot be accepted, because the store would then hold a position it has no fills for:
close it on the exchange (or flatten what the store holds) first.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from engine.errors import VenueError, VenueUnavailable
from engine.models import Fill
from engine.reconcile import Reconciler, ReconcileVenue, balance_issues


class FuturesVenue(ReconcileVenue, Protocol):
    """What futures reconciliation needs besides orders (the ccxt futures gateway)."""

    def fetch_positions(self, symbols: list[str]) -> dict[str, Decimal]: ...


def position_key(symbol: str) -> str:
    """The key of ``symbol``'s position among the reconciled amounts ("BTC/USDT position")."""
    return f"{symbol} position"


class FuturesReconciler(Reconciler):
    """:class:`~engine.reconcile.Reconciler` of a futures account (see the module docstring).

    Args: as :class:`~engine.reconcile.Reconciler`; ``baseline`` holds the quote asset's
    wallet at the account's creation (plus accepted shifts); ``min_abs`` may name
    :func:`position_key` keys (the amount step).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        account = self.oms.portfolio
        self.offset = self.expected.get(self.quote, Decimal(0)) - account.initial_cash
        """Exchange wallet minus ledger wallet when nothing drifted, quote."""

    def _book(self, fill: Fill, _position) -> None:
        """Fills move the ledger, which :meth:`_expected` reads directly."""

    def _expected(self) -> dict[str, Decimal]:
        account = self.oms.portfolio
        out = {self.quote: account.wallet + self.offset}
        for symbol in self.symbols:
            out[position_key(symbol)] = account.position(symbol).qty
        return out

    def _actual(self) -> dict[str, Decimal]:
        wallet = self.venue.fetch_balances()
        out = {self.quote: wallet.get(self.quote, Decimal(0))}
        for symbol, qty in self.venue.fetch_positions(self.symbols).items():
            out[position_key(symbol)] = qty
        return out

    def _adopt(self, vo, report) -> str:
        """External orders are reported, never adopted, on futures: whether one opens or
        reduces a position is not the daemon's to guess."""
        return "left alone: adoption is spot-only (on futures an external order may open a position)"

    def rebaseline(self, now_ms: int) -> tuple[dict[str, Decimal], str]:
        """Accept a wallet drift (the offset moves by it); refuse while a position drifts.
        Returns (asset -> shift, words)."""
        try:
            actual = self._actual()
        except (VenueUnavailable, VenueError) as exc:
            return {}, f"nothing changed: the exchange did not answer ({exc})"
        found = balance_issues(self._expected(), actual, self.tolerance_pct, self.min_abs)
        positions = [i for i in found if i.symbol != self.quote]
        if positions:
            return {}, ("nothing changed: a position differs from the exchange's ("
                        + "; ".join(f"{i.symbol}: exchange {i.detail['exchange']}, store {i.detail['expected']}"
                                    for i in positions)
                        + "); a position cannot be accepted: close it on the exchange first")
        self._drift_seen = {}
        if not found:
            return {}, "no balance drift now: nothing to accept"
        shift = Decimal(found[0].detail["drift"])
        self.offset += shift
        return {self.quote: shift}, f"re-baselined: {self.quote} {shift:+f} (exchange {actual[self.quote]})"


__all__ = ["FuturesReconciler", "FuturesVenue", "position_key"]
