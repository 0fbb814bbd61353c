"""Tables of a backtest report that are computed, not drawn: monthly returns and the run's
cost and period summary. The files themselves are written by :mod:`bot.report`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def monthly_returns(timestamps_ms: np.ndarray, equity: np.ndarray, initial_cash: float) -> pd.DataFrame:
    """Return of each calendar month (UTC), in percent, as a year x month table.

    A month's return is ``E_end / E_prev_end - 1`` where ``E_end`` is the equity at the last
    candle of the month and ``E_prev_end`` the equity at the last candle of the previous
    month that has data (``initial_cash`` for the first month). A month without candles is
    NaN, and the next month's return spans the gap. The ``total`` column compounds the
    year's months: ``prod(1 + r_m) - 1``.

    Args:
        timestamps_ms: candle open times, ms UTC, ascending, same length as ``equity``.
        equity: equity after each candle, quote currency.
        initial_cash: equity before the first candle, quote.

    Returns:
        DataFrame indexed by year (int), columns 1..12 and ``total`` (the year compounded);
        values in percent.

    Raises:
        ValueError: lengths differ or the series is empty.
    """
    if len(timestamps_ms) != len(equity) or len(equity) == 0:
        raise ValueError(f"monthly_returns needs equal, non-empty series, got {len(timestamps_ms)} "
                         f"timestamps and {len(equity)} equity values")
    ends = pd.Series(np.asarray(equity, dtype=float),
                     index=pd.to_datetime(np.asarray(timestamps_ms, dtype="int64"), unit="ms", utc=True))
    month_end = ends.groupby([ends.index.year, ends.index.month]).last()
    previous = month_end.shift(1)
    previous.iloc[0] = initial_cash
    returns = month_end / previous - 1.0
    table = returns.unstack(level=1).reindex(columns=range(1, 13))
    table.index.name = "year"
    table.columns.name = None
    table["total"] = (1.0 + table[list(range(1, 13))]).prod(axis=1, skipna=True) - 1.0
    return table * 100.0


def cost_summary(config) -> dict:
    """The cost settings a run used, for the report header (``config``: a BacktestConfig)."""
    return {"fee_rate": str(config.fee_rate), "slippage_bps": str(config.slippage_bps),
            "slippage_range_frac": str(config.slippage_range_frac), "impact_k": str(config.impact_k),
            "latency_candles": config.latency_candles, "stake": config.stake, "cash": str(config.cash)}
