"""Run a strategy over historical candles with the same runner, OMS and portfolio as live.

Only two things differ from the daemon: the gateway is a :class:`SimulatedExchange` and
the journal is an in-memory :class:`TradeLog`. See :mod:`engine.simulator` for
the fill rules.
"""

from __future__ import annotations

import gc
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import repeat

import numpy as np
import pandas as pd

from engine.backtest.metrics import Metrics, compute_metrics
from engine.backtest.trades import END_OF_DATA, Trade, TradeLog
from engine.core import MarketSpec, build_core
from engine.errors import BacktestCanceled, ConfigError, DataError
from engine.events import EventKind
from engine.futures import FundingRates, FuturesAccount, LeverageTiers
from engine.models import Candle, Instrument
from engine.money import QUOTE_ONE
from engine.portfolio import Portfolio
from engine.risk.base import REJECT
from engine.risk.limits import RiskLimits
from engine.runner import StrategyRunner
from engine.simulator import FillModel, SimulatedExchange
from engine.strategy.base import Strategy
from engine.timeframes import timeframe_to_ms


@dataclass(frozen=True)
class BacktestConfig:
    """Inputs besides data and strategy.

    Attributes:
        symbol, timeframe: e.g. "BTC/USDT", "1h".
        cash: starting quote currency.
        fee_rate: fraction of notional per fill; slippage_bps: basis points per fill.
        stake: "all" or a quote amount per entry.
        limits: risk limits, as in the daemon.
        slippage_range_frac, impact_k: volatility- and volume-dependent slippage, and
        latency_candles: orders fill N candles later (see :class:`FillModel`).
        market: ``spot`` (long-only) or ``futures`` (a USDT-margined perpetual: shorts,
            ``leverage``, isolated margin, ``funding`` rates charged at their times, and
            liquidation at the price :func:`~engine.futures.liquidation_price` gives with
            ``maintenance_rate``, or with the market's maintenance ``tiers`` when given (one
            market's, or symbol -> tiers for a portfolio backtest);
            ADR 0017). On futures the stake is the margin committed, and the position is
            ``leverage`` times it.
    """

    symbol: str = "BTC/USDT"
    timeframe: str = "1h"
    cash: Decimal = Decimal(10_000)
    fee_rate: Decimal = Decimal("0.001")
    slippage_bps: Decimal = Decimal(0)
    stake: str = "all"
    limits: RiskLimits = field(default_factory=RiskLimits)
    slippage_range_frac: Decimal = Decimal(0)
    impact_k: Decimal = Decimal(0)
    latency_candles: int = 0
    market: str = "spot"
    leverage: Decimal = Decimal(1)
    maintenance_rate: Decimal = Decimal("0.004")
    funding: FundingRates | None = None
    tiers: LeverageTiers | Mapping[str, LeverageTiers] | None = None

    def __post_init__(self) -> None:
        if self.market not in ("spot", "futures"):
            raise ConfigError(f"market: must be spot or futures, got {self.market!r}")
        if self.market == "spot" and (self.leverage != 1 or self.funding is not None or self.tiers is not None):
            raise ConfigError("leverage, funding and leverage tiers apply to market futures only")
        if self.market == "futures" and self.limits.stop_on_exchange:
            raise ConfigError("risk.stop_on_exchange: the exchange stop is a spot sell for now; on market futures "
                              "the engine enforces the stop-loss (drop stop_on_exchange)")

    def account(self, quote: str | None = None) -> Portfolio:
        """The starting account in ``quote`` (default: :attr:`symbol`'s): a spot
        :class:`Portfolio` or a :class:`FuturesAccount`."""
        quote = quote or Instrument(self.symbol).quote
        if self.market == "futures":
            return FuturesAccount(self.cash, quote, self.leverage, self.maintenance_rate, tiers=self.tiers)
        return Portfolio(self.cash, quote)


@dataclass(frozen=True)
class BreakerTrip:
    """When the circuit breaker halted: candle open time (ms UTC), equity (quote), why."""

    ts_ms: int
    equity: float
    reason: str


@dataclass
class BacktestResult:
    """Everything a run produced. ``equity`` is quote currency at each candle close
    (the last value after the end-of-data exit), aligned with ``timestamps`` (ms UTC)."""

    config: BacktestConfig
    strategy: str
    metrics: Metrics
    trades: list[Trade]
    timestamps: np.ndarray
    equity: np.ndarray
    events: list = field(default_factory=list)

    @property
    def rejections(self) -> Counter:
        """Rejected proposals counted by the deciding rule."""
        return Counter(e.rule for e in self.events if e.kind == EventKind.RISK_DECISION and e.action == REJECT)

    @property
    def breaker_trips(self) -> list[BreakerTrip]:
        """Every halt of the circuit breaker, in time order."""
        return [BreakerTrip(e.ts_ms, e.equity, e.reason) for e in self.events if e.kind == EventKind.BREAKER_TRIPPED]


def fill_model(config: BacktestConfig) -> FillModel:
    """The simulator's cost model for ``config``."""
    return FillModel(config.fee_rate, config.slippage_bps, config.slippage_range_frac, config.impact_k,
                     config.latency_candles)


def has_cost_models(config: BacktestConfig) -> bool:
    """True when ``config`` uses a cost only the event-driven engine models (volatility or
    volume slippage, latency)."""
    return bool(config.slippage_range_frac or config.impact_k or config.latency_candles)


CHUNK = 16_384
"""Candles converted to Python values at a time by :func:`run_backtest` (about 3 MB of
Python floats; the whole of 1M candles at once would be ~190 MB)."""


GC_YOUNG_THRESHOLD = 50_000
"""Allocations between two young-generation collections while a backtest runs (CPython's
default is 700). A backtest allocates a few short-lived objects per order and holds few
cycles; collecting every 700 allocations cost about 4% of a run (ADR 0015). Cycles are still
collected, only less often; the default comes back when the run ends."""

_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] | None = None


@contextmanager
def relaxed_gc() -> Iterator[None]:
    """Raise the young-generation GC threshold to :data:`GC_YOUNG_THRESHOLD` for the block.
    Nested or concurrent blocks (backtests in threads) share it: the first sets it, the last
    restores the threshold it found."""
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(max(GC_YOUNG_THRESHOLD, _gc_saved[0]), *_gc_saved[1:])
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0 and _gc_saved is not None:
                gc.set_threshold(*_gc_saved)


def run_backtest(df: pd.DataFrame, strategy: Strategy, config: BacktestConfig,
                 progress: Callable[[int, int], bool] | None = None) -> BacktestResult:
    """Backtest ``strategy`` on ``df`` (columns timestamp, open, high, low, close, volume; sorted).

    Args:
        progress: called with (candles done, total) about every 1% of the data; returning
            False cancels the run.

    Raises:
        DataError: empty data.
        ConfigError: bad stake.
        BacktestCanceled: ``progress`` returned False.
    """
    n = len(df)
    if n == 0:
        raise DataError("no candles to backtest")
    with relaxed_gc():
        return _run(df, strategy, config, progress, n)


def _run(df: pd.DataFrame, strategy: Strategy, config: BacktestConfig,
         progress: Callable[[int, int], bool] | None, n: int) -> BacktestResult:
    inst = Instrument(config.symbol)
    tf_ms = timeframe_to_ms(config.timeframe)
    exchange = SimulatedExchange({config.symbol: inst}, fill_model(config), keep_history=False)
    portfolio = config.account()
    log = TradeLog()
    core = build_core([MarketSpec(strategy, config.symbol, config.timeframe, config.stake)], exchange, log, portfolio,
                      config.limits, config.fee_rate, keep_history=False)
    runner = core.runners[0]
    if runner.futures is not None:
        runner.futures.funding = config.funding
    cols = [df[k].to_numpy() for k in ("timestamp", "open", "high", "low", "close", "volume")]
    equity = np.empty(n)
    in_pos = np.zeros(n, dtype=bool)
    held, symbol = portfolio.held, config.symbol
    candle = None
    on_candle, finish = runner.on_candle, runner.finish_candle
    step = CHUNK if progress is None else max(1, min(CHUNK, n // 100))  # progress about every 1%
    for start in range(0, n, step):  # Python floats a block at a time: 1M candles would be ~190 MB at once
        if progress is not None and not progress(start, n):
            raise BacktestCanceled(f"canceled after {start} of {n} candles")
        block_equity, block_open = [], []
        rows = zip(*(c[start:start + step].tolist() for c in cols))
        for candle in map(tuple.__new__, repeat(Candle), rows):  # Candle(*row) without its Python __new__
            on_candle(candle)
            block_equity.append(finish(candle))
            block_open.append(symbol in held)
        end = start + len(block_equity)
        equity[start:end] = to_floats(block_equity)
        in_pos[start:end] = block_open
    close_at_end(runner, exchange, candle)
    equity[-1] = float(portfolio.cash)
    metrics = compute_metrics(equity, float(config.cash), log.trades, in_pos, int(cols[0][0]), int(cols[0][-1]), tf_ms)
    return BacktestResult(config, strategy.describe(), metrics, log.trades, cols[0], equity, log.events)


def to_floats(raw: list[int]) -> list[float]:
    """Raw 1e-20 quote amounts as floats (analytics), each correctly rounded; a run of equal
    amounts (the flat candles) is converted once."""
    out: list[float] = []
    last, value = None, 0.0
    for e in raw:
        if e != last:
            last, value = e, e / QUOTE_ONE
        out.append(value)
    return out


def close_at_end(runner: StrategyRunner, exchange: SimulatedExchange, last: Candle) -> None:
    """Cancel orders that have no next candle to fill on; close an open position at the last
    close, through risk like any exit."""
    oms, symbol, now = runner.oms, runner.symbol, last.ts_ms + runner.tf_ms
    for update in exchange.cancel_all(symbol, "end of data: no next candle to fill on"):
        oms.apply_update(oms.orders[update.client_order_id], update, now)
    if runner.close_position(last, now, END_OF_DATA) is not None:
        for update in exchange.fill_at_close(symbol, last):
            oms.apply_update(oms.orders[update.client_order_id], update, now)
