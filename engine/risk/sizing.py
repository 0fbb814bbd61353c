"""Position sizing: how much quote currency an entry signal commits.

Forms of the ``stake`` setting (CLI ``--stake``, config ``strategy.stake``):

=============  ==============================================================================
``all``        all cash: ``qty = cash / (price * (1 + fee))``, price plus fee spends the cash
``500``        a fixed quote notional per entry (fee on top)
``10%``        a percentage of mark-to-market equity
``vol:1%``     volatility target: the position moves ``1%`` of equity per ATR(14):
               ``notional = equity * 0.01 * price / ATR``
``kelly``      half-Kelly from the strategy's closed trades (see :class:`HalfKelly`)
=============  ==============================================================================

Every sizer returns a quote notional capped to ``cash / (1 + fee)``; the fill divides it by
the fill price. 0 means "nothing to buy".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, NamedTuple

from engine.errors import ConfigError
from engine.models import ZERO


class SizingContext(NamedTuple):
    """Inputs of a sizing decision. cash, equity: quote (equity None for a sizer whose
    ``needs_equity`` is False: marking the account costs a few microseconds an entry);
    price: quote per base (last close); atr: ATR(14) in quote per base, None before warm-up;
    trade_returns: closed round trips' net return on cost (0.02 = +2%), oldest first."""

    cash: Decimal
    equity: Decimal | None
    price: float
    atr: float | None = None
    trade_returns: Sequence[float] = ()


@dataclass(frozen=True)
class StakeSizer:
    """Base: caps a wanted notional to what the cash can pay, fee included."""

    fee_rate: Decimal
    needs_atr: ClassVar[bool] = False
    """True when :meth:`wanted` reads ``ctx.atr`` (the runner keeps ATR only when something does)."""
    needs_equity: ClassVar[bool] = True
    """False when :meth:`wanted` never reads ``ctx.equity`` (the runner then passes None)."""

    def wanted(self, ctx: SizingContext) -> Decimal:
        """The notional this method asks for before the cash cap, quote."""
        raise NotImplementedError

    def entry_notional(self, ctx: SizingContext) -> Decimal:
        """Quote notional to buy, capped to ``cash / (1 + fee)``; 0 when nothing can be bought."""
        affordable = ctx.cash / (1 + self.fee_rate)
        if affordable <= 0:
            return ZERO
        return max(ZERO, min(self.wanted(ctx), affordable))


@dataclass(frozen=True)
class AllCash(StakeSizer):
    """All available cash."""

    needs_equity: ClassVar[bool] = False

    def wanted(self, ctx: SizingContext) -> Decimal:
        return ctx.cash


@dataclass(frozen=True)
class FixedQuote(StakeSizer):
    """A fixed quote notional per entry."""

    stake: Decimal = Decimal(0)
    needs_equity: ClassVar[bool] = False

    def wanted(self, ctx: SizingContext) -> Decimal:
        return self.stake


@dataclass(frozen=True)
class PercentOfEquity(StakeSizer):
    """``pct`` percent of mark-to-market equity."""

    pct: Decimal = Decimal(0)

    def wanted(self, ctx: SizingContext) -> Decimal:
        return ctx.equity * self.pct / 100


@dataclass(frozen=True)
class VolatilityTarget(StakeSizer):
    """Size so that one ATR move changes equity by ``pct`` percent:
    ``notional = equity * pct/100 * price / ATR`` (the ATR position-sizing rule of the
    Turtle traders; C. Faith, *Way of the Turtle*, 2007). Nothing before ATR is warm."""

    pct: Decimal = Decimal(1)
    needs_atr: ClassVar[bool] = True

    def wanted(self, ctx: SizingContext) -> Decimal:
        if not ctx.atr or ctx.atr <= 0:
            return ZERO
        return ctx.equity * self.pct / 100 * Decimal(repr(ctx.price / ctx.atr))


@dataclass(frozen=True)
class HalfKelly(StakeSizer):
    """Half the Kelly fraction of equity, from realised trade statistics.

    Kelly fraction ``f* = W - (1 - W) / R`` with ``W`` the share of winning trades and ``R``
    the average win over the average loss (J. L. Kelly, "A New Interpretation of Information
    Rate", Bell System Technical Journal 35(4), 1956; E. O. Thorp, "The Kelly Criterion in
    Blackjack, Sports Betting and the Stock Market", 2006). Half of it trades a little growth
    for much less variance. Capped at ``cap``; with fewer than ``min_trades`` closed trades
    the ``fallback_pct`` of equity is used; a negative edge sizes 0.
    """

    cap: float = 0.25
    min_trades: int = 20
    fallback_pct: Decimal = Decimal(2)

    def fraction(self, returns: Sequence[float]) -> float | None:
        """Half-Kelly fraction in [0, cap], or None below the minimum sample."""
        if len(returns) < self.min_trades:
            return None
        wins = [r for r in returns if r > 0]
        losses = [-r for r in returns if r < 0]
        if not wins:
            return 0.0
        if not losses:
            return self.cap
        w = len(wins) / len(returns)
        ratio = (sum(wins) / len(wins)) / (sum(losses) / len(losses))
        return max(0.0, min(self.cap, (w - (1 - w) / ratio) / 2))

    def wanted(self, ctx: SizingContext) -> Decimal:
        f = self.fraction(ctx.trade_returns)
        if f is None:
            return ctx.equity * self.fallback_pct / 100
        return ctx.equity * Decimal(repr(f))


def parse_stake(text: str, fee_rate: Decimal) -> StakeSizer:
    """Build a sizer from its setting (see the module docstring).

    Raises:
        ConfigError: an unknown form or a non-positive number.
    """
    raw = str(text).strip().lower()
    try:
        if raw == "all":
            return AllCash(fee_rate)
        if raw == "kelly":
            return HalfKelly(fee_rate)
        if raw.startswith("vol:") and raw.endswith("%"):
            return VolatilityTarget(fee_rate, _positive(raw[4:-1]))
        if raw.endswith("%"):
            pct = _positive(raw[:-1])
            if pct > 100:
                raise ValueError
            return PercentOfEquity(fee_rate, pct)
        return FixedQuote(fee_rate, _positive(raw))
    except (ValueError, ArithmeticError):
        raise ConfigError(f"stake {text!r}: use all, a quote amount (500), a percent of equity (10%), "
                          "a volatility target (vol:1%) or kelly") from None


def _positive(text: str) -> Decimal:
    value = Decimal(text)
    if not value.is_finite() or value <= 0:
        raise ValueError(text)
    return value
