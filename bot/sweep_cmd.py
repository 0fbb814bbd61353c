"""``quantd sweep``: backtest a grid of strategy parameters in parallel; table and heat map."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bot import backtest_cmd
from bot.progress import Bar, add_quiet_argument
from engine.backtest.sweep import METRICS, choose_engine, expand, neighbourhood, parse_grid_item, run_sweep
from engine.data import load_ohlcv
from engine.data.ohlcv import symbol_timeframe_from_name
from engine.errors import ConfigError
from engine.strategy import create
from gateways import sample_path


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``sweep`` sub-command."""
    p = sub.add_parser("sweep", help="backtest a grid of strategy parameters in parallel",
                       description="One backtest per parameter set (same fills as `quantd backtest`); writes "
                                   "results.csv and, for two parameters, a heat map.")
    p.add_argument("--strategy", default="sma_cross", help="registered strategy name (default sma_cross)")
    p.add_argument("--grid", action="append", default=[], metavar="NAME=SPEC",
                   help="parameter values: start:stop:step (stop included) or v1,v2,...; repeatable "
                        "(default: the strategy's search_space)")
    p.add_argument("--sample", type=int, default=None, help="run a random sample of this many sets")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    p.add_argument("--data", action="append", default=[], metavar="FILE",
                   help="OHLCV file, repeatable: several files (symbols) are ranked by the mean of --metric "
                        "across them (default: the bundled sample)")
    p.add_argument("--symbol", default=None)
    p.add_argument("--timeframe", default=None)
    backtest_cmd.add_cost_arguments(p)
    p.add_argument("--engine", choices=["auto", "vectorized", "event"], default="auto",
                   help="auto: vectorised when the strategy and settings allow it (default)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on an existing Dask distributed cluster, e.g. tcp://10.0.0.5:8786 "
                        "(pip install 'quantd[distributed]')")
    p.add_argument("--metric", default="sharpe", choices=METRICS, help="ranking and heat map metric")
    p.add_argument("--out", default=None, help="folder for results.csv and heatmap.png")
    p.add_argument("--top", type=int, default=10, help="rows printed (default 10)")
    add_quiet_argument(p)
    p.set_defaults(func=main)


def grid_from_args(strategy: str, items: list[str]) -> dict[str, list]:
    """The ``--grid`` items, or the strategy's declared ``search_space`` when there are none.

    Raises:
        ConfigError: neither is given, or a bad item.
    """
    if items:
        return dict(parse_grid_item(item) for item in items)
    space = create(strategy).search_space
    if not space:
        raise ConfigError(f"{strategy} declares no search_space: give --grid, e.g. --grid fast=5:50:5")
    return {name: list(values) for name, values in space.items()}


def main(args: argparse.Namespace) -> int:
    """Run the sweep described by the parsed arguments; 0 on success."""
    grid = grid_from_args(args.strategy, args.grid)
    param_sets, refused = expand(args.strategy, grid, args.sample, args.seed)
    if not param_sets:
        raise ConfigError(f"no valid parameter set in the grid ({len(refused)} refused, e.g. {refused[0][1]})"
                          if refused else "empty grid")
    paths = args.data or [str(sample_path())]
    tables = []
    for path in paths:
        table, secs, n = _sweep_one(args, path, param_sets, refused)
        print(f"{len(table)} backtests in {secs:.2f} s ({len(table) * n / secs:,.0f} candles/s)"
              + (f" on {Path(path).name}" if len(paths) > 1 else ""))
        tables.append(table.assign(file=Path(path).name))
    names = list(grid)
    if len(paths) == 1:
        table = ranked_all = tables[0].drop(columns="file")
        title = f"{args.strategy} on {Path(paths[0]).name}"
    else:  # several symbols: a set is judged by how it does across all of them
        ranked_all = pd.concat(tables, ignore_index=True)
        table = across_files(ranked_all, names, args.metric)
        title = f"{args.strategy} on {len(paths)} files (mean)"
    ascending = args.metric == "max_drawdown_pct"
    ranked = table.sort_values(args.metric, ascending=ascending, na_position="last")
    print(ranked.head(args.top).to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    region = None
    if len(names) == 2:
        region = neighbourhood(table, names[0], names[1], args.metric)
        if not region.empty:
            best = region.loc[region["region_mean"].idxmin() if ascending else region["region_mean"].idxmax()]
            print(f"most stable region: {names[0]}={best[names[0]]:g}, {names[1]}={best[names[1]]:g} "
                  f"({args.metric} {best[args.metric]:.3f}, 3x3 neighbourhood mean {best['region_mean']:.3f})")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        ranked_all.sort_values(args.metric, ascending=ascending, na_position="last").to_csv(out / "results.csv",
                                                                                          index=False)
        print(f"results: {out / 'results.csv'}")
        if len(paths) > 1:
            ranked.to_csv(out / "summary.csv", index=False)
            print(f"summary across files: {out / 'summary.csv'}")
        if region is not None and not region.empty:
            top = ranked.iloc[0]
            stable = best
            heat_map(table, names[0], names[1], args.metric, out / "heatmap.png", title,
                     best=(top[names[0]], top[names[1]]), stable=(stable[names[0]], stable[names[1]]))
            print(f"heat map: {out / 'heatmap.png'}")
    return 0


def _sweep_one(args: argparse.Namespace, path: str, param_sets: list[dict], refused: list):
    """Sweep one file; returns (results table, seconds, candles)."""
    name_symbol, _ = symbol_timeframe_from_name(path)
    df, report = load_ohlcv(path, timeframe=args.timeframe)
    config = backtest_cmd.config_from_args(args, args.symbol or name_symbol or "BTC/USDT", report.timeframe)
    vectorized = choose_engine(args.strategy, config, args.engine)
    engine = "vectorised" if vectorized else "event-driven"
    print(f"{len(param_sets)} parameter sets ({len(refused)} refused by the strategy) on {len(df):,} candles "
          f"of {Path(path).name}, {engine} engine", file=sys.stderr)
    t0 = time.perf_counter()
    with Bar(f"sweep {Path(path).name}", "backtest", args.quiet, total=len(param_sets)) as bar:
        table = run_sweep(df, args.strategy, param_sets, config, vectorized, args.jobs, scheduler=args.scheduler,
                          progress=bar)
    return table, time.perf_counter() - t0, len(df)


def across_files(results: pd.DataFrame, names: list[str], metric: str) -> pd.DataFrame:
    """One row per parameter set from the rows of several files: ``metric`` is the mean
    across files, ``<metric>_worst`` the worst file's value and ``files`` how many files
    had a value (NaN metrics, such as a Sharpe without trades, are left out of the mean)."""
    worst = "max" if metric == "max_drawdown_pct" else "min"
    grouped = results.groupby(names, sort=False)[metric]
    out = grouped.agg(["mean", worst, "count"]).reset_index()
    return out.rename(columns={"mean": metric, worst: f"{metric}_worst", "count": "files"})


def heat_map(table, x: str, y: str, metric: str, path: Path, title: str, best: tuple | None = None,
             stable: tuple | None = None) -> None:
    """Write a PNG of ``metric`` over the ``x`` by ``y`` grid (matplotlib, no display), each
    cell's value printed in it; ``best`` (an (x, y) pair) is marked with a black frame and a star,
    ``stable`` (the centre of the most stable 3x3 region) with a dashed frame around its region."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    pivot = table.pivot_table(index=y, columns=x, values=metric, aggfunc="mean")
    values = pivot.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(2.5 + 0.6 * len(pivot.columns), 2.0 + 0.45 * len(pivot.index)))
    im = ax.imshow(values, origin="lower", aspect="auto", cmap="RdYlGn_r" if metric == "max_drawdown_pct" else "RdYlGn")
    ax.set_xticks(range(len(pivot.columns)), [f"{v:g}" for v in pivot.columns], rotation=90)
    ax.set_yticks(range(len(pivot.index)), [f"{v:g}" for v in pivot.index])
    if values.size <= 400:
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                if not np.isnan(values[i, j]):
                    ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=6, color="black")
    handles = []
    if stable is not None:
        i, j = list(pivot.index).index(stable[1]), list(pivot.columns).index(stable[0])
        i0, i1 = max(i - 1, 0), min(i + 1, values.shape[0] - 1)
        j0, j1 = max(j - 1, 0), min(j + 1, values.shape[1] - 1)
        handles.append(ax.add_patch(Rectangle((j0 - 0.5, i0 - 0.5), j1 - j0 + 1, i1 - i0 + 1, fill=False, lw=2,
                                              ls="--", ec="#1f3fbf", label=f"most stable region ({x}={stable[0]:g}, "
                                                                            f"{y}={stable[1]:g} at its centre)")))
    if best is not None:
        i, j = list(pivot.index).index(best[1]), list(pivot.columns).index(best[0])
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2.5, ec="black"))
        handles.append(ax.plot(j - 0.32, i + 0.28, marker="*", color="black", markersize=8, ls="none",
                               label=f"best cell ({x}={best[0]:g}, {y}={best[1]:g})")[0])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{title}: {metric}")
    fig.colorbar(im, ax=ax, label=metric)
    if handles:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.1),
                  fontsize=8, frameon=False)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
