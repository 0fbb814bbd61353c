"""What users compare first in a backtest, beyond the headline metrics: buy-and-hold on the same
candles, tables by exit reason and by entry signal, holding times, best and worst trade, and the
longest time spent under water. Analytics, so float64 (the books themselves stay Decimal).

The one flat summary of a run (:func:`summary`) names each figure once, with its unit in the
key: ``_pct`` percent (12.5 = 12.5 %), ``_quote`` quote currency, ``_s`` seconds; ratios
(Sharpe, Sortino, Calmar, profit factor) and counts have no suffix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from statistics import median

import numpy as np
import pandas as pd

from engine.backtest.metrics import max_drawdown
from engine.backtest.trades import Trade
from engine.timeframes import iso_utc

SCHEMA = "quantd.backtest/2"
"""Version of the summary's layout (``schema`` key of ``--json`` and ``metrics.json``)."""


@dataclass(frozen=True)
class Benchmark:
    """Buy-and-hold over the run's candles.

    Attributes:
        equity: quote currency, aligned with the run's timestamps (marked at each close).
        return_pct: after selling at the last close with the run's fee, percent.
        max_drawdown_pct: of ``equity`` (the initial cash first), percent.
    """

    equity: np.ndarray
    return_pct: float
    max_drawdown_pct: float


def buy_and_hold(frames: list[pd.DataFrame], timestamps_ms: np.ndarray, cash: float, fee_rate: float,
                 close_after_ms: list[int] | None = None) -> Benchmark:
    """Buy-and-hold of ``frames`` (OHLCV, one per market, cash split equally): each share buys at
    its market's first open paying ``fee_rate``, is marked at every close and sold at the last
    close paying ``fee_rate`` again. No slippage.

    Args:
        frames: columns timestamp (open time, ms UTC), open, close; sorted.
        timestamps_ms: the run's time axis: candle open times for a single market, close
            times for a portfolio run, which gives each frame's candle length (ms) in
            ``close_after_ms`` so its candles are placed at their close.
        cash: starting cash, quote; fee_rate: fraction of notional per fill.

    Raises:
        ValueError: no frame, or an empty one.
    """
    if not frames or any(len(f) == 0 for f in frames):
        raise ValueError("buy_and_hold needs at least one non-empty OHLCV frame")
    share = cash / len(frames)
    axis = pd.Index(np.asarray(timestamps_ms, dtype="int64"))
    total = np.zeros(len(axis))
    final = 0.0
    for k, df in enumerate(frames):
        units = share * (1.0 - fee_rate) / float(df["open"].iloc[0])
        ts = df["timestamp"].to_numpy(dtype="int64") + (close_after_ms[k] if close_after_ms else 0)
        marks = pd.Series(units * df["close"].to_numpy(dtype=float), index=ts)
        marks = marks[~marks.index.duplicated(keep="last")]
        total += marks.reindex(axis, method="ffill").fillna(share).to_numpy()
        final += units * float(df["close"].iloc[-1]) * (1.0 - fee_rate)
    curve = np.concatenate(([cash], total))
    return Benchmark(total, (final / cash - 1.0) * 100.0, max_drawdown(curve) * 100.0)


def longest_drawdown_ms(timestamps_ms: np.ndarray, equity: np.ndarray) -> int:
    """Longest time equity spent below its running peak, ms: from the candle that set the peak
    to the first candle back at or above it (or the last candle, if it never recovered)."""
    if len(equity) < 2:
        return 0
    eq = np.asarray(equity, dtype=float)
    ts = np.asarray(timestamps_ms, dtype="int64")
    longest, peak_at, peak = 0, int(ts[0]), eq[0]
    for i in range(1, len(eq)):
        if eq[i] >= peak:
            longest = max(longest, int(ts[i]) - peak_at)
            peak, peak_at = eq[i], int(ts[i])
    if eq[-1] < peak:
        longest = max(longest, int(ts[-1]) - peak_at)
    return longest


def trade_return_pct(t: Trade, leverage: Decimal = Decimal(1)) -> float:
    """A round trip's net pnl over what the entry committed, percent: the notional plus fee on
    spot, the margin (notional / ``leverage``) plus fee on futures (freqtrade's profit on
    stake)."""
    cost = float(t.qty * t.entry_price / leverage + t.entry_fee)
    return float(t.pnl) / cost * 100.0 if cost else 0.0


def short_label(text: str) -> str:
    """An order intent without its parameters and numbers: ``rsi_reversion(period=14, ...) SELL``
    -> ``rsi_reversion SELL``, ``stop_loss: stop 123.4 on the exchange`` -> ``stop_loss``."""
    return re.sub(r"\([^)]*\)", "", text).split(":")[0].strip() or "(none)"


def breakdown(trades: list[Trade], by: str, leverage: Decimal = Decimal(1)) -> list[dict]:
    """Trades grouped by ``by`` (``exit_reason`` or ``entry_signal``, shortened by
    :func:`short_label`), most trades first: per group
    ``{by, trades, win_rate_pct, pnl_quote, mean_return_pct, mean_holding_s}``."""
    groups: dict[str, list[Trade]] = {}
    for t in trades:
        groups.setdefault(short_label(getattr(t, by) or ""), []).append(t)
    rows = []
    for key, ts in groups.items():
        rows.append({by: key, "trades": len(ts),
                     "win_rate_pct": 100.0 * sum(1 for t in ts if t.pnl > 0) / len(ts),
                     "pnl_quote": float(sum(t.pnl for t in ts)),
                     "mean_return_pct": sum(trade_return_pct(t, leverage) for t in ts) / len(ts),
                     "mean_holding_s": sum(t.exit_ts_ms - t.entry_ts_ms for t in ts) / len(ts) / 1000.0})
    return sorted(rows, key=lambda r: (-r["trades"], r[by]))


def trade_figures(trades: list[Trade], leverage: Decimal = Decimal(1)) -> dict:
    """Holding times (mean, median, seconds) and the best and worst round trip (percent, by
    :func:`trade_return_pct` at ``leverage``, and quote); None where there is no trade."""
    if not trades:
        return {k: None for k in ("mean_holding_s", "median_holding_s", "best_trade_pct", "worst_trade_pct",
                                  "best_trade_quote", "worst_trade_quote")}
    held = [(t.exit_ts_ms - t.entry_ts_ms) / 1000.0 for t in trades]
    pcts = [trade_return_pct(t, leverage) for t in trades]
    pnls = [float(t.pnl) for t in trades]
    return {"mean_holding_s": sum(held) / len(held), "median_holding_s": float(median(held)),
            "best_trade_pct": max(pcts), "worst_trade_pct": min(pcts),
            "best_trade_quote": max(pnls), "worst_trade_quote": min(pnls)}


def summary(result, benchmark: Benchmark | None) -> dict:
    """Every figure of ``result`` (a BacktestResult or VectorizedResult) once, units in the keys
    (see the module docstring): metrics, buy-and-hold, trade figures, the two breakdowns and
    the risk outcome."""
    m = result.metrics
    flat = {
        "trades": m.n_trades, "final_equity_quote": m.final_equity, "total_return_pct": m.total_return_pct,
        "cagr_pct": m.cagr_pct, "max_drawdown_pct": m.max_drawdown_pct,
        "longest_drawdown_s": longest_drawdown_ms(result.timestamps, result.equity) / 1000.0,
        "sharpe": m.sharpe, "sortino": m.sortino, "calmar": m.calmar, "win_rate_pct": m.win_rate,
        "profit_factor": m.profit_factor, "exposure_pct": m.exposure_pct, "fees_paid_quote": m.fees_paid,
        "buy_and_hold_return_pct": None if benchmark is None else benchmark.return_pct,
        "buy_and_hold_max_drawdown_pct": None if benchmark is None else benchmark.max_drawdown_pct,
    }
    trades = result.trades
    if result.config.market == "futures":  # both sides, funding and liquidations (ADR 0017)
        flat |= {"short_trades": sum(1 for t in trades if t.short),
                 "liquidations": sum(1 for t in trades if t.exit_reason.startswith("liquidation")),
                 "funding_paid_quote": float(sum((t.funding for t in trades), Decimal(0)))}
    lev = result.config.leverage  # 1 on spot; futures returns are on the margin
    return flat | trade_figures(trades, lev) | {
        "by_exit_reason": breakdown(trades, "exit_reason", lev),
        "by_entry_signal": breakdown(trades, "entry_signal", lev),
    }


def run_summary(result, benchmark: Benchmark | None, data_name: str) -> dict:
    """What ``--json`` prints and ``metrics.json`` holds: the run's header, every figure once
    (units in the keys, see the module docstring) and the risk outcome."""
    return {"schema": SCHEMA, "strategy": result.strategy, "data": data_name,
            "symbol": result.config.symbol, "timeframe": result.config.timeframe,
            "first_candle": iso_utc(int(result.timestamps[0])), "last_candle": iso_utc(int(result.timestamps[-1])),
            "candles": int(len(result.timestamps)),
            **summary(result, benchmark),
            "risk": {"rejections": dict(result.rejections),
                     "breaker_trips": [{"time": iso_utc(t.ts_ms), "equity_quote": t.equity, "reason": t.reason}
                                       for t in result.breaker_trips]}}


REJECTION_HINTS = {
    "signal_sanity": "the strategy repeated a signal that had no effect (BUY while long, SELL while flat) or "
                     "returned something that is not a signal; nothing was traded, one per streak is counted",
    "stale_data": "the last candle was too old when the order was proposed",
    "pair_lock": "the symbol was locked by a protection rule (cooldown, stoploss guard, low profit)",
    "min_liquidation_distance": "at this leverage the entry's liquidation price was closer to the price than "
                                "min_liquidation_distance_pct",
}
"""One sentence per risk rule whose name alone does not say why an order was refused."""


LABELS: dict[str, str] = {
    "trades": "trades", "final_equity_quote": "final equity", "total_return_pct": "total return",
    "cagr_pct": "CAGR", "max_drawdown_pct": "max drawdown", "longest_drawdown_s": "longest drawdown",
    "sharpe": "Sharpe", "sortino": "Sortino", "calmar": "Calmar", "win_rate_pct": "win rate",
    "profit_factor": "profit factor", "exposure_pct": "exposure", "fees_paid_quote": "fees paid",
    "buy_and_hold_return_pct": "buy and hold return", "buy_and_hold_max_drawdown_pct": "buy and hold max drawdown",
    "mean_holding_s": "mean holding time", "median_holding_s": "median holding time",
    "best_trade_pct": "best trade", "worst_trade_pct": "worst trade",
    "best_trade_quote": "best trade pnl", "worst_trade_quote": "worst trade pnl",
    "short_trades": "short trades", "liquidations": "liquidations", "funding_paid_quote": "funding paid",
}
"""A person's label for each summary key."""


def human(key: str, value, quote: str = "") -> str:
    """``value`` of summary ``key`` for a person: units from the key's suffix (``%``, the quote
    currency, a duration), ``n/a`` for None."""
    if value is None:
        return "n/a"
    if key.endswith("_pct"):
        return f"{value:,.2f} %"
    if key.endswith("_quote"):
        return f"{value:,.2f} {quote}".rstrip()
    if key.endswith("_s"):
        return duration(value)
    if isinstance(value, float):
        return f"{value:,.3f}"
    return f"{value:,}"


def duration(secs: float) -> str:
    """Seconds as ``3d 4h``, ``5h 20m``, ``12m`` or ``40s``."""
    secs = int(round(secs))
    days, rest = divmod(secs, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{seconds}s"
