"""The optional compiled core (``make compiled``, :mod:`engine.compiled`, ADR 0015) runs the same
engine: built with mypyc into a copy of the package, its backtests give the pure-Python engine's
trades, events and equity curve, to the bit. The rest of the suite runs the pure-Python engine.

It also checks the guard against a stale build: a compiled module whose source changed since
refuses to load.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.compiled import MODULES, build, copy_sources
from engine.compiled_check import StaleCompiledCore, check_fresh

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
FUTURES = REPO / "tests" / "fixtures" / "futures"

SCRIPT = r"""
import json, sys
from decimal import Decimal as D
from pathlib import Path

import pandas as pd

from engine.backtest.engine import BacktestConfig, run_backtest
from engine.backtest.portfolio import Market, run_portfolio_backtest
from engine.compiled import compiled_modules
from engine.data import load_ohlcv
from engine.futures import FundingRates, LeverageTiers
from engine.risk.limits import RiskLimits
from engine.strategy import create

data, futures = Path(sys.argv[1]), Path(sys.argv[2])
FIELDS = ("symbol", "entry_ts_ms", "entry_price", "qty", "entry_fee", "entry_signal", "exit_ts_ms", "exit_price",
          "exit_fee", "exit_reason", "short", "funding")


def summary(result):
    return {"trades": [[str(getattr(t, k)) for k in FIELDS] for t in result.trades],
            "equity": [repr(x) for x in result.equity.tolist()],
            "events": [repr(e) for e in result.events]}


out = {"compiled": compiled_modules()}
btc, _ = load_ohlcv(data / "binance" / "BTC_USDT-1m.csv.gz")
limits = RiskLimits(stop_loss_pct=1, take_profit_pct=2, trailing_stop_pct=1.5, max_drawdown_pct=30, cooldown_candles=5)
out["spot"] = summary(run_backtest(btc, create("sma_cross"), BacktestConfig(
    symbol="BTC/USDT", timeframe="1m", stake="all", slippage_bps=D(5), limits=limits)))
xrp = pd.read_csv(futures / "XRP_USDT_USDT-5m-futures.csv.gz")
out["futures"] = summary(run_backtest(xrp, create("sma_cross", {"allow_short": True}), BacktestConfig(
    symbol="XRP/USDT", timeframe="5m", market="futures", leverage=D(20), stake="30%",
    funding=FundingRates.read_csv(futures / "XRP_USDT_USDT-8h-funding_rate.csv"),
    tiers=LeverageTiers.read_json(futures / "binance_leverage_tiers.json", "XRP/USDT"))))
eth, _ = load_ohlcv(data / "binance" / "ETH_USDT-1h.csv.gz")
btc_h, _ = load_ohlcv(data / "binance" / "BTC_USDT-1h.csv.gz")
out["portfolio"] = summary(run_portfolio_backtest(
    [Market(btc_h, create("ema_cross"), "BTC/USDT", "1h", "40%"), Market(eth, create("rsi_reversion"), "ETH/USDT", "1h",
                                                                           "40%")],
    BacktestConfig(timeframe="1h", limits=RiskLimits(max_open_positions=1))))
print(json.dumps(out))
"""


def _run(pythonpath: Path, data_dir: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(data_dir), str(FUTURES)], capture_output=True,
                          text=True, env=env, cwd=pythonpath, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def compiled_copy(tmp_path_factory) -> Path:
    """A copy of the engine package with the compiled core built in it (skipped where mypyc or a
    C compiler is missing: the core is optional)."""
    if importlib.util.find_spec("mypyc") is None or shutil.which(os.environ.get("CC", "cc")) is None:
        pytest.skip("the compiled core needs mypyc (pip install mypy) and a C compiler")
    root = copy_sources(tmp_path_factory.mktemp("native"), REPO)
    build(root)
    return root


def test_the_compiled_core_gives_the_pure_engines_trades_events_and_equity(compiled_copy, data_dir, tmp_path):
    pure_root = copy_sources(tmp_path / "pure", REPO)
    pure, compiled = _run(pure_root, data_dir), _run(compiled_copy, data_dir)
    assert pure.pop("compiled") == [] and compiled.pop("compiled") == list(MODULES)
    for case in ("spot", "futures", "portfolio"):
        assert len(pure[case]["trades"]) > 20, case  # each case trades enough to mean something
    assert any(t[10] == "True" for t in pure["futures"]["trades"]), "the futures case opens shorts"
    assert any("stop_loss" in t[9] or "take_profit" in t[9] for t in pure["spot"]["trades"])
    for case in ("spot", "futures", "portfolio"):
        for part in ("trades", "events", "equity"):
            assert compiled[case][part] == pure[case][part], f"{case} {part} differ"


def test_a_compiled_core_older_than_its_sources_refuses_to_load(compiled_copy, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(compiled_copy / "engine", root / "engine")
    check_fresh(root)  # as built: fresh
    runner = root / "engine" / "runner.py"
    runner.write_text(runner.read_text() + "\n# edited after the build\n")
    with pytest.raises(StaleCompiledCore, match=r"engine\.runner changed.*make compiled.*make pure"):
        check_fresh(root)
    (root / "engine" / "_native.json").unlink()
    with pytest.raises(StaleCompiledCore, match="without engine/_native.json"):
        check_fresh(root)
    proc = subprocess.run([sys.executable, "-c", "import engine"], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode != 0 and "StaleCompiledCore" in proc.stderr
