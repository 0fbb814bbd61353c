"""The trading core wired in one place: order manager, portfolio, risk manager and one strategy
runner per market, for the backtest, the portfolio backtest and the daemon alike.

The shared objects are made here and passed in explicitly: the :class:`~engine.marks.Marks`
(last closes: runners write them, risk rules and equity read them) and the
:class:`~engine.events.EventSink` (persisted events waiting for the bus).

The callers differ only in what they hand in: the venue (the simulator, the paper gateway or
the ccxt gateway), the journal (an in-memory trade log or the SQL store), and, for a daemon
that resumes, the state loaded from the store (portfolio, orders, breaker, protections, pair
locks). Everything else (which rules, which sizer, how the runners share the OMS and the risk
manager) is decided here once, so the three cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from engine.errors import ConfigError
from engine.events import EventSink
from engine.marks import Marks
from engine.models import Instrument, Order
from engine.oms import OrderManager
from engine.portfolio import Portfolio
from engine.ports import ExchangeGateway, Journal
from engine.risk.breaker import CircuitBreaker
from engine.risk.limits import RiskLimits
from engine.risk.manager import RiskManager
from engine.risk.pairlocks import PairLocks
from engine.risk.sizing import parse_stake
from engine.runner import StrategyRunner
from engine.strategy.base import Strategy
from engine.timeframes import timeframe_to_ms


@dataclass(frozen=True)
class MarketSpec:
    """One strategy on one market.

    Attributes:
        strategy: the strategy instance (its own state; one per market).
        symbol: ``BASE/QUOTE``; timeframe: e.g. ``5m``.
        stake: the sizing setting (``all``, a quote amount, ``N%``, ``vol:...``, ``kelly...``).
        instrument: the venue's steps and minimums (default: unconstrained).
    """

    strategy: Strategy
    symbol: str
    timeframe: str
    stake: str = "all"
    instrument: Instrument | None = None


@dataclass
class Resumed:
    """What a daemon restores from its store before it wires the core (all optional: a new
    store has none of it)."""

    orders: list[Order] = field(default_factory=list)
    breaker: CircuitBreaker | None = None
    protections: dict = field(default_factory=dict)
    locks: dict = field(default_factory=dict)


@dataclass
class Core:
    """The wired core: one OMS and one risk manager shared by every runner."""

    oms: OrderManager
    risk: RiskManager
    runners: list[StrategyRunner]
    marks: Marks
    events: EventSink


def build_risk(limits: RiskLimits, tf_ms: int, resumed: Resumed | None = None, marks: Marks | None = None) -> RiskManager:
    """The risk manager of ``limits`` for candles of ``tf_ms`` (the shortest timeframe traded),
    with the breaker, protections and pair locks of ``resumed`` when a daemon resumes, reading
    ``marks``."""
    r = resumed or Resumed()
    return RiskManager(limits.build(tf_ms), r.breaker, limits.protection(), r.protections, limits.flatten_on_halt,
                       limits.day_start_hour_utc, PairLocks(limits.lock_rules(), r.locks), marks)


def build_core(markets: list[MarketSpec], venue: ExchangeGateway, journal: Journal, portfolio: Portfolio,
               limits: RiskLimits, fee_rate: Decimal, resumed: Resumed | None = None,
               id_prefix: str = "qd", keep_history: bool = True) -> Core:
    """Wire the OMS (on ``venue``, booking into ``portfolio`` and ``journal``), the risk manager
    of ``limits`` and one runner per market, in ``markets`` order.

    Args:
        fee_rate: fraction of notional per fill, used by stakes that size fees in ('all'); on a
            futures account the stake is margin, so its cap counts ``fee_rate x leverage``.
        resumed: orders and risk state restored from the store (a daemon's restart).
        id_prefix: client order id prefix (``qd-<instance tag>`` for a store's daemon).
        keep_history: False for a backtest: its trade log holds the events and round trips,
            so no event waits for a bus and the OMS forgets an order once it is terminal.

    Raises:
        ConfigError: a bad stake or timeframe, or a strategy with ``allow_short`` on spot.
    """
    for m in markets:
        if m.strategy.allows_short and not portfolio.allows_short:
            raise ConfigError(f"{m.strategy.describe()} on {m.symbol}: allow_short needs market futures "
                              "(spot is long-only)")
    r = resumed or Resumed()
    marks, events = Marks(), EventSink(keep_history)
    oms = OrderManager(venue, journal, portfolio, r.orders, id_prefix=id_prefix, events=events,
                       keep_terminal=keep_history)
    risk = build_risk(limits, min(timeframe_to_ms(m.timeframe) for m in markets), r, marks)
    if portfolio.allows_short:  # a futures account: the liquidation rule reads its terms
        risk.view.leverage, risk.view.maintenance = portfolio.leverage, portfolio.maintenance
    fee_per_margin = fee_rate * portfolio.leverage if portfolio.allows_short else fee_rate  # futures: stake is margin
    runners = [StrategyRunner(m.strategy, m.symbol, m.timeframe, oms, parse_stake(m.stake, fee_per_margin), journal, risk,
                              m.instrument, marks, events) for m in markets]
    return Core(oms, risk, runners, marks, events)
