"""Backtest performance metrics from the mark-to-market equity curve and the trade list.

Conventions: equity is sampled at every candle close, with the initial cash prepended as
the value before the first candle; per-candle simple returns ``r_t = E_t / E_{t-1} - 1``;
annualisation uses ``N = 365 days / timeframe`` periods per year (crypto trades every day)
and a zero risk-free rate. Gaps in the data are not filled: a return spans whatever time
separates two candles.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from engine.backtest.trades import Trade
from engine.timeframes import MS_PER_YEAR


@dataclass
class Metrics:
    """Headline figures. Percentages are in percent (12.5 = 12.5%), money in quote currency."""

    n_trades: int
    final_equity: float
    total_return_pct: float
    cagr_pct: float
    max_drawdown_pct: float
    sharpe: float
    sortino: float
    calmar: float | None
    win_rate: float
    profit_factor: float | None
    exposure_pct: float
    fees_paid: float

    def to_dict(self) -> dict:
        """JSON-ready dict (None where a ratio is undefined)."""
        return asdict(self)


def sharpe_ratio(returns: np.ndarray, periods_per_year: float) -> float:
    """Annualised Sharpe ratio: ``mean(r) / std(r, ddof=1) * sqrt(N)``, risk-free rate 0.

    Source: W. F. Sharpe, "The Sharpe Ratio", J. Portfolio Management 21(1), 1994; the
    sqrt(N) scaling assumes i.i.d. returns (A. W. Lo, "The Statistics of Sharpe Ratios",
    Financial Analysts Journal 58(4), 2002). 0.0 when undefined (fewer than 2 returns or
    zero variance).
    """
    if returns.size < 2:
        return 0.0
    sd = float(np.std(returns, ddof=1))
    return 0.0 if sd == 0.0 else float(np.mean(returns)) / sd * math.sqrt(periods_per_year)


def sortino_ratio(returns: np.ndarray, periods_per_year: float) -> float:
    """Annualised Sortino ratio: ``mean(r) / DD * sqrt(N)`` with downside deviation
    ``DD = sqrt(mean(min(r, 0)^2))`` over all periods, target return 0.

    Source: F. A. Sortino and L. N. Price, "Performance Measurement in a Downside Risk
    Framework", J. Investing 3(3), 1994. 0.0 when undefined (no downside).
    """
    if returns.size == 0:
        return 0.0
    down = np.minimum(returns, 0.0)
    down *= down
    dd = math.sqrt(float(np.mean(down)))
    return 0.0 if dd == 0.0 else float(np.mean(returns)) / dd * math.sqrt(periods_per_year)


def max_drawdown(equity: np.ndarray) -> float:
    """Largest peak-to-trough fall, as a fraction of the peak: ``max_t (1 - E_t / max_{s<=t} E_s)``."""
    if not equity.size:
        return 0.0
    ratio = np.maximum.accumulate(equity)
    np.divide(equity, ratio, out=ratio)  # in place: one temporary for a 1M-candle curve, not three
    return 1.0 - float(ratio.min())  # = max(1 - e/peak): 1 - x rounds monotonically


def compute_metrics(equity: np.ndarray, initial_cash: float, trades: list[Trade], in_position: np.ndarray,
                    first_ts_ms: int, last_ts_ms: int, tf_ms: int) -> Metrics:
    """All metrics of one run.

    Args:
        equity: quote currency at each candle close (n values).
        initial_cash: quote currency before the first candle.
        trades: closed round trips.
        in_position: bool per candle, True when a position was held at its close.
        first_ts_ms, last_ts_ms: open times of the first and last candle; tf_ms: candle length.
    """
    pnls = np.array([float(t.pnl) for t in trades], dtype=float)
    fees = float(sum((t.fees for t in trades), start=0))
    return metrics_from_arrays(equity, initial_cash, pnls, fees, in_position, first_ts_ms, last_ts_ms, tf_ms)


def metrics_from_arrays(equity: np.ndarray, initial_cash: float, pnls: np.ndarray, fees_paid: float,
                        in_position: np.ndarray, first_ts_ms: int, last_ts_ms: int, tf_ms: int) -> Metrics:
    """:func:`compute_metrics` from columns: ``pnls`` is each round trip's net pnl (quote),
    ``fees_paid`` the total fee (quote); the other arguments as there."""
    curve = np.concatenate(([initial_cash], equity))
    returns = curve[1:] / curve[:-1] - 1.0
    n_per_year = MS_PER_YEAR / tf_ms
    final = float(curve[-1])
    years = (last_ts_ms - first_ts_ms + tf_ms) / MS_PER_YEAR
    try:
        cagr = (final / initial_cash) ** (1.0 / years) - 1.0 if years > 0 and final > 0 else -1.0
    except OverflowError:  # a gain over minutes, annualised, exceeds a float: unbounded
        cagr = math.inf
    mdd = max_drawdown(curve)
    wins = float(pnls[pnls > 0].sum())
    losses = -float(pnls[pnls < 0].sum())
    return Metrics(
        n_trades=int(pnls.size),
        final_equity=final,
        total_return_pct=(final / initial_cash - 1.0) * 100.0,
        cagr_pct=cagr * 100.0,
        max_drawdown_pct=mdd * 100.0,
        sharpe=sharpe_ratio(returns, n_per_year),
        sortino=sortino_ratio(returns, n_per_year),
        calmar=(cagr / mdd) if mdd > 0 else None,
        win_rate=(100.0 * int((pnls > 0).sum()) / pnls.size) if pnls.size else 0.0,
        profit_factor=(wins / losses) if losses > 0 else None,
        exposure_pct=100.0 * float(np.mean(in_position)) if in_position.size else 0.0,
        fees_paid=fees_paid,
    )
