"""The bench never rots: a smoke run on tiny data (no timing assertions), and its checks."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from bench.__main__ import REPO_ROOT, measure
from bench.series import synthetic


def test_quick_bench_runs_every_installed_engine_and_they_agree(tmp_path, data_dir):
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={"QUANTD_TEST_DATA": str(data_dir), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    for engine in ("quantd event-driven", "quantd vectorised", "numpy loop"):
        assert f"| {engine} | synth-3000 | 3,000 |" in text
    assert "Machine:" in text


REF = [(1, 2, 100.0, 101.0, 0.5, 0.1005, 0.3995, 0), (3, 4, 102.0, 99.0, 0.25, 0.05025, -0.80025, 1)]


def _with(k: int, field: int, value) -> list:
    trades = [list(t) for t in REF]
    trades[k][field] = value
    return [tuple(t) for t in trades]


def test_a_diverging_engine_is_caught_before_any_speed_is_reported():
    from bench.__main__ import first_difference

    assert first_difference(_with(1, 3, 99.0 + 1e-12), REF) is None, "prices to 1e-9 relative"
    assert first_difference(_with(1, 6, -0.80025 + 1e-9), REF) is None, "pnl to 1e-9 of the notional (25.5)"
    assert "trade 1, exit time" in first_difference(_with(1, 1, 5), REF)
    assert "trade 0, entry price" in first_difference(_with(0, 2, 100.0001), REF)
    assert "trade 0, quantity" in first_difference(_with(0, 4, 0.5000001), REF)
    assert "trade 1, fees" in first_difference(_with(1, 5, 0.0503), REF)
    assert "trade 0, pnl" in first_difference(_with(0, 6, 0.3996), REF)
    assert "trade 1, end of data" in first_difference(_with(1, 7, 0), REF), "the end-of-data exit is compared"
    assert "1 trades vs quantd 2" in first_difference(REF[:1], REF)


def test_the_bench_exits_1_before_any_table_when_an_engine_differs(monkeypatch, capsys):
    import bench.__main__ as bench_main

    def fake_measure(engine: str, dataset: str, reps: int) -> dict:
        trades = REF if engine.startswith("quantd") else _with(0, 5, 0.2)  # a peer charging other fees
        return {"engine": engine, "dataset": dataset, "bars": 3000, "secs": [0.1], "peak_rss_mb": 50.0,
                "trades": trades}

    monkeypatch.setattr(bench_main, "measure", fake_measure)
    monkeypatch.setattr(bench_main.series, "prepare", lambda name, path: None)
    monkeypatch.setattr(bench_main, "quick_plan", lambda: [bench_main.Plan("synth-3000", (
        "quantd event-driven", "quantd vectorised", "numpy loop"), 1, {})])
    assert bench_main.main(["--quick"]) == 1
    out, err = capsys.readouterr()
    assert "numpy loop on synth-3000 does not match quantd's trades: trade 0, fees" in err
    assert "|" not in out, "no table is printed"


def test_worker_reports_trades_and_memory(data_dir, monkeypatch):
    monkeypatch.setenv("QUANTD_TEST_DATA", str(data_dir))
    row = measure("quantd vectorised", "synth-2000", 2)
    assert row["bars"] == 2000 and len(row["secs"]) == 2 and row["peak_rss_mb"] > 10
    assert len(row["trades"]) > 10


def test_synthetic_series_is_deterministic_valid_and_starts_on_the_real_candle(data_dir, monkeypatch):
    monkeypatch.setenv("QUANTD_TEST_DATA", str(data_dir))
    a, b = synthetic(50_000), synthetic(50_000)
    assert a.equals(b)
    assert (a["high"] >= a[["open", "close"]].max(axis=1)).all()
    assert (a["low"] <= a[["open", "close"]].min(axis=1)).all()
    assert np.all(np.diff(a["timestamp"].to_numpy()) == 60_000)
    assert a["open"].iloc[0] == 56738.76 and a["timestamp"].iloc[0] == 1618951320000  # real BTC/USDT 1m
    assert 10_000 < a["close"].min() and a["close"].max() < 500_000
