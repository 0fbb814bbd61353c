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
from engine.backtest.analysis import LABELS, REJECTION_HINTS, Benchmark, duration, human, run_summary, short_label
from engine.backtest.report import cost_summary, monthly_returns
from engine.backtest.trades import write_trades_csv
from engine.timeframes import iso_utc

MAX_HTML_TRADES = 2_000
"""Trades shown in the HTML page (all of them are in trades.csv)."""


def write_report(result, out: Path, title: str, data_name: str, benchmark: Benchmark | None = None) -> list[Path]:
    """Write the report files of ``result`` (a BacktestResult or VectorizedResult) into
    ``out`` (created if missing); return the paths written. ``benchmark``: buy-and-hold on the
    same candles, in the figures and as a line on the equity chart.

    Raises:
        OSError: ``out`` cannot be created or written.
    """
    out.mkdir(parents=True, exist_ok=True)
    cash0 = float(result.config.cash)
    ts, equity = np.asarray(result.timestamps), np.asarray(result.equity, dtype=float)
    metrics = {"title": title, **run_summary(result, benchmark, data_name), "costs": cost_summary(result.config)}
    paths = {name: out / name for name in ("metrics.json", "trades.csv", "equity.csv", "equity.png",
                                           "monthly_returns.csv", "report.html")}
    paths["metrics.json"].write_text(json.dumps(metrics, indent=2, default=str))
    write_trades_csv(result.trades, paths["trades.csv"])
    curves = {"time": [iso_utc(int(t)) for t in ts], "equity": equity}
    if benchmark is not None:
        curves["buy_and_hold"] = benchmark.equity
    pd.DataFrame(curves).to_csv(paths["equity.csv"], index=False, float_format="%.8f")
    quote = result.config.symbol.split("/")[-1]
    png = equity_drawdown_png(ts, equity, title, quote, None if benchmark is None else benchmark.equity)
    paths["equity.png"].write_bytes(png)
    monthly = monthly_returns(ts, equity, cash0)
    monthly.to_csv(paths["monthly_returns.csv"], float_format="%.4f")
    trades = pd.read_csv(paths["trades.csv"], dtype=str, keep_default_na=False)
    paths["report.html"].write_text(_html(metrics, png, monthly, trades, quote))
    return list(paths.values())


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _html(metrics: dict, png: bytes, monthly: pd.DataFrame, trades: pd.DataFrame, quote: str) -> str:
    """The self-contained page: header, figures with labels and units, the breakdowns, the chart
    (inline PNG), monthly returns and the trades."""
    esc = html.escape
    rows = "".join(f"<tr><th>{esc(label)}</th><td>{esc(human(key, metrics[key], quote))}</td></tr>"
                   for key, label in LABELS.items() if key in metrics)  # futures figures only on futures
    costs = ", ".join(f"{esc(k.replace('_', ' '))} {esc(str(v))}" for k, v in metrics["costs"].items())
    risk = "".join(f"<li>rejected by {esc(rule)}: {n}" + (f" ({esc(REJECTION_HINTS[rule])})" if rule in REJECTION_HINTS
                                                          else "") + "</li>"
                   for rule, n in metrics["risk"]["rejections"].items())
    risk += "".join(f"<li>breaker halted {esc(t['time'])}: {esc(t['reason'])}</li>"
                    for t in metrics["risk"]["breaker_trips"])
    groups = "".join(f"<h3>By {title}</h3>{_group_html(metrics[key], key[3:], title, quote)}"
                     for key, title in (("by_exit_reason", "exit reason"), ("by_entry_signal", "entry signal"))
                     if metrics[key])
    shown = trades.head(MAX_HTML_TRADES).copy()
    for column in ("exit_reason", "entry_signal"):
        shown[column] = shown[column].map(short_label)
    for column in ("entry_time", "exit_time"):
        shown[column] = shown[column].str.replace("T", " ").str.replace(":00Z", " UTC")
    more = (f"<p>First {MAX_HTML_TRADES:,} of {len(trades):,} trades; all are in trades.csv.</p>"
            if len(trades) > MAX_HTML_TRADES else "")
    table = monthly.rename(columns=dict(zip(range(1, 13), MONTHS))).reset_index()
    monthly_html = table.to_html(index=False, na_rep="", classes="num",
                                 formatters={c: (lambda x: "" if pd.isna(x) else f"{x:.2f} %")
                                             for c in table.columns if c != "year"})
    image = base64.b64encode(png).decode("ascii")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(metrics['title'])}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right;white-space:nowrap}}th{{background:#f4f4f4;text-align:left}}</style>
</head><body>
<h1>{esc(metrics['title'])}</h1>
<p>{esc(metrics['strategy'])} on {esc(metrics['data'])} ({esc(metrics['symbol'])} {esc(metrics['timeframe'])}),
{metrics['candles']:,} candles from {esc(metrics['first_candle'])} to {esc(metrics['last_candle'])}.
Signals on a candle's close fill at a later candle's open; costs: {costs}. Buy and hold: the same cash
bought at the first open and sold at the last close, with the same fee.</p>
<h2>Figures</h2><table>{rows}</table>
{f'<h2>Risk</h2><ul>{risk}</ul>' if risk else ''}
<h2>Equity and drawdown</h2><img alt="equity and drawdown, with buy and hold" src="data:image/png;base64,{image}">
<h2>Trades by exit reason and entry signal</h2>{groups or '<p>No trades.</p>'}
<h2>Monthly returns</h2>{monthly_html}
<h2>Trades</h2>{more}{shown.to_html(index=False, na_rep='')}
</body></html>
"""


def _group_html(rows: list[dict], key: str, title: str, quote: str) -> str:
    head = "".join(f"<th>{cell}</th>" for cell in (html.escape(title), "trades", "win rate",
                                                  html.escape(f"pnl ({quote})"), "mean return", "mean holding"))
    body = "".join(
        f"<tr><td>{html.escape(str(r[key]))}</td><td>{r['trades']:,}</td><td>{r['win_rate_pct']:.1f} %</td>"
        f"<td>{r['pnl_quote']:,.2f}</td><td>{r['mean_return_pct']:.2f} %</td><td>{duration(r['mean_holding_s'])}</td></tr>"
        for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"
