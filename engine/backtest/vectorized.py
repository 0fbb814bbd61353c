"""Vectorised backtest: the event-driven engine's fill rules, array-at-a-time, in float64.

For research speed on strategies that define ``signals(df)`` (an int8 array, +1 = BUY and
-1 = SELL at a candle's close, 0 = nothing; on a futures account also +2 = ENTER_SHORT and
-2 = EXIT_SHORT, run by :mod:`engine.backtest.vectorized_futures`; the rest of this
docstring is the spot path). Signals are computed for every candle at once;
the position's state machine and the sizing then run over the **trades only**, and the
equity curve is built with numpy. The rules are those of :mod:`engine.simulator`
and :class:`engine.runner.StrategyRunner`, restricted to what this path supports:

* a BUY at candle *i* while flat enters at the open of candle *i+1*; a SELL while long
  exits the same way; repeated or unfitting signals are ignored;
* fill price ``open * (1 +/- slippage_bps / 10000)``; fee ``fee_rate x notional`` (quote);
* a signal on the last candle has no next candle to fill on (its order is canceled); a
  position still open at the end is closed at the last close (``end of data``);
* sizing ``stake`` = ``all`` (cash / (1 + fee)), a quote amount (capped the same way) or a
  percent of equity (cash, since equity is cash when flat);
* no risk limits besides the defaults: a run that needs the risk manager (drawdown breaker,
  stops, exposure caps, ATR or Kelly sizing) must use the event-driven engine, and asking
  for it here raises :class:`~engine.errors.ConfigError`.

Money here is float64 (research analytics), not the live path's ``Decimal``: trades match
the event-driven engine's candle for candle with prices, quantities, fees and equity equal
to 1e-9 relative (``tests/test_vectorized.py`` and the bench check it on real data).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

import numpy as np
import pandas as pd

from engine.backtest.engine import BacktestConfig, has_cost_models
from engine.backtest.metrics import Metrics, metrics_from_arrays
from engine.backtest.trades import END_OF_DATA, Trade
from engine.backtest.vectorized_futures import futures_round_trips
from engine.errors import ConfigError, DataError, StrategyError
from engine.risk.limits import RiskLimits
from engine.risk.sizing import AllCash, FixedQuote, PercentOfEquity, parse_stake
from engine.strategy.base import Strategy
from engine.timeframes import timeframe_to_ms


def supports_vectorized(strategy: Strategy) -> bool:
    """True when ``strategy`` overrides :meth:`Strategy.signals`."""
    return type(strategy).signals is not Strategy.signals


@dataclass
class TradeTable:
    """Round trips as columns (one row per trade): candle indices into the data, times ms
    UTC, prices quote per base, qty base, fees, funding and pnl quote (pnl net of both fees
    and the funding). ``side`` (+1 long, -1 short), ``funding`` and ``liquidated`` are set on
    a futures account only (None: long, no funding, none liquidated)."""

    entry_idx: np.ndarray
    exit_idx: np.ndarray
    entry_ts_ms: np.ndarray
    exit_ts_ms: np.ndarray
    entry_price: np.ndarray
    exit_price: np.ndarray
    qty: np.ndarray
    entry_fee: np.ndarray
    exit_fee: np.ndarray
    end_of_data: np.ndarray
    side: np.ndarray | None = None
    funding: np.ndarray | None = None
    liquidated: np.ndarray | None = None

    @property
    def pnl(self) -> np.ndarray:
        gross = self.qty * (self.exit_price - self.entry_price)
        if self.side is None:
            return gross - self.entry_fee - self.exit_fee
        return self.side * gross - self.entry_fee - self.exit_fee - self.funding

    def __len__(self) -> int:
        return int(self.entry_idx.size)


@dataclass
class VectorizedResult:
    """What :func:`run_vectorized` produced; the same attributes as
    :class:`~engine.backtest.engine.BacktestResult` (``trades`` built on first use)."""

    config: BacktestConfig
    strategy: str
    metrics: Metrics
    table: TradeTable
    timestamps: np.ndarray
    equity: np.ndarray
    events: list = field(default_factory=list)

    @cached_property
    def trades(self) -> list[Trade]:
        """The round trips as :class:`Trade` objects (Decimal from the float64 values)."""
        t = self.table
        out = []
        for k in range(len(t)):
            short = t.side is not None and bool(t.side[k] < 0)
            trade = Trade(self.config.symbol, int(t.entry_ts_ms[k]), _dec(t.entry_price[k]), _dec(t.qty[k]),
                          _dec(t.entry_fee[k]), f"{self.strategy} {'ENTER_SHORT' if short else 'BUY'}", short=short)
            trade.exit_ts_ms, trade.exit_price, trade.exit_fee = int(t.exit_ts_ms[k]), _dec(t.exit_price[k]), \
                _dec(t.exit_fee[k])
            if t.funding is not None:
                trade.funding = _dec(t.funding[k])
            if t.end_of_data[k]:
                trade.exit_reason = END_OF_DATA
            elif t.liquidated is not None and t.liquidated[k]:
                trade.exit_reason = "liquidation"
            else:
                trade.exit_reason = f"{self.strategy} {'EXIT_SHORT' if short else 'SELL'}"
            out.append(trade)
        return out

    @property
    def rejections(self) -> Counter:
        """Always empty: nothing passes a risk manager on this path."""
        return Counter()

    @property
    def breaker_trips(self) -> list:
        """Always empty: no circuit breaker on this path."""
        return []


def _dec(x: float) -> Decimal:
    return Decimal(repr(float(x)))


def run_vectorized(df: pd.DataFrame, strategy: Strategy, config: BacktestConfig) -> VectorizedResult:
    """Backtest ``strategy`` on ``df`` (columns timestamp, open, high, low, close, volume;
    sorted, ms UTC) from its vectorised signals; see the module docstring for the rules.

    Raises:
        DataError: empty data.
        StrategyError: the strategy has no ``signals(df)``, or it returned the wrong shape.
        ConfigError: a stake or risk limit only the event-driven engine implements.
    """
    n = len(df)
    if n == 0:
        raise DataError("no candles to backtest")
    if not supports_vectorized(strategy):
        raise StrategyError(f"{strategy.name} has no signals(df): run it without --vectorized")
    if config.limits != RiskLimits():
        raise ConfigError("--vectorized runs without the risk manager: drop --risk (or run event-driven)")
    if has_cost_models(config):
        raise ConfigError("--vectorized models fee and fixed slippage only: drop --slippage-range, --impact "
                          "and --latency-candles (or run event-driven)")
    sizer = parse_stake(config.stake, config.fee_rate)
    if not isinstance(sizer, (AllCash, FixedQuote, PercentOfEquity)):
        raise ConfigError(f"--vectorized supports stake 'all', a quote amount or 'N%', not {config.stake!r}")
    signals = np.asarray(strategy.signals(df))
    if signals.shape != (n,):
        raise StrategyError(f"{strategy.name}.signals(df) returned shape {signals.shape}, expected ({n},)")
    if config.market == "spot" and np.any(np.abs(signals) == 2):
        raise StrategyError(f"{strategy.name} signals shorts: spot is long-only (use market futures)")
    ts = df["timestamp"].to_numpy()
    op = df["open"].to_numpy(dtype=float)
    cl = df["close"].to_numpy(dtype=float)
    cash0 = float(config.cash)
    if config.market == "futures":
        table, equity, in_pos = _futures(signals, ts, op, df, cl, sizer, config)
    else:
        entry, exit_ = round_trips(signals)
        table = _fill(entry, exit_, ts, op, cl, sizer, config)
        equity, in_pos = _equity(table, cl, cash0)
    metrics = metrics_from_arrays(equity, cash0, table.pnl, float((table.entry_fee + table.exit_fee).sum()),
                                  in_pos, int(ts[0]), int(ts[-1]), timeframe_to_ms(config.timeframe))
    return VectorizedResult(config, strategy.describe(), metrics, table, ts, equity)


def _futures(signals, ts, op, df, cl, sizer, config: BacktestConfig):
    """The futures account's round trips (:mod:`engine.backtest.vectorized_futures`) as a
    :class:`TradeTable`, with the equity and the candles held."""
    hi, lo = df["high"].to_numpy(dtype=float), df["low"].to_numpy(dtype=float)
    c, equity, in_pos = futures_round_trips(signals, ts, op, hi, lo, cl, sizer, config,
                                            timeframe_to_ms(config.timeframe))
    m = c["qty"].size
    if m == 0:
        c = {k: np.zeros(0, dtype=np.int64 if k.endswith("idx") else float) for k in c}
    entry_idx, exit_idx = c["entry_idx"].astype(np.int64), c["exit_idx"].astype(np.int64)
    table = TradeTable(entry_idx, exit_idx, ts[entry_idx], ts[exit_idx], c["entry_price"].astype(float),
                       c["exit_price"].astype(float), c["qty"].astype(float), c["entry_fee"].astype(float),
                       c["exit_fee"].astype(float), c["end_of_data"].astype(bool), c["side"].astype(float),
                       c["funding"].astype(float), c["liquidated"].astype(bool))
    return table, equity, in_pos


def round_trips(signals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The candles whose signals open and close positions: ``(entry_signal_idx,
    exit_signal_idx)``, one pair per round trip.

    The state machine (BUY acts when flat, SELL when long) keeps the first signal of each
    run of equal signals after dropping leading SELLs; a BUY on the last candle cannot fill
    and is dropped. An exit index of ``n - 1`` (a SELL on the last candle, which cannot fill
    either) or ``n`` (no SELL) means the position is closed at the end of data.
    """
    n = signals.size
    idx = np.flatnonzero(signals)
    vals = signals[idx]
    keep = np.ones(idx.size, dtype=bool)
    keep[1:] = vals[1:] != vals[:-1]
    idx, vals = idx[keep], vals[keep]
    if idx.size and vals[0] < 0:
        idx = idx[1:]
    entry, exit_ = idx[0::2], idx[1::2]
    if entry.size and entry[-1] == n - 1:  # a BUY on the last candle has no next open
        entry = entry[:-1]
    if exit_.size < entry.size:
        exit_ = np.append(exit_, n)
    return entry, np.minimum(exit_, n)


def _fill(entry: np.ndarray, exit_: np.ndarray, ts: np.ndarray, op: np.ndarray, cl: np.ndarray,
          sizer, config: BacktestConfig) -> TradeTable:
    """Prices, quantities and fees of the round trips; cash compounds trade to trade."""
    n = ts.size
    fee = float(config.fee_rate)
    slip = float(config.slippage_bps) / 10_000.0
    eod = exit_ >= n - 1
    in_i = entry + 1
    out_i = np.where(eod, n - 1, exit_ + 1)
    p_in = op[in_i] * (1.0 + slip)
    p_out = np.where(eod, cl[-1], op[np.minimum(out_i, n - 1)]) * (1.0 - slip)
    if isinstance(sizer, AllCash):
        # qty_k = cash_k / (1 + fee) / p_in; cash_{k+1} = qty_k * p_out * (1 - fee)
        growth = p_out * (1.0 - fee) / (p_in * (1.0 + fee))
        cash = float(config.cash) * np.concatenate(([1.0], np.cumprod(growth)[:-1]))
        qty = cash / (1.0 + fee) / p_in
    else:
        qty = _fixed_stake(float(sizer.stake), float(config.cash), fee, p_in, p_out) \
            if isinstance(sizer, FixedQuote) else None
    if qty is None:
        qty = np.empty(entry.size)
        cash_k = float(config.cash)
        part = float(sizer.stake) if isinstance(sizer, FixedQuote) else float(sizer.pct) / 100.0
        fixed = isinstance(sizer, FixedQuote)
        for k in range(entry.size):
            notional = min(part if fixed else cash_k * part, cash_k / (1.0 + fee))
            q = max(notional, 0.0) / p_in[k]
            qty[k] = q
            cash_k += q * (p_out[k] * (1.0 - fee) - p_in[k] * (1.0 + fee))
    keep = qty > 0
    return TradeTable(in_i[keep], out_i[keep], ts[in_i][keep], ts[out_i][keep], p_in[keep], p_out[keep],
                      qty[keep], (qty * p_in * fee)[keep], (qty * p_out * fee)[keep], eod[keep])


def _fixed_stake(stake: float, cash0: float, fee: float, p_in: np.ndarray, p_out: np.ndarray) -> np.ndarray | None:
    """Quantities of a fixed quote stake per entry when the cash never binds (every entry's
    cash covers ``stake`` plus its fee): ``stake / p_in``, the loop's values bit for bit
    (the cash before each entry is summed from ``cash0`` in order, as the loop does); None when it binds somewhere, for the
    loop in :func:`_fill` to size those entries."""
    if stake <= 0 or p_in.size == 0:
        return None
    qty = stake / p_in
    change = qty * (p_out * (1.0 - fee) - p_in * (1.0 + fee))
    before = np.cumsum(np.concatenate(([cash0], change[:-1])))  # from cash0, in order: the loop's sums
    if np.any(stake > before / (1.0 + fee)):
        return None
    return qty


def _equity(t: TradeTable, cl: np.ndarray, cash0: float) -> tuple[np.ndarray, np.ndarray]:
    """Equity at each close (quote) and whether a position was held there.

    Cash is piecewise constant between fills; while long (from the entry candle up to the
    candle before the exit fill, or to the end), equity is ``cash + qty * close``. The last
    value is the cash after the end-of-data exit, as in the event-driven engine."""
    n = cl.size
    m = len(t)
    if m == 0:
        return np.full(n, cash0), np.zeros(n, dtype=bool)
    cash_out = cash0 + np.cumsum(t.pnl)  # cash after trade k's exit
    before = np.concatenate(([cash0], cash_out[:-1]))
    cash_in = before - t.qty * t.entry_price - t.entry_fee  # cash while holding trade k
    held_to = np.where(t.end_of_data, n, t.exit_idx)  # exclusive end of the holding candles
    points = np.empty(2 * m, dtype=np.int64)
    points[0::2], points[1::2] = t.entry_idx, held_to
    cash_at = np.empty(2 * m + 1)
    qty_at = np.zeros(2 * m + 1)
    cash_at[0] = cash0
    cash_at[1::2], cash_at[2::2] = cash_in, cash_out
    qty_at[1::2] = t.qty
    seg = np.repeat(np.arange(2 * m + 1), np.diff(points, prepend=0, append=n))  # points <= candle i
    equity = cash_at[seg] + qty_at[seg] * cl
    in_pos = (seg % 2) == 1
    equity[-1] = cash_out[-1]
    return equity, in_pos
