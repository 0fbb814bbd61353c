"""Walk-forward: parameters chosen in-sample only, out-of-sample equity stitched, report written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bot.cli import main as cli
from engine.backtest.engine import BacktestConfig
from engine.backtest.sweep import expand
from engine.backtest.walkforward import run_walkforward, splits
from engine.data import load_ohlcv
from engine.errors import ConfigError

GRID = {"fast": [5, 10, 20], "slow": [40, 100]}


@pytest.fixture(scope="module")
def btc_1h(data_dir):
    df, _ = load_ohlcv(data_dir / "binance" / "BTC_USDT-1h.csv.gz")
    return df


def test_splits_rolling_and_anchored():
    rolling = splits(100, windows=3, train=40, test=20, anchored=False)
    assert [(s.is_start, s.is_end, s.oos_start, s.oos_end) for s in rolling] == \
        [(0, 40, 40, 60), (20, 60, 60, 80), (40, 80, 80, 100)]
    anchored = splits(100, windows=3, train=40, test=20, anchored=True)
    assert [(s.is_start, s.is_end) for s in anchored] == [(0, 40), (0, 60), (0, 80)]
    with pytest.raises(ConfigError, match="needs 140 candles .* but the data has 100"):
        splits(100, windows=5, train=40, test=20)


def test_choice_uses_in_sample_candles_only(btc_1h):
    """Rewriting every candle after window 1's in-sample end cannot change its choice."""
    sets, _ = expand("sma_cross", GRID)
    config = BacktestConfig(symbol="BTC/USDT", timeframe="1h")
    kw = dict(windows=3, train=6000, test=2000, jobs=1)
    base = run_walkforward(btc_1h, "sma_cross", sets, config, **kw)
    first = base.windows[0].split
    changed = btc_1h.copy()
    tail = slice(first.is_end, None)
    for col in ("open", "high", "low", "close"):
        changed.loc[changed.index[tail], col] = changed[col].to_numpy()[tail][::-1]  # the future, reversed
    other = run_walkforward(changed, "sma_cross", sets, config, **kw)
    assert other.windows[0].params == base.windows[0].params
    assert other.windows[0].is_metrics == base.windows[0].is_metrics
    assert not np.allclose(other.equity, base.equity), "the out-of-sample candles did change"


def test_stitched_equity_compounds_window_to_window(btc_1h):
    sets, _ = expand("sma_cross", GRID)
    config = BacktestConfig(symbol="BTC/USDT", timeframe="1h", cash=10_000)
    result = run_walkforward(btc_1h, "sma_cross", sets, config, windows=4, train=5000, test=2500, jobs=1)
    assert len(result.equity) == 4 * 2500 == len(result.timestamps)
    assert result.timestamps[0] == btc_1h["timestamp"].iat[len(btc_1h) - 10_000]
    ends = np.cumsum([2500] * 4) - 1
    start = 10_000.0
    for w, end in zip(result.windows, ends):
        assert w.oos_metrics.total_return_pct == pytest.approx((result.equity[end] / start - 1) * 100, rel=1e-9)
        start = result.equity[end]
    assert result.metrics.n_trades == sum(w.oos_metrics.n_trades for w in result.windows) > 0
    assert result.metrics.final_equity == pytest.approx(result.equity[-1], rel=1e-12)
    mean_is = np.mean([w.is_metrics["cagr_pct"] for w in result.windows])
    mean_oos = np.mean([w.oos_metrics.cagr_pct for w in result.windows])
    assert result.efficiency == pytest.approx(mean_oos / mean_is)


def test_event_driven_and_vectorised_walk_forward_agree(btc_1h):
    sets, _ = expand("sma_cross", {"fast": [5, 10], "slow": [40, 100]})
    config = BacktestConfig(symbol="BTC/USDT", timeframe="1h")
    kw = dict(windows=2, train=3000, test=1500, jobs=1)
    vec = run_walkforward(btc_1h, "sma_cross", sets, config, vectorized=True, **kw)
    event = run_walkforward(btc_1h, "sma_cross", sets, config, vectorized=False, **kw)
    assert [w.params for w in vec.windows] == [w.params for w in event.windows]
    np.testing.assert_allclose(event.equity, vec.equity, rtol=1e-9)
    assert event.metrics.n_trades == vec.metrics.n_trades


def test_cli_walkforward_writes_its_report(data_dir, tmp_path, capsys):
    out = tmp_path / "wf"
    assert cli(["walkforward", "--strategy", "sma_cross", "--data",
                str(data_dir / "binance" / "BTC_USDT-1h.csv.gz"), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["strategy"] == "sma_cross" and summary["engine"] == "vectorized"
    assert len(summary["windows"]) == 5 and summary["sets_per_window"] == 30  # the declared search_space
    assert {"param_fast", "param_slow", "oos_sharpe", "is_sharpe", "efficiency"} <= set(summary["windows"][0])
    assert {p.name for p in out.iterdir()} == {"report.json", "windows.csv", "equity.csv", "equity.png"}
    assert (out / "equity.png").read_bytes()[:4] == b"\x89PNG"
    equity = (out / "equity.csv").read_text().splitlines()
    assert equity[0] == "time,equity" and len(equity) == 1 + 5 * (42_824 // 9)


def test_cli_walkforward_bad_input(capsys):
    assert cli(["walkforward", "--windows", "500", "--test", "1000"]) == 2
    assert "walk-forward needs" in capsys.readouterr().err
    assert cli(["walkforward", "--grid", "fast=50", "--grid", "slow=10"]) == 2
    assert "no valid parameter set" in capsys.readouterr().err
