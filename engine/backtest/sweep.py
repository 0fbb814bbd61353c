"""Parameter sweeps: one backtest per parameter set, in parallel on local cores.

A grid is ``{name: [values...]}``; :func:`expand` makes every combination (or a seeded
random sample of them), and combinations the strategy refuses (``fast >= slow``) are
counted and skipped, not run. :func:`run_sweep` runs each set with the vectorised engine
when the strategy has ``signals(df)`` and the run needs no risk manager, else with the
event-driven one, on a process pool (``concurrent.futures``; each worker receives the
candles once) or, given a scheduler address, on an existing Dask distributed cluster.
:func:`neighbourhood` scores each point of a two-parameter grid by the mean metric of its
3x3 neighbourhood, so a report can prefer a stable region to a lucky point.
"""

from __future__ import annotations

import itertools
import math
import os
import random
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.backtest.engine import BacktestConfig, has_cost_models, run_backtest
from engine.errors import ConfigError, StrategyError
from engine.risk.limits import RiskLimits
from engine.strategy import create, strategy_class
from engine.validation import unknown_key

METRICS = ("n_trades", "final_equity", "total_return_pct", "cagr_pct", "max_drawdown_pct", "sharpe", "sortino",
           "calmar", "win_rate", "profit_factor", "exposure_pct", "fees_paid")


def parse_grid_item(item: str) -> tuple[str, list]:
    """``"fast=5:50:5"`` (start:stop:step, stop included) or ``"fast=5,10,20"`` -> (name, values).

    Raises:
        ConfigError: naming the item and the expected forms.
    """
    name, sep, spec = item.partition("=")
    name = name.strip()
    hint = "expected NAME=start:stop:step or NAME=v1,v2,..., e.g. fast=5:50:5"
    if not sep or not name or not spec.strip():
        raise ConfigError(f"--grid {item!r}: {hint}")
    try:
        if ":" in spec:
            parts = [_number(x) for x in spec.split(":")]
            if len(parts) != 3:
                raise ValueError
            if parts[1] < parts[0]:
                raise ConfigError(f"--grid {item!r}: start {parts[0]} is above stop {parts[1]}; the values run "
                                  f"from start up to stop, e.g. {name}={parts[1]}:{parts[0]}:{parts[2]}")
            if parts[2] <= 0:
                raise ConfigError(f"--grid {item!r}: step {parts[2]} must be above 0")
            start, stop, step = parts
            n = int(math.floor((stop - start) / step + 1e-9)) + 1
            values = [start + k * step for k in range(n)]
            if all(isinstance(x, int) for x in parts):
                values = [int(v) for v in values]
            else:
                values = [round(v, 10) for v in values]
        else:
            values = [_number(x) for x in spec.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--grid {item!r}: {hint}") from None
    if not values:
        raise ConfigError(f"--grid {item!r}: no values")
    return name, values


def _number(text: str) -> int | float:
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else float(text)


def expand(strategy: str, grid: dict[str, list], sample: int | None = None,
           seed: int = 0) -> tuple[list[dict], list[tuple[dict, str]]]:
    """Every combination of ``grid`` the strategy accepts, in grid order; with ``sample``,
    a random subset of that many (``seed`` makes it repeatable).

    Returns:
        ``(valid, refused)``: parameter dicts, and ``(params, reason)`` for the refused ones.

    Raises:
        StrategyError: unknown strategy, or a parameter it does not have.
    """
    names = list(grid)
    cls = strategy_class(strategy)
    for name in names:  # a parameter the strategy does not have: every set would fail
        if name not in cls.Params.model_fields:
            raise StrategyError(f"{cls.name}: {unknown_key(name, cls.Params.model_fields)}")
    valid, refused = [], []
    for values in itertools.product(*(grid[n] for n in names)):
        params = dict(zip(names, values))
        try:
            create(strategy, params)
        except StrategyError as exc:
            refused.append((params, str(exc)))
            continue
        valid.append(params)
    if sample is not None and sample < len(valid):
        valid = random.Random(seed).sample(valid, sample)
    return valid, refused


@dataclass(frozen=True)
class SweepResult:
    """One row per parameter set: the parameters, then :data:`METRICS`; ``engine`` says
    which backtester ran it."""

    table: pd.DataFrame
    engine: str
    refused: list[tuple[dict, str]]


_WORKER: dict = {}


def _init(df: pd.DataFrame, strategy: str, config: BacktestConfig, vectorized: bool) -> None:
    _WORKER.update(df=df, strategy=strategy, config=config, vectorized=vectorized)


def backtest_one(params: dict, df: pd.DataFrame, strategy: str, config: BacktestConfig, vectorized: bool) -> dict:
    """One row of a sweep: the parameters and the run's :data:`METRICS`."""
    instance = create(strategy, params)
    if vectorized:
        from engine.backtest.vectorized import run_vectorized

        result = run_vectorized(df, instance, config)
    else:
        result = run_backtest(df, instance, config)
    return {**params, **{k: getattr(result.metrics, k) for k in METRICS}}


def _one(params: dict) -> dict:
    w = _WORKER
    return backtest_one(params, w["df"], w["strategy"], w["config"], w["vectorized"])


def choose_engine(strategy: str, config: BacktestConfig, requested: str = "auto") -> bool:
    """True for the vectorised engine. ``auto``: vectorised when the strategy has
    ``signals(df)`` and the run has only the default risk limits and a simple stake.

    Raises:
        ConfigError: ``vectorized`` requested where it cannot run.
    """
    from engine.backtest.vectorized import supports_vectorized

    simple_stake = config.stake == "all" or not any(c.isalpha() for c in config.stake)
    possible = (supports_vectorized(create(strategy)) and config.limits == RiskLimits() and simple_stake
                and not has_cost_models(config))
    if requested == "vectorized" and not possible:
        raise ConfigError(f"--engine vectorized: {strategy} needs the event-driven engine "
                          "(no signals(df), risk limits, a sizing rule or a cost model it does not model)")
    return possible if requested == "auto" else requested == "vectorized"


def run_sweep(df: pd.DataFrame, strategy: str, param_sets: list[dict], config: BacktestConfig,
              vectorized: bool, jobs: int | None = None,
              progress: Callable[[int, int], None] | None = None, scheduler: str | None = None) -> pd.DataFrame:
    """Backtest every parameter set; rows in the order of ``param_sets``.

    Args:
        jobs: worker processes (default: the machine's cores); 1 runs in this process.
        progress: called with (done, total) as results arrive.
        scheduler: address of a running Dask distributed scheduler (``tcp://host:8786``):
            the sets run on its workers instead (``jobs`` is then ignored). The workers need
            quantd installed and the strategy importable; the candles are sent to each
            worker once.

    Raises:
        ConfigError: ``scheduler`` given without ``dask.distributed`` installed, or unreachable.
    """
    if scheduler:
        return _run_on_dask(scheduler, df, strategy, param_sets, config, vectorized, progress)
    jobs = max(1, jobs or os.cpu_count() or 1)
    rows: list[dict] = []
    if jobs == 1 or len(param_sets) < 2:
        _init(df, strategy, config, vectorized)
        for k, params in enumerate(param_sets, 1):
            rows.append(_one(params))
            if progress:
                progress(k, len(param_sets))
        return pd.DataFrame(rows)
    chunk = max(1, len(param_sets) // (jobs * 4))
    with ProcessPoolExecutor(jobs, initializer=_init, initargs=(df, strategy, config, vectorized)) as pool:
        for k, row in enumerate(pool.map(_one, param_sets, chunksize=chunk), 1):
            rows.append(row)
            if progress:
                progress(k, len(param_sets))
    return pd.DataFrame(rows)


DASK_CONNECT_TIMEOUT_S = 10
"""How long to try to reach a Dask scheduler before giving up."""


def _run_on_dask(address: str, df: pd.DataFrame, strategy: str, param_sets: list[dict], config: BacktestConfig,
                 vectorized: bool, progress: Callable[[int, int], None] | None) -> pd.DataFrame:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ConfigError("--scheduler needs Dask distributed: pip install 'quantd[distributed]'") from None
    try:
        client = Client(address, timeout=f"{DASK_CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"--scheduler {address}: cannot reach the Dask scheduler ({exc})") from None
    with client:
        data = client.scatter(df, broadcast=True)
        futures = client.map(backtest_one, param_sets, df=data, strategy=strategy, config=config,
                             vectorized=vectorized, pure=False)
        if progress:
            for k, _ in enumerate(as_completed(futures), 1):
                progress(k, len(futures))
        return pd.DataFrame(client.gather(futures))


def neighbourhood(table: pd.DataFrame, x: str, y: str, metric: str) -> pd.DataFrame:
    """The metric on the ``x`` by ``y`` grid (rows y, columns x) and, for each cell, the mean
    over its 3x3 neighbourhood (cells that exist and ran). Returns a frame with columns
    ``x, y, metric, region_mean``."""
    pivot = table.pivot_table(index=y, columns=x, values=metric, aggfunc="mean")
    grid = pivot.to_numpy(dtype=float)
    padded = np.pad(grid, 1, constant_values=np.nan)
    stack = np.stack([padded[i:i + grid.shape[0], j:j + grid.shape[1]] for i in range(3) for j in range(3)])
    with np.errstate(invalid="ignore"):
        counts = np.sum(~np.isnan(stack), axis=0)
        region = np.where(counts > 0, np.nansum(stack, axis=0) / np.maximum(counts, 1), np.nan)
    out = []
    for i, yv in enumerate(pivot.index):
        for j, xv in enumerate(pivot.columns):
            if not np.isnan(grid[i, j]):
                out.append({x: xv, y: yv, metric: grid[i, j], "region_mean": region[i, j]})
    return pd.DataFrame(out)
