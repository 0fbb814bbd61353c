"""``quantd backtest --report DIR``: the files of one backtest, and one HTML page with them.

Writes ``metrics.json``, ``trades.csv`` (the audit trail), ``equity.csv``, ``equity.png``
(equity and drawdown), ``monthly_returns.csv`` and ``report.html``, which embeds the chart
and every table so it can be mailed or opened offline.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from bot.telegram.chart import equity_drawdown_png
from engine.backtest.report import cost_summary, monthly_returns
from engine.backtest.trades import write_trades_csv
from engine.timeframes import iso_utc

MAX_HTML_TRADES = 2_000
"""Trades shown in the HTML page (all of them are in trades.csv)."""


def write_report(result, out: Path, title: str, data_name: str) -> list[Path]:
    """Write the report files of ``result`` (a BacktestResult or VectorizedResult) into
    ``out`` (created if missing); return the paths written.

    Raises:
        OSError: ``out`` cannot be created or written.
    """
    out.mkdir(parents=True, exist_ok=True)
    cash0 = float(result.config.cash)
    ts, equity = np.asarray(result.timestamps), np.asarray(result.equity, dtype=float)
    header = {"title": title, "strategy": result.strategy, "data": data_name,
              "symbol": result.config.symbol, "timeframe": result.config.timeframe,
              "first_candle": iso_utc(int(ts[0])), "last_candle": iso_utc(int(ts[-1])), "candles": int(len(ts)),
              "costs": cost_summary(result.config)}
    metrics = {**header, "metrics": result.metrics.to_dict(),
               "rejections": dict(result.rejections),
               "breaker_trips": [{"time": iso_utc(t.ts_ms), "equity": t.equity, "reason": t.reason}
                                 for t in result.breaker_trips]}
    paths = {name: out / name for name in ("metrics.json", "trades.csv", "equity.csv", "equity.png",
                                           "monthly_returns.csv", "report.html")}
    paths["metrics.json"].write_text(json.dumps(metrics, indent=2, default=str))
    write_trades_csv(result.trades, paths["trades.csv"])
    pd.DataFrame({"time": [iso_utc(int(t)) for t in ts], "equity": equity}).to_csv(paths["equity.csv"], index=False)
    png = equity_drawdown_png(ts, equity, title, result.config.symbol.split("/")[-1])
    paths["equity.png"].write_bytes(png)
    monthly = monthly_returns(ts, equity, cash0)
    monthly.to_csv(paths["monthly_returns.csv"], float_format="%.4f")
    trades = pd.read_csv(paths["trades.csv"])
    paths["report.html"].write_text(_html(metrics, png, monthly, trades))
    return list(paths.values())


def _html(metrics: dict, png: bytes, monthly: pd.DataFrame, trades: pd.DataFrame) -> str:
    """The self-contained page: header, metrics, chart (inline PNG), monthly returns, trades."""
    esc = html.escape
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(_fmt(v))}</td></tr>" for k, v in metrics["metrics"].items())
    costs = ", ".join(f"{esc(k)} {esc(str(v))}" for k, v in metrics["costs"].items())
    risk = "".join(f"<li>rejected by {esc(rule)}: {n}</li>" for rule, n in metrics["rejections"].items())
    risk += "".join(f"<li>breaker halted {esc(t['time'])}: {esc(t['reason'])}</li>" for t in metrics["breaker_trips"])
    shown = trades.head(MAX_HTML_TRADES)
    more = (f"<p>First {MAX_HTML_TRADES:,} of {len(trades):,} trades; all are in trades.csv.</p>"
            if len(trades) > MAX_HTML_TRADES else "")
    monthly_html = monthly.to_html(float_format=lambda x: f"{x:.2f}", na_rep="", classes="num")
    image = base64.b64encode(png).decode("ascii")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(metrics['title'])}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}th{{background:#f4f4f4}}</style></head><body>
<h1>{esc(metrics['title'])}</h1>
<p>{esc(metrics['strategy'])} on {esc(metrics['data'])} ({esc(metrics['symbol'])} {esc(metrics['timeframe'])}),
{metrics['candles']:,} candles from {esc(metrics['first_candle'])} to {esc(metrics['last_candle'])}.
Signals on a candle's close fill at a later candle's open; costs: {costs}.</p>
<h2>Metrics</h2><table>{rows}</table>
{f'<h2>Risk</h2><ul>{risk}</ul>' if risk else ''}
<h2>Equity and drawdown</h2><img alt="equity and drawdown" src="data:image/png;base64,{image}">
<h2>Monthly returns (%)</h2>{monthly_html}
<h2>Trades</h2>{more}{shown.to_html(index=False, na_rep='')}
</body></html>
"""


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}"
    return "" if value is None else str(value)
