"""Walk-forward analysis: choose parameters in-sample, trade them out-of-sample, repeat.

The candles are cut into consecutive windows. In each, every parameter set of the grid is
backtested on the **in-sample** (IS) candles only and the best by ``metric`` is kept; those
parameters then trade the following **out-of-sample** (OOS) candles, which no choice has
seen. The OOS runs are stitched into one equity curve, each starting with the equity the
previous one ended with. This is Pardo's walk-forward test (R. Pardo, *The Evaluation and
Optimization of Trading Strategies*, 2nd ed., 2008, ch. 11).

* ``rolling``: the IS window has a fixed length and moves with the OOS window;
  ``anchored``: the IS window always starts at the first candle and grows.
* Indicators warm up on the candles before each OOS window (the IS candles; their signals
  are ignored), so the first OOS candle is traded with settled indicators, and the position
  is flat at the start of each OOS window and closed at its last close (``end of data``).
* **Walk-forward efficiency** = annualised OOS return / annualised IS return of the chosen
  parameters (Pardo), per window and over all windows (mean OOS CAGR / mean IS CAGR);
  ``None`` where the IS return is not positive. Near 1 the in-sample edge carried over;
  near 0 or below it was mostly fitted noise.

The IS sweeps use the vectorised engine when the strategy and settings allow it
(:func:`~engine.backtest.sweep.choose_engine`), like ``quantd sweep``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Callable

import numpy as np
import pandas as pd

from engine.backtest.engine import BacktestConfig, run_backtest
from engine.backtest.metrics import Metrics, metrics_from_arrays
from engine.backtest.sweep import run_sweep
from engine.errors import ConfigError
from engine.models import Candle
from engine.strategy import create
from engine.strategy.base import Strategy, StrategyContext
from engine.timeframes import iso_utc, timeframe_to_ms


@dataclass(frozen=True)
class Split:
    """Row ranges ``[start, end)`` of one window's in-sample and out-of-sample candles."""

    is_start: int
    is_end: int
    oos_start: int
    oos_end: int


def splits(n: int, windows: int, train: int, test: int, anchored: bool = False) -> list[Split]:
    """The windows over ``n`` candles: ``train`` IS candles then ``test`` OOS candles, the
    OOS windows back to back and the last one ending at or before ``n``.

    Raises:
        ConfigError: a size below 1, or more candles asked for than there are.
    """
    if windows < 1 or train < 1 or test < 1:
        raise ConfigError(f"walk-forward windows, train and test must be >= 1 (got {windows}, {train}, {test})")
    need = train + windows * test
    if need > n:
        raise ConfigError(f"walk-forward needs {need:,} candles ({train:,} in-sample + {windows} x {test:,} "
                          f"out-of-sample) but the data has {n:,}: use fewer or shorter windows")
    first_oos = n - windows * test
    out = []
    for k in range(windows):
        oos_start = first_oos + k * test
        out.append(Split(0 if anchored else oos_start - train, oos_start, oos_start, oos_start + test))
    return out


@dataclass
class WindowResult:
    """One window: its split, the parameters chosen in-sample, both sides' metrics."""

    split: Split
    params: dict
    is_metrics: dict
    oos_metrics: Metrics
    efficiency: float | None
    times_ms: tuple[int, int, int] = (0, 0, 0)
    """IS start, OOS start and OOS end (exclusive), ms UTC."""


@dataclass
class WalkForwardResult:
    """All windows, the stitched OOS equity (timestamps ms UTC, equity quote) and its metrics."""

    strategy: str
    metric: str
    anchored: bool
    engine: str
    windows: list[WindowResult]
    timestamps: np.ndarray
    equity: np.ndarray
    metrics: Metrics
    efficiency: float | None
    sets_per_window: int = 0

    def windows_table(self) -> pd.DataFrame:
        """One row per window: dates, chosen parameters, IS and OOS figures, efficiency."""
        rows = []
        for k, w in enumerate(self.windows, 1):
            rows.append({"window": k, "is_start": iso_utc(w.times_ms[0]), "oos_start": iso_utc(w.times_ms[1]),
                         "oos_end": iso_utc(w.times_ms[2]), **{f"param_{p}": v for p, v in w.params.items()},
                         f"is_{self.metric}": w.is_metrics[self.metric], "is_cagr_pct": w.is_metrics["cagr_pct"],
                         f"oos_{self.metric}": getattr(w.oos_metrics, self.metric),
                         "oos_cagr_pct": w.oos_metrics.cagr_pct, "oos_return_pct": w.oos_metrics.total_return_pct,
                         "oos_trades": w.oos_metrics.n_trades, "efficiency": w.efficiency})
        return pd.DataFrame(rows)


class _TradeFrom(Strategy):
    """Wraps a strategy for the vectorised engine: its signals before row ``first`` (the
    warm-up candles) are dropped."""

    def __init__(self, inner: Strategy, first: int):
        super().__init__(inner.params)
        self.inner, self.first = inner, first
        self.name = inner.name

    def signals(self, df: pd.DataFrame) -> np.ndarray:
        out = np.array(self.inner.signals(df), dtype=np.int8)
        out[:self.first] = 0
        return out

    def describe(self) -> str:
        return self.inner.describe()


def _efficiency(oos_cagr: float, is_cagr: float) -> float | None:
    return oos_cagr / is_cagr if is_cagr > 0 else None


def _oos(df: pd.DataFrame, split: Split, strategy: Strategy, config: BacktestConfig,
         vectorized: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Trade ``strategy`` on the OOS rows, warmed on the IS rows. Returns, over the OOS rows
    only: equity (quote) at each close, whether a position was held there, each round
    trip's net pnl (quote), and the fees paid (quote)."""
    warm = df.iloc[split.is_start:split.oos_start]
    if vectorized:
        from engine.backtest.vectorized import run_vectorized

        part = df.iloc[split.is_start:split.oos_end].reset_index(drop=True)
        k = len(warm)
        res = run_vectorized(part, _TradeFrom(strategy, k), config)
        t = res.table
        return res.equity[k:], _held(res.timestamps[k:], t.entry_ts_ms, t.exit_ts_ms, t.end_of_data), t.pnl, \
            float((t.entry_fee + t.exit_fee).sum())
    ctx = StrategyContext(config.symbol, config.timeframe)
    for row in warm[["timestamp", "open", "high", "low", "close", "volume"]].itertuples(index=False):
        strategy.on_candle(Candle(*row), ctx)
    res = run_backtest(df.iloc[split.oos_start:split.oos_end].reset_index(drop=True), strategy, config)
    trades = res.trades
    held = _held(res.timestamps, np.array([t.entry_ts_ms for t in trades], dtype=np.int64),
                 np.array([t.exit_ts_ms for t in trades], dtype=np.int64),
                 np.array([t.exit_reason.startswith("end") for t in trades], dtype=bool))
    return (np.asarray(res.equity, dtype=float), held, np.array([float(t.pnl) for t in trades]),
            float(sum(float(t.fees) for t in trades)))


def _held(ts: np.ndarray, entry_ts: np.ndarray, exit_ts: np.ndarray, end_of_data: np.ndarray) -> np.ndarray:
    """True at the closes where a position was held: from the entry candle up to the candle
    before the exit fill, or to the end."""
    held = np.zeros(ts.size, dtype=bool)
    for a, b, eod in zip(entry_ts.tolist(), exit_ts.tolist(), end_of_data.tolist()):
        held[(ts >= a) & ((ts < b) | eod)] = True
    return held


def run_walkforward(df: pd.DataFrame, strategy: str, param_sets: list[dict], config: BacktestConfig,
                    windows: int, train: int, test: int, anchored: bool = False, metric: str = "sharpe",
                    vectorized: bool = True, jobs: int | None = None,
                    progress: Callable[[int, int], None] | None = None,
                    scheduler: str | None = None) -> WalkForwardResult:
    """Walk forward over ``df`` (see the module docstring).

    Args:
        param_sets: the grid to choose from in each window (from :func:`~engine.backtest.sweep.expand`).
        windows, train, test: number of OOS windows; IS and OOS lengths in candles.
        metric: a :data:`~engine.backtest.sweep.METRICS` name, higher is better (for
            ``max_drawdown_pct`` lower is better).
        vectorized: run the IS sweeps and OOS runs with the vectorised engine.
        progress: called with (windows done, windows).
        scheduler: a Dask scheduler address for the in-sample sweeps (see
            :func:`~engine.backtest.sweep.run_sweep`).

    Raises:
        ConfigError: windows that do not fit the data, an empty grid.
    """
    if not param_sets:
        raise ConfigError("walk-forward needs at least one parameter set")
    cuts = splits(len(df), windows, train, test, anchored)
    tf_ms = timeframe_to_ms(config.timeframe)
    ts = df["timestamp"].to_numpy()
    cash = float(config.cash)
    results: list[WindowResult] = []
    equity_parts, held_parts, pnl_parts, fees = [], [], [], 0.0
    for k, split in enumerate(cuts, 1):
        is_df = df.iloc[split.is_start:split.is_end].reset_index(drop=True)
        is_config = replace(config, cash=Decimal(repr(cash)))
        table = run_sweep(is_df, strategy, param_sets, is_config, vectorized, jobs, scheduler=scheduler)
        ranked = table.sort_values(metric, ascending=(metric == "max_drawdown_pct"), kind="stable")
        best = ranked.iloc[0]
        params = dict(param_sets[int(ranked.index[0])])  # run_sweep keeps the order of param_sets
        oos_equity, held, pnls, oos_fees = _oos(df, split, create(strategy, params), is_config, vectorized)
        oos_metrics = metrics_from_arrays(oos_equity, cash, pnls, oos_fees, held,
                                          int(ts[split.oos_start]), int(ts[split.oos_end - 1]), tf_ms)
        cash = float(oos_equity[-1])
        is_row = {m: _plain(best[m]) for m in best.index if m not in params}
        results.append(WindowResult(split, params, is_row, oos_metrics,
                                    _efficiency(oos_metrics.cagr_pct, is_row["cagr_pct"]),
                                    (int(ts[split.is_start]), int(ts[split.oos_start]),
                                     int(ts[split.oos_end - 1]) + tf_ms)))
        equity_parts.append(oos_equity)
        held_parts.append(held)
        pnl_parts.append(pnls)
        fees += oos_fees
        if progress:
            progress(k, len(cuts))
    equity = np.concatenate(equity_parts)
    first, last = cuts[0].oos_start, cuts[-1].oos_end
    metrics = metrics_from_arrays(equity, float(config.cash), np.concatenate(pnl_parts), fees,
                                  np.concatenate(held_parts), int(ts[first]), int(ts[last - 1]), tf_ms)
    mean_is = float(np.mean([w.is_metrics["cagr_pct"] for w in results]))
    mean_oos = float(np.mean([w.oos_metrics.cagr_pct for w in results]))
    return WalkForwardResult(create(strategy, results[0].params).name, metric, anchored,
                             "vectorized" if vectorized else "event", results, ts[first:last], equity, metrics,
                             _efficiency(mean_oos, mean_is), len(param_sets))


def _plain(value):
    """numpy scalars -> Python ints/floats (JSON and strategy params)."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
