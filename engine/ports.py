"""The Protocols the core needs from the outside world; adapters live in ``gateways/``,
``engine/store`` and ``bot/``. Each is small on purpose.
"""

from __future__ import annotations

from typing import Protocol

from engine.events import Event
from engine.models import Candle, Fill, Order, OrderUpdate
from engine.portfolio import Portfolio
from engine.risk.breaker import CircuitBreaker
from engine.risk.pairlocks import PairLock
from engine.risk.protection import Protection


class ExchangeGateway(Protocol):
    """Where orders go: a real exchange (ccxt), the paper simulator or the backtest one."""

    liquidates_itself: bool
    """True for a live exchange, which closes a futures position at its liquidation price by
    itself (its close reaches the store through reconciliation); False for a simulator, whose
    liquidations the runner orders (ADR 0017)."""

    needs_every_candle: bool
    """True when :meth:`sync` must run on every candle, even with no order of ours working (a
    real venue, whose orders can change without us; the simulator's volatility and volume
    slippage models, which read every candle). False lets the OMS skip quiet candles."""

    def create_order(self, order: Order) -> OrderUpdate:
        """Send a new order carrying its client order id; return the venue's answer.

        A refusal (insufficient funds, below the minimum notional) is an update with status
        ``rejected`` and the reason. Raises :class:`~engine.errors.SubmissionUnknown` when no
        answer came back: the order may exist, so the caller must look it up, never resend.
        """

    def cancel_order(self, order: Order, reason: str) -> OrderUpdate:
        """Cancel a working order; the answer carries its final status (an order that filled
        meanwhile comes back ``filled``, with its fills)."""

    def fetch_order(self, order: Order) -> OrderUpdate | None:
        """The venue's view of an order, looked up by client order id, with all its fills; None
        only when the venue proves it never received it. Raises
        :class:`~engine.errors.VenueUnavailable` when the venue cannot answer."""

    def sync(self, symbol: str, candle: Candle, working: list[Order]) -> list[OrderUpdate]:
        """Updates (fills, cancels) of ``working`` orders of ``symbol`` now that ``candle`` closed.

        Simulators match resting orders against the candle here; a live gateway polls the venue.
        """


class FundingSource(Protocol):
    """Funding of one perpetual market for the runner (ADR 0017): either rates it applies to
    the position (``books_payments`` False: :meth:`due`), or the payments the venue already
    charged the account (``books_payments`` True: :meth:`paid`)."""

    books_payments: bool

    def due(self, start_ms: int, end_ms: int):
        """The rate (``Decimal``, fraction of the notional) of the funding times in
        ``[start_ms, end_ms)`` (ms UTC), None when none falls in it."""

    def paid(self, start_ms: int, end_ms: int):
        """Quote (``Decimal``) the account paid in ``[start_ms, end_ms)`` (negative:
        received), None when the venue booked none."""


class MarketData(Protocol):
    """Closed candles of one symbol and timeframe."""

    def history(self, limit: int) -> list[Candle]:
        """Up to ``limit`` most recent closed candles already handed out or older, oldest first."""

    def poll(self) -> list[Candle]:
        """Candles that closed since the last call, oldest first (empty when none)."""

    def now_ms(self) -> int:
        """The source's clock, ms UTC: wall time live; the last released close time in a replay."""


class Journal(Protocol):
    """Durable record of state changes; each method is one transaction.

    The OMS calls ``order_created`` (and sees it committed) before the gateway hears of an
    order, so a crash at any point leaves no order unknown to the store.
    """

    records_candles: bool
    """False for a journal that keeps no candle cursor (the backtest's trade log): the runner
    then does not call :meth:`candle_processed` on every candle."""

    def order_created(self, order: Order, events: list[Event]) -> None:
        """Persist a new order intent (status new) with its client order id."""

    def order_changed(self, order: Order, previous: str, events: list[Event]) -> None:
        """Persist a status change of an order that has no fill attached."""

    def fill_applied(self, order: Order, fill: Fill, portfolio: Portfolio, events: list[Event]) -> None:
        """Persist a fill with the order, position and cash it changed."""

    def funding_applied(self, symbol: str, portfolio: Portfolio, events: list[Event]) -> None:
        """Persist a funding payment on a futures position: the position's margin and funding,
        the account's wallet, available cash and funding paid (ADR 0017)."""

    def risk_recorded(self, events: list[Event], breaker: CircuitBreaker) -> None:
        """Persist risk decisions and the breaker state they leave behind."""

    def record_events(self, events: list[Event]) -> None:
        """Persist events that change no other state."""

    def protection_changed(self, symbol: str, protection: Protection | None, events: list[Event]) -> None:
        """Persist a position's exit levels (None: cleared)."""

    def lock_added(self, lock: PairLock, events: list[Event]) -> None:
        """Persist a new per-pair entry lock."""

    def locks_ended(self, symbols: list[str], by: str, now_ms: int) -> None:
        """Persist that an operator ended the locks of ``symbols``."""

    def candle_processed(self, key: str, candle: Candle, close_ms: int, portfolio: Portfolio, equity_raw: int) -> None:
        """Persist that ``candle`` is done for ``key`` (strategy/symbol/timeframe), with an equity
        snapshot at its close time ``close_ms`` (ms UTC); ``equity_raw`` in raw 1e-20 quote
        (:mod:`engine.money`)."""
