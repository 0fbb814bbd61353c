"""The bench never rots: a smoke run on tiny data (no timing assertions), and its checks."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from bench.__main__ import REPO_ROOT, first_difference, measure
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


def test_a_diverging_engine_is_caught_before_any_speed_is_reported():
    ref = [(1, 2, 100.0, 101.0), (3, 4, 102.0, 99.0)]
    assert first_difference([(1, 2, 100.0, 101.0), (3, 4, 102.0, 99.0 + 1e-12)], ref) is None
    assert "trade 1" in first_difference([(1, 2, 100.0, 101.0), (3, 5, 102.0, 99.0)], ref)
    assert "trade 0" in first_difference([(1, 2, 100.0001, 101.0), (3, 4, 102.0, 99.0)], ref)
    assert "1 trades vs quantd 2" in first_difference(ref[:1], ref)


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
