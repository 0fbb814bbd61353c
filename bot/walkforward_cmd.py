"""``quantd walkforward``: choose parameters in-sample, trade them out-of-sample, window by window."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot import backtest_cmd
from bot.progress import Bar, add_quiet_argument
from bot.sweep_cmd import grid_from_args
from engine.backtest.sweep import METRICS, choose_engine, expand
from engine.backtest.walkforward import WalkForwardResult, run_walkforward
from engine.data import load_ohlcv
from engine.data.ohlcv import symbol_timeframe_from_name
from engine.errors import ConfigError
from engine.timeframes import iso_utc
from gateways import sample_path


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``walkforward`` sub-command."""
    p = sub.add_parser("walkforward", help="walk-forward test: choose in-sample, trade out-of-sample",
                       description="Cut the data into in-sample/out-of-sample windows; in each, choose the best "
                                   "parameters of the grid in-sample and trade them on the next out-of-sample "
                                   "candles. Writes the stitched out-of-sample equity and the report.")
    p.add_argument("--strategy", default="sma_cross", help="registered strategy name (default sma_cross)")
    p.add_argument("--grid", action="append", default=[], metavar="NAME=SPEC",
                   help="parameter values as in `quantd sweep` (default: the strategy's search_space)")
    p.add_argument("--data", default=None, help="OHLCV file (default: the bundled sample)")
    p.add_argument("--symbol", default=None)
    p.add_argument("--timeframe", default=None)
    p.add_argument("--windows", type=int, default=5, help="out-of-sample windows (default 5)")
    p.add_argument("--train", type=int, default=None,
                   help="in-sample candles (default: 4 x --test; anchored: the first window's)")
    p.add_argument("--test", type=int, default=None,
                   help="out-of-sample candles per window (default: the data / (windows + 4))")
    p.add_argument("--anchored", action="store_true", help="in-sample always starts at the first candle")
    p.add_argument("--metric", default="sharpe", choices=METRICS, help="what the in-sample choice maximises")
    p.add_argument("--engine", choices=["auto", "vectorized", "event"], default="auto")
    p.add_argument("--jobs", type=int, default=None, help="worker processes for the in-sample sweeps")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the in-sample sweeps on an existing Dask distributed cluster")
    p.add_argument("--out", default=str(Path("var") / "walkforward"),
                   help="report folder (default ./var/walkforward)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    backtest_cmd.add_cost_arguments(p)
    add_quiet_argument(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run the walk-forward test; write the report; 0 on success."""
    grid = grid_from_args(args.strategy, args.grid)
    param_sets, refused = expand(args.strategy, grid)
    if not param_sets:
        raise ConfigError(f"no valid parameter set in the grid ({len(refused)} refused)")
    path = args.data or str(sample_path())
    name_symbol, _ = symbol_timeframe_from_name(path)
    df, report = load_ohlcv(path, timeframe=args.timeframe)
    config = backtest_cmd.config_from_args(args, args.symbol or name_symbol or "BTC/USDT", report.timeframe)
    if args.windows < 1:
        raise ConfigError(f"--windows {args.windows}: must be >= 1")
    test = args.test or len(df) // (args.windows + 4)
    train = args.train or 4 * test
    vectorized = choose_engine(args.strategy, config, args.engine)
    print(f"{args.windows} windows of {train:,} in-sample + {test:,} out-of-sample candles, "
          f"{len(param_sets)} parameter sets each, {'vectorised' if vectorized else 'event-driven'} engine",
          file=sys.stderr)
    with Bar("walk-forward", "window", args.quiet, total=args.windows) as bar:
        result = run_walkforward(df, args.strategy, param_sets, config, args.windows, train, test, args.anchored,
                                 args.metric, vectorized, args.jobs, scheduler=args.scheduler, progress=bar)
    out = Path(args.out)
    summary = write_report(result, out, f"{args.strategy} on {Path(path).name}")
    if args.json:
        print(json.dumps(summary))
    else:
        print(result.windows_table().to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
        m = result.metrics
        eff = "n/a" if result.efficiency is None else f"{result.efficiency:.3f}"
        print(f"out-of-sample {iso_utc(int(result.timestamps[0]))} .. {iso_utc(int(result.timestamps[-1]))}: "
              f"return {m.total_return_pct:.2f} %, CAGR {m.cagr_pct:.2f} %, max drawdown {m.max_drawdown_pct:.2f} %, "
              f"Sharpe {m.sharpe:.3f}, {m.n_trades} trades; walk-forward efficiency {eff}")
        print(f"report: {out / 'report.json'}, {out / 'windows.csv'}, {out / 'equity.csv'}, {out / 'equity.png'}")
    return 0


def write_report(result: WalkForwardResult, out: Path, title: str) -> dict:
    """Write ``report.json`` (summary and windows), ``windows.csv``, ``equity.csv`` (stitched
    out-of-sample equity, quote) and ``equity.png`` into ``out``; return the summary."""
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    windows = result.windows_table()
    windows.to_csv(out / "windows.csv", index=False)
    pd.DataFrame({"time": [iso_utc(int(t)) for t in result.timestamps], "equity": result.equity}).to_csv(
        out / "equity.csv", index=False)
    summary = {"strategy": result.strategy, "metric": result.metric, "anchored": result.anchored,
               "engine": result.engine, "sets_per_window": result.sets_per_window,
               "efficiency": result.efficiency, "oos_metrics": result.metrics.to_dict(),
               "windows": json.loads(windows.to_json(orient="records"))}
    (out / "report.json").write_text(json.dumps(summary, indent=2))
    _plot(result, out / "equity.png", title)
    return summary


def _plot(result: WalkForwardResult, path: Path, title: str) -> None:
    """The stitched out-of-sample equity; above the chart, each window's chosen parameters, one
    per line, starting at the window's first candle (the figure grows to fit them: nothing clipped)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.transforms as mtransforms
    import pandas as pd

    times = pd.to_datetime(result.timestamps, unit="ms", utc=True)
    fig, ax = plt.subplots(figsize=(max(10, 2.2 * len(result.windows)), 4.5))
    ax.plot(times, result.equity, lw=1.0, color="tab:blue", label="out-of-sample equity")
    above = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
    lines = 1
    for k, w in enumerate(result.windows, 1):
        start = pd.to_datetime(w.times_ms[1], unit="ms", utc=True)
        ax.axvline(start, color="grey", lw=0.6, ls=":")
        label = "\n".join([f"window {k}"] + [f"{p}={v:g}" if isinstance(v, (int, float)) else f"{p}={v}"
                                             for p, v in w.params.items()])
        lines = max(lines, label.count("\n") + 1)
        ax.text(start, 1.02, label, transform=above, fontsize=7, va="bottom", ha="left", color="dimgrey")
    ax.set_title(f"walk-forward: {title}", pad=14 + 10 * lines)
    ax.set_ylabel("equity (quote)")
    ax.legend(loc="lower right")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
