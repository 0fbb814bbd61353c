"""Protective exits: a stop-loss and a take-profit level per open position.

Enforced by the engine on every closed candle: a candle whose low reaches the stop, or whose
high reaches the take-profit, triggers a market exit that fills at the next candle's open,
in backtest and paper alike. When both are touched in one candle the stop wins (the
pessimistic reading). With ``stop_on_exchange`` the stop rests on the venue instead
(:mod:`engine.native_stop`) and the engine keeps only the take-profit and the time exit.
A trailing stop (``trailing_stop_pct``) is raised after each candle from its high.

A short (futures) has the mirror levels: the stop above the entry, reached by a candle's
high; the take-profit below, reached by its low; a trailing stop lowered from the lows.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engine.models import Candle


@dataclass(frozen=True, slots=True)
class Protection:
    """Exit levels of one position, quote per base; None when not set. ``short``: the levels
    of a short (stop above, take-profit below)."""

    stop_price: Decimal | None
    take_profit_price: Decimal | None
    short: bool = False

    def triggered(self, candle: Candle, check_stop: bool = True) -> str | None:
        """The exit reason this candle triggers, or None. ``check_stop`` False: the stop rests
        on the exchange, which enforces it (only the take-profit is the engine's)."""
        if self.short:
            if check_stop and self.stop_price is not None and candle.high >= self.stop_price:
                return f"stop_loss: high {candle.high} reached stop {self.stop_price}"
            if self.take_profit_price is not None and candle.low <= self.take_profit_price:
                return f"take_profit: low {candle.low} reached {self.take_profit_price}"
            return None
        if check_stop and self.stop_price is not None and candle.low <= self.stop_price:
            return f"stop_loss: low {candle.low} reached stop {self.stop_price}"
        if self.take_profit_price is not None and candle.high >= self.take_profit_price:
            return f"take_profit: high {candle.high} reached {self.take_profit_price}"
        return None


@dataclass(frozen=True)
class ProtectionPolicy:
    """How levels are set from the entry price: percent below/above it, or ATR multiples
    (``entry - k x ATR``). Percent wins when both are configured. ``max_holding_candles``
    is the time exit: a position is closed at the next open once it has been held that many
    candles of its timeframe, measured in time (the fill candle counts as the first; a gap in
    the data counts as the candles it misses)."""

    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    stop_loss_atr: float | None = None
    take_profit_atr: float | None = None
    max_holding_candles: int | None = None
    stop_on_exchange: bool = False
    """The stop rests on the venue as a stop-limit order (:mod:`engine.native_stop`)."""
    stop_limit_offset_pct: float = 0.5
    """That order's limit price, percent below its stop price."""
    trailing_stop_pct: float | None = None
    """Trail the stop this percent below the highest high since entry (it only moves up); a
    short's, this percent above the lowest low (it only moves down)."""

    def trailed(self, current: Protection, candle: Candle) -> Protection | None:
        """``current`` with its stop raised to ``high x (1 - trailing_stop_pct/100)`` when that
        is higher (a short's lowered to ``low x (1 + trailing_stop_pct/100)`` when lower), else
        None (no trailing stop, no stop, or no move)."""
        if self.trailing_stop_pct is None or current.stop_price is None:
            return None
        pct = Decimal(repr(self.trailing_stop_pct)) / 100
        if current.short:
            level = Decimal(repr(candle.low)) * (1 + pct)
            moved = level < current.stop_price
        else:
            level = Decimal(repr(candle.high)) * (1 - pct)
            moved = level > current.stop_price
        return Protection(level, current.take_profit_price, current.short) if moved else None

    def time_exit(self, opened_ts_ms: int, candle: Candle, tf_ms: int) -> str | None:
        """The time-exit reason when a position opened at ``opened_ts_ms`` (its fill candle's
        open, ms UTC) has been held ``max_holding_candles`` by the close of ``candle``, else None."""
        n = self.max_holding_candles
        if n is None or opened_ts_ms <= 0 or candle.ts_ms + tf_ms < opened_ts_ms + n * tf_ms:
            return None
        return f"time_exit: held {(candle.ts_ms + tf_ms - opened_ts_ms) // tf_ms} candles, limit {n}"

    @property
    def uses_atr(self) -> bool:
        """True when a level is set from ATR (so the runner must keep ATR up to date)."""
        return self.stop_loss_atr is not None or self.take_profit_atr is not None

    @property
    def wants_stop(self) -> bool:
        """True when a stop-loss is configured (so a position without one is an alert)."""
        return self.stop_loss_pct is not None or self.stop_loss_atr is not None

    def levels(self, entry_price: Decimal, atr: float | None, short: bool = False) -> Protection:
        """Levels for an entry at ``entry_price``, long (stop below) or ``short`` (stop above);
        ATR-based levels are None before ATR is warm."""
        down = 1 if short else -1  # the stop's side of the entry
        return Protection(self._level(entry_price, atr, self.stop_loss_pct, self.stop_loss_atr, down),
                          self._level(entry_price, atr, self.take_profit_pct, self.take_profit_atr, -down), short)

    @staticmethod
    def _level(entry: Decimal, atr: float | None, pct: float | None, mult: float | None, sign: int) -> Decimal | None:
        if pct is not None:
            return entry * (1 + sign * Decimal(repr(pct)) / 100)
        if mult is not None and atr:
            return entry + sign * Decimal(repr(mult)) * Decimal(repr(atr))
        return None
