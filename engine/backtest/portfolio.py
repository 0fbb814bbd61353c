"""Portfolio backtest: several strategies and markets at once on one account, as the daemon
runs them (ADR 0007).

One simulated venue, one portfolio (cash in the common quote currency), one order manager
and one risk manager (so one circuit breaker, and portfolio limits such as
``max_open_positions`` or ``max_gross_exposure_pct`` see every market). Each market has its
own :class:`~engine.runner.StrategyRunner`. Candles of all markets are processed in the
order of their **close time** (ties in the order the markets are given), so a 1h market's
candle is seen after the twelve 5m candles that close with or before it, never earlier;
the fill rules are those of :mod:`engine.simulator`. The equity curve is sampled
once per distinct close time, after every market closing then has been processed.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from engine.backtest.engine import BacktestConfig, BacktestResult, close_at_end, fill_model
from engine.backtest.metrics import compute_metrics
from engine.backtest.trades import TradeLog
from engine.core import MarketSpec, build_core
from engine.errors import ConfigError, DataError
from engine.futures import FundingRates
from engine.models import Candle, Instrument
from engine.money import quote_float
from engine.portfolio import Portfolio
from engine.runner import StrategyRunner
from engine.simulator import SimulatedExchange
from engine.strategy.base import Strategy
from engine.timeframes import timeframe_to_ms


@dataclass(frozen=True)
class Market:
    """One lane of a portfolio backtest: a strategy on one symbol's candles.

    Attributes:
        df: candles (timestamp ms UTC open time, open, high, low, close, volume), sorted.
        strategy: a fresh strategy instance (it keeps its indicator state).
        symbol, timeframe: e.g. "ETH/USDT", "5m".
        stake: "all", a quote amount or "N%" of equity per entry.
        instrument: amount step, price tick and minimum notional (default: none, as in
            single-market backtests).
        funding: this market's funding rates (a futures config; None: none charged).
    """

    df: pd.DataFrame
    strategy: Strategy
    symbol: str
    timeframe: str
    stake: str = "all"
    instrument: Instrument | None = None
    funding: FundingRates | None = None


def run_portfolio_backtest(markets: list[Market], config: BacktestConfig) -> BacktestResult:
    """Backtest ``markets`` together on one account with ``config``'s cash, costs and risk
    limits (``config.symbol``, ``timeframe`` and ``stake`` are ignored: each market has its
    own).

    Returns:
        A :class:`BacktestResult` whose ``trades`` carry their symbol, ``timestamps`` are the
        distinct close times (ms UTC) and ``equity`` the account's equity (quote) after each.

    Raises:
        ConfigError: no market, a symbol traded twice, or several quote currencies.
        DataError: a market without candles.
    """
    _check(markets)
    tf_min = min(timeframe_to_ms(m.timeframe) for m in markets)
    instruments = {m.symbol: m.instrument or Instrument(m.symbol) for m in markets}
    quote = next(iter(instruments.values())).quote
    exchange = SimulatedExchange(instruments, fill_model(config), keep_history=False)
    if config.funding is not None:
        raise ConfigError("funding rates are one market's: give each market its own (Market.funding)")
    if config.market != "futures" and any(m.funding is not None for m in markets):
        raise ConfigError("funding rates apply to market futures only")
    portfolio = config.account(quote)
    log = TradeLog()
    core = build_core([MarketSpec(m.strategy, m.symbol, m.timeframe, m.stake, instruments[m.symbol]) for m in markets],
                      exchange, log, portfolio, config.limits, config.fee_rate, keep_history=False)
    runners = core.runners
    for m, runner in zip(markets, runners):
        if runner.futures is not None:
            runner.futures.funding = m.funding
    close_times, equity, in_pos, last = _replay(markets, runners, portfolio)
    for runner in runners:
        if last[runner.symbol] is not None:
            close_at_end(runner, exchange, last[runner.symbol])
    equity[-1] = quote_float(portfolio.equity_raw(core.marks.raw))
    first_open = min(int(m.df["timestamp"].iloc[0]) for m in markets)
    metrics = compute_metrics(equity, float(config.cash), log.trades, in_pos, first_open,
                              int(close_times[-1]) - tf_min, tf_min)
    name = " + ".join(f"{r.strategy.describe()} {r.symbol} {r.timeframe}" for r in runners)
    summary = replace(config, symbol=" + ".join(m.symbol for m in markets),
                      timeframe=",".join(dict.fromkeys(m.timeframe for m in markets)), stake="per market")
    return BacktestResult(summary, name, metrics, log.trades, close_times, equity, log.events)


def _replay(markets: list[Market], runners: list[StrategyRunner], portfolio: Portfolio):
    """Feed every candle to its runner in close-time order; returns (close times, equity
    per close time, any position open per close time, last candle per symbol)."""
    columns = [[m.df[k].tolist() for k in ("timestamp", "open", "high", "low", "close", "volume")]
               for m in markets]
    tf = [timeframe_to_ms(m.timeframe) for m in markets]
    merged = heapq.merge(*[_close_times(columns[i][0], tf[i], i) for i in range(len(markets))])
    close_times: list[int] = []
    equity: list[float] = []
    in_pos: list[bool] = []
    last: dict[str, Candle | None] = {m.symbol: None for m in markets}
    for close_ts, i, j in merged:
        ts, op, hi, lo, cl, vo = columns[i]
        candle = Candle(ts[j], op[j], hi[j], lo[j], cl[j], vo[j])
        runners[i].on_candle(candle)
        value = quote_float(runners[i].finish_candle(candle))
        last[runners[i].symbol] = candle
        if close_times and close_times[-1] == close_ts:
            equity[-1], in_pos[-1] = value, _any_open(portfolio)
        else:
            close_times.append(close_ts)
            equity.append(value)
            in_pos.append(_any_open(portfolio))
    return np.asarray(close_times, dtype="int64"), np.asarray(equity), np.asarray(in_pos), last


def _close_times(open_times: list[int], tf_ms: int, lane: int):
    """(close time, lane, row) of each candle of one market, in order."""
    return ((ts + tf_ms, lane, j) for j, ts in enumerate(open_times))


def _any_open(portfolio: Portfolio) -> bool:
    return any(p.is_open for p in portfolio.positions.values())


def _check(markets: list[Market]) -> None:
    if not markets:
        raise ConfigError("a portfolio backtest needs at least one market")
    seen: dict[str, int] = {}
    for i, m in enumerate(markets):
        if m.symbol in seen:
            raise ConfigError(f"markets.{i}.symbol: {m.symbol} is already traded by markets.{seen[m.symbol]}")
        seen[m.symbol] = i
        if len(m.df) == 0:
            raise DataError(f"markets.{i} ({m.symbol} {m.timeframe}): no candles to backtest")
    quotes = {m.symbol.split("/")[-1] for m in markets}
    if len(quotes) > 1:
        raise ConfigError(f"one quote currency per account, got {', '.join(sorted(quotes))}")
