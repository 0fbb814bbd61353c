"""``quantd sweep``: grids, refused sets, both engines, parallel workers, outputs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bot.cli import main as cli
from engine.backtest.engine import BacktestConfig
from engine.backtest.sweep import expand, neighbourhood, parse_grid_item, run_sweep
from engine.data import load_ohlcv
from engine.errors import ConfigError, StrategyError


def test_grid_forms_and_errors():
    assert parse_grid_item("fast=5:20:5") == ("fast", [5, 10, 15, 20])
    assert parse_grid_item("lower=20:30:2.5") == ("lower", [20.0, 22.5, 25.0, 27.5, 30.0])
    assert parse_grid_item("slow=30,60,90") == ("slow", [30, 60, 90])
    for bad in ("fast", "fast=", "fast=5:1:1", "fast=1:5:0", "fast=a,b", "=1,2"):
        with pytest.raises(ConfigError, match="--grid"):
            parse_grid_item(bad)


def test_expand_skips_sets_the_strategy_refuses_and_stops_on_unknown_parameters():
    valid, refused = expand("sma_cross", {"fast": [10, 20, 30], "slow": [20, 40]})
    assert valid == [{"fast": 10, "slow": 20}, {"fast": 10, "slow": 40}, {"fast": 20, "slow": 40},
                     {"fast": 30, "slow": 40}]
    assert [p for p, _ in refused] == [{"fast": 20, "slow": 20}, {"fast": 30, "slow": 20}]
    assert "smaller than slow" in refused[0][1]
    assert expand("sma_cross", {"fast": [5, 10], "slow": [40, 50]}, sample=3, seed=1) == \
        expand("sma_cross", {"fast": [5, 10], "slow": [40, 50]}, sample=3, seed=1)
    with pytest.raises(StrategyError):
        expand("sma_cross", {"fastt": [5]})


def test_parallel_event_driven_and_vectorised_sweeps_give_the_same_table(data_dir):
    df, _ = load_ohlcv(data_dir / "binance" / "ETH_USDT-5m.csv.gz")
    df = df.iloc[:8000].reset_index(drop=True)
    sets, _ = expand("sma_cross", {"fast": [5, 10, 15], "slow": [30, 60]})
    config = BacktestConfig(symbol="ETH/USDT", timeframe="5m")
    event = run_sweep(df, "sma_cross", sets, config, vectorized=False, jobs=2)
    vector = run_sweep(df, "sma_cross", sets, config, vectorized=True, jobs=1)
    assert list(event["fast"]) == [5, 5, 10, 10, 15, 15]
    assert list(event["n_trades"]) == list(vector["n_trades"])
    pd.testing.assert_series_equal(event["final_equity"], vector["final_equity"], rtol=1e-9)


def test_neighbourhood_prefers_a_stable_region_to_a_lucky_point():
    rows = [{"x": x, "y": y, "m": 0.0} for x in range(5) for y in range(5)]
    for r in rows:
        if r["x"] >= 3 and r["y"] >= 3:
            r["m"] = 1.0  # a good corner
    rows[0]["m"] = 3.0  # one lucky point, alone among poor neighbours
    region = neighbourhood(pd.DataFrame(rows), "x", "y", "m")
    best = region.loc[region["region_mean"].idxmax()]
    assert (best["x"], best["y"]) == (4, 4) and region["m"].max() == 3.0


def test_cli_sweep_of_100_sets_on_real_hourly_candles(data_dir, tmp_path, capsys):
    path = str(data_dir / "binance" / "BTC_USDT-1h.csv.gz")
    assert cli(["sweep", "--data", path, "--grid", "fast=2:20:2", "--grid", "slow=25:250:25",
                "--out", str(tmp_path), "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert "100 backtests in" in out and "most stable region: fast=" in out
    table = pd.read_csv(tmp_path / "results.csv")
    assert len(table) == 100 and table["sharpe"].is_monotonic_decreasing
    assert (tmp_path / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = table.iloc[0]
    assert cli(["backtest", "--data", path, "--json", "--param", f"fast={best['fast']}",
                "--param", f"slow={best['slow']}"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert single["trades"] == best["n_trades"]
    assert single["sharpe"] == pytest.approx(best["sharpe"], rel=1e-6)


def test_cli_sweep_usage_errors(data_dir, capsys):
    assert cli(["sweep", "--strategy", "tests.test_vectorized:NoSignals"]) == 2
    assert "declares no search_space: give --grid" in capsys.readouterr().err
    assert cli(["sweep", "--grid", "fast=30:40:10", "--grid", "slow=10,20"]) == 2
    assert "no valid parameter set" in capsys.readouterr().err
    assert cli(["sweep", "--strategy", "rsi_reversion", "--grid", "period=5,10", "--risk", "max_drawdown_pct=10",
                "--engine", "vectorized"]) == 2
    assert "needs the event-driven engine" in capsys.readouterr().err


def test_sweep_on_a_local_dask_cluster_equals_the_local_run(data_dir):
    """The same parameter sets through a Dask distributed scheduler (two worker processes on
    this machine) give the same table as the local process pool."""
    distributed = pytest.importorskip("distributed")
    df, _ = load_ohlcv(data_dir / "binance" / "ETH_USDT-5m.csv.gz")
    sets, _ = expand("ema_cross", {"fast": [5, 8, 12], "slow": [26, 50]})
    config = BacktestConfig(symbol="ETH/USDT", timeframe="5m")
    local = run_sweep(df, "ema_cross", sets, config, vectorized=True, jobs=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        remote = run_sweep(df, "ema_cross", sets, config, vectorized=True, scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(remote, local)
    assert len(remote) == 6 and remote["n_trades"].min() > 100


def test_sweep_scheduler_errors_are_clear(capsys, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("engine.backtest.sweep.DASK_CONNECT_TIMEOUT_S", 1)
    assert cli(["sweep", "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


def test_cli_sweep_over_several_symbols_ranks_by_the_mean_across_files(data_dir, tmp_path, capsys):
    files = [str(data_dir / "binance" / f"{s}_USDT-1d.csv.gz") for s in ("BTC", "ETH")]
    assert cli(["sweep", "--data", files[0], "--data", files[1], "--grid", "fast=5:20:5", "--grid", "slow=30:90:30",
                "--out", str(tmp_path), "--jobs", "1"]) == 0
    rows = pd.read_csv(tmp_path / "results.csv")
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert sorted(rows["file"].unique()) == ["BTC_USDT-1d.csv.gz", "ETH_USDT-1d.csv.gz"] and len(rows) == 24
    assert len(summary) == 12 and summary["sharpe"].is_monotonic_decreasing
    for _, s in summary.iterrows():
        both = rows[(rows.fast == s.fast) & (rows.slow == s.slow)]["sharpe"]
        assert s.sharpe == pytest.approx(both.mean()) and s.sharpe_worst == pytest.approx(both.min())
    assert "most stable region" in capsys.readouterr().out and (tmp_path / "heatmap.png").exists()
