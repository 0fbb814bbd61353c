"""The shape of a risk rule: a small object whose ``check`` returns a :class:`Verdict` or None.

Rules never send orders and never change state; the :class:`~engine.risk.manager.RiskManager`
turns verdicts into decisions, events and circuit-breaker trips.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar, NamedTuple

from engine.marks import Marks
from engine.models import Side
from engine.money import quote_decimal


class Action(StrEnum):
    """A risk outcome: a rule's verdict (resize, reject, halt) or the manager's decision
    (approve, resize, reject). A ``str`` underneath, so events and the store keep the words."""

    APPROVE = "approve"
    RESIZE = "resize"
    REJECT = "reject"
    HALT = "halt"


APPROVE, RESIZE, REJECT, HALT = Action.APPROVE, Action.RESIZE, Action.REJECT, Action.HALT


class RuleName(StrEnum):
    """The stable name of every risk rule, of the manager's own refusals (circuit breaker, pair
    lock) and of the signal sanity filter: what a :class:`Verdict`, a decision event, the
    backtest's rejection counts and the alerts carry. A ``str`` underneath, so events and
    the store keep the words."""

    CIRCUIT_BREAKER = "circuit_breaker"
    PAIR_LOCK = "pair_lock"
    SIGNAL_SANITY = "signal_sanity"
    MAX_DRAWDOWN = "max_drawdown"
    DAILY_LOSS_LIMIT = "daily_loss_limit"
    MAX_GROSS_EXPOSURE = "max_gross_exposure"
    MAX_ASSET_CONCENTRATION = "max_asset_concentration"
    MAX_POSITION_NOTIONAL = "max_position_notional"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    MAX_OPEN_POSITIONS = "max_open_positions"
    MAX_TRADES_PER_WINDOW = "max_trades_per_window"
    MAX_CONSECUTIVE_LOSSES = "max_consecutive_losses"
    MAX_PRICE_DEVIATION = "max_price_deviation"
    MAX_SPREAD = "max_spread"
    MARKET_CLOSED = "market_closed"
    STALE_DATA = "stale_data"
    COOLDOWN = "cooldown"
    STOPLOSS_GUARD = "stoploss_guard"
    LOW_PROFIT_PAIRS = "low_profit_pairs"
    MIN_LIQUIDATION_DISTANCE = "min_liquidation_distance"


class Proposal(NamedTuple):
    """An order a strategy wants, before risk.

    Attributes:
        notional_quote: quote currency the order would trade (for exits: qty x reference price).
        price: reference price in quote per base (the last close for market orders).
        is_entry: True for orders that open or add to a position.
        ts_ms: decision time, ms UTC; candle_close_ms: close time of the newest candle seen.
    """

    strategy: str
    symbol: str
    side: Side
    is_entry: bool
    notional_quote: Decimal
    price: float
    ts_ms: int
    candle_close_ms: int


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a rule found: ``action`` is reject, resize (to ``notional_quote``) or halt
    (trip the circuit breaker); ``value`` and ``threshold`` are in the rule's unit, as floats
    for messages and events only: rules decide on exact fixed-point figures."""

    rule: RuleName
    action: Action
    reason: str
    value: float
    threshold: float
    notional_quote: Decimal | None = None


@dataclass
class RiskView:
    """The state rules read. Money is fixed-point (:mod:`engine.money`): quote amounts in raw
    1e-20 quote, marks in raw 1e-8 quote per base; times ms UTC.

    Attributes:
        equity_raw, peak_raw: mark-to-market equity now and its running maximum.
        day_start_raw: equity at the first candle of the current UTC day.
        marks: the shared last closes (:class:`~engine.marks.Marks`: float and raw 1e-8).
        position_raw: symbol -> value of the position at its mark.
        pending_raw: symbol -> notional of working (not yet filled) buy orders; set
            before each check from the OMS, so two markets entering on the same candle both
            count against the portfolio limits.
        entry_times: times of recent entry fills; consecutive_losses: closed round trips
            with a loss since the last winning one, counting only exits at or after
            ``streak_since_ms`` (the last operator resume).
        trade_returns: net return on cost of each closed round trip, oldest first (for sizing).
        spread_bps, market_open: from the venue's ticker and market status where a gateway
            provides them (absent in replays: those checks then pass).
        leverage, maintenance: a futures account's leverage and its maintenance rate and
            amount for a notional in a symbol (:meth:`~engine.futures.FuturesAccount.maintenance`); None on
            spot.
    """

    equity_raw: int = 0
    peak_raw: int = 0
    day_start_raw: int = 0
    day: int = -1
    marks: Marks = field(default_factory=Marks)
    position_raw: dict[str, int] = field(default_factory=dict)
    pending_raw: dict[str, int] = field(default_factory=dict)
    entry_times: deque = field(default_factory=deque)
    consecutive_losses: int = 0
    streak_since_ms: int = 0
    trade_returns: list[float] = field(default_factory=list)
    spread_bps: dict[str, float] = field(default_factory=dict)
    market_open: dict[str, bool] = field(default_factory=dict)
    leverage: Decimal | None = None
    maintenance: Callable[[Decimal, str], tuple[Decimal, Decimal]] | None = None

    def exposure(self, symbol: str) -> int:
        """Raw quote held in ``symbol`` plus its working entry orders."""
        return self.position_raw.get(symbol, 0) + self.pending_raw.get(symbol, 0)

    @property
    def open_positions(self) -> int:
        """Symbols with a position worth more than zero or a working entry order."""
        symbols = set(self.position_raw) | set(self.pending_raw)
        return sum(1 for s in symbols if self.exposure(s) > 0)

    @property
    def gross_exposure(self) -> int:
        """Sum of position values and working entry orders, raw quote."""
        return sum(self.position_raw.values()) + sum(self.pending_raw.values())


class RiskRule:
    """Base of every rule. ``applies_to_exits``: also checked for orders that reduce a position."""

    name: ClassVar[RuleName]
    applies_to_exits: ClassVar[bool] = False

    def check(self, proposal: Proposal, view: RiskView) -> Verdict | None:
        """Pre-trade check; None when the proposal passes."""
        return None

    def on_state(self, view: RiskView) -> Verdict | None:
        """Check after each candle's state update (for rules that halt on state alone)."""
        return None

    def describe(self) -> str:
        """One line: the rule and its threshold."""
        return self.name


def headroom_verdict(rule: RuleName, text: str, value: float, threshold: float, headroom_raw: int) -> Verdict:
    """Resize to ``headroom_raw`` (raw quote) when there is some, else reject."""
    if headroom_raw <= 0:
        return Verdict(rule, REJECT, text, value, threshold)
    return Verdict(rule, RESIZE, text, value, threshold, quote_decimal(headroom_raw))
