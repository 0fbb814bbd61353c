"""Portfolio backtests (several markets on one account), the cost models (volatility and
volume slippage, latency) and the report, on real Binance candles."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.backtest_cmd import config_markets
from bot.config import load_settings
from engine.backtest.engine import BacktestConfig, run_backtest
from engine.backtest.portfolio import Market, run_portfolio_backtest
from engine.backtest.report import monthly_returns
from engine.backtest.trades import END_OF_DATA
from engine.data import load_ohlcv
from engine.errors import ConfigError
from engine.risk.limits import RiskLimits
from engine.strategy import create
from tests.cli_helpers import quantd, short_sample
from tests.daemon_helpers import replay_in_process
from tests.db_helpers import rows

EXAMPLE = Path(__file__).parents[1] / "deploy/examples/multi-market.yaml"
TOL = Decimal("1e-9")


def _fills_of(trades) -> list[tuple]:
    """(symbol, side, fill time ms, price, qty) of every fill a trade list implies, end-of-data exits left out."""
    out = []
    for t in trades:
        out.append((t.symbol, "buy", t.entry_ts_ms, t.entry_price, t.qty))
        if t.exit_reason != END_OF_DATA:
            out.append((t.symbol, "sell", t.exit_ts_ms, t.exit_price, t.qty))
    return sorted(out)


def test_the_portfolio_backtest_makes_the_paper_daemons_fills_on_the_same_candles(tmp_path):
    """deploy/examples/multi-market.yaml on the first 1,200 candles of each bundled sample: the
    paper daemon (in process) and the portfolio backtest share runner, OMS, risk and simulator,
    so their fills are the same, one by one; the backtest only adds its end-of-data exits.
    (The whole samples give 186 fills each way; shorter here for the suite's time.)"""
    settings = load_settings(EXAMPLE, store={"url": f"sqlite:///{tmp_path / 'q.sqlite'}"})
    for m in settings.markets():
        m.data = short_sample(tmp_path, 1200, f"{m.symbol.replace('/', '_')}-5m.csv.gz")
    done = replay_in_process(settings)
    daemon = sorted((symbol, side, ts, Decimal(price), Decimal(qty)) for symbol, side, ts, price, qty in
                    rows(tmp_path / "q.sqlite", "select symbol, side, ts_ms, price, qty from fills"))
    p = settings.paper
    result = run_portfolio_backtest(config_markets(settings)[0], BacktestConfig(cash=p.cash, fee_rate=p.fee,
                                                                      slippage_bps=p.slippage_bps, limits=settings.risk))
    backtest = _fills_of(result.trades)
    assert done == 2400 and len(daemon) > 40 and {f[0] for f in daemon} == {"BTC/USDT", "ETH/USDT"}
    assert backtest == daemon
    still_open = {sym for sym in ("BTC/USDT", "ETH/USDT")
                  if sum(1 if f[1] == "buy" else -1 for f in daemon if f[0] == sym) == 1}
    assert sorted(t.symbol for t in result.trades if t.exit_reason == END_OF_DATA) == sorted(still_open)


def test_a_one_market_portfolio_is_the_single_market_backtest(data_dir):
    df, _ = load_ohlcv(data_dir / "binance/ETH_USDT-1h.csv.gz")
    df = df.iloc[:8000]
    config = BacktestConfig(symbol="ETH/USDT", timeframe="1h", slippage_bps=Decimal(3), stake="50%")
    single = run_backtest(df, create("ema_cross"), config)
    both = run_portfolio_backtest([Market(df, create("ema_cross"), "ETH/USDT", "1h", "50%")], config)
    assert [(t.entry_ts_ms, t.entry_price, t.exit_ts_ms, t.exit_price, t.qty) for t in single.trades] == \
           [(t.entry_ts_ms, t.entry_price, t.exit_ts_ms, t.exit_price, t.qty) for t in both.trades]
    assert both.metrics.final_equity == pytest.approx(single.metrics.final_equity, rel=1e-12)


def test_portfolio_limits_see_every_market(data_dir):
    """max_open_positions=1 across BTC and ETH 1h: never two positions at once."""
    markets = [Market(load_ohlcv(data_dir / f"binance/{s}_USDT-1h.csv.gz")[0].iloc[:6000], create("sma_cross"),
                      f"{s}/USDT", "1h", "4000") for s in ("BTC", "ETH")]
    result = run_portfolio_backtest(markets, BacktestConfig(limits=RiskLimits(max_open_positions=1)))
    spans = sorted((t.entry_ts_ms, t.exit_ts_ms) for t in result.trades)
    assert len(spans) > 50 and {t.symbol for t in result.trades} == {"BTC/USDT", "ETH/USDT"}
    assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:]))
    assert result.rejections["max_open_positions"] > 0


def test_portfolio_config_errors_name_the_market(data_dir):
    df = load_ohlcv(data_dir / "binance/ETH_BTC-1h.csv.gz")[0]
    with pytest.raises(ConfigError, match="one quote currency"):
        run_portfolio_backtest([Market(df, create("sma_cross"), "ETH/BTC", "1h"),
                                Market(df, create("sma_cross"), "ETH/USDT", "1h")], BacktestConfig())
    with pytest.raises(ConfigError, match="markets.1.symbol: ETH/BTC is already traded by markets.0"):
        run_portfolio_backtest([Market(df, create("sma_cross"), "ETH/BTC", "1h"),
                                Market(df, create("rsi_reversion"), "ETH/BTC", "1h")], BacktestConfig())


def test_latency_fills_n_candles_later_and_costs_use_only_the_previous_candle(data_dir):
    """Each fill of a latency-N run is at the open N+1 candles after the signal; the range
    and impact slippage are computed from the candle just before the fill, by hand here."""
    df, _ = load_ohlcv(data_dir / "binance/BTC_USDT-1h.csv.gz")
    df = df.iloc[:5000].reset_index(drop=True)
    base = BacktestConfig(fee_rate=Decimal(0), stake="1000")
    plain = run_backtest(df, create("sma_cross"), base)
    late = run_backtest(df, create("sma_cross"), BacktestConfig(fee_rate=Decimal(0), stake="1000", latency_candles=2))
    index = {int(ts): i for i, ts in enumerate(df["timestamp"])}
    signal_rows = [index[t.entry_ts_ms] - 1 for t in plain.trades[:20]]  # the plain run fills at signal + 1
    late_entries = {index[t.entry_ts_ms] for t in late.trades}
    assert {i + 3 for i in signal_rows[:1]} <= late_entries  # the first signal fills 2 candles later
    for t in late.trades[:30]:
        assert t.entry_price == Decimal(repr(float(df["open"][index[t.entry_ts_ms]])))

    costly = BacktestConfig(fee_rate=Decimal(0), stake="1000", slippage_range_frac=Decimal("0.2"), impact_k=Decimal("0.5"))
    result = run_backtest(df, create("sma_cross"), costly)
    for t in result.trades[:30]:
        i = index[t.entry_ts_ms]
        prev = df.iloc[i - 1]
        slip = 0.2 * (prev.high - prev.low) / prev.close + min(0.5 * np.sqrt(1000 / (prev.volume * prev.close)), 0.1)
        assert float(t.entry_price) == pytest.approx(df["open"][i] * (1 + slip), rel=1e-9)
    assert result.metrics.final_equity < plain.metrics.final_equity


def test_vectorised_runs_refuse_the_cost_models(data_dir, tmp_path):
    r = quantd("backtest", "--vectorized", "--latency-candles", "1", "--data",
               str(data_dir / "binance/BTC_USDT-1d.csv.gz"), cwd=tmp_path)
    assert r.returncode == 2 and "--latency-candles" in r.stderr and "Traceback" not in r.stderr


def test_monthly_returns_compound_to_the_total_return(data_dir):
    df, _ = load_ohlcv(data_dir / "binance/BTC_USDT-1d.csv.gz")
    result = run_backtest(df, create("sma_cross"), BacktestConfig(symbol="BTC/USDT", timeframe="1d"))
    table = monthly_returns(result.timestamps, result.equity, 10_000.0)
    assert list(table.index) == [2020, 2021, 2022] and np.isnan(table.loc[2022, 7])
    total = np.prod(1 + table["total"].to_numpy() / 100) - 1
    assert total * 100 == pytest.approx(result.metrics.total_return_pct, rel=1e-9)
    jan = pd.Timestamp("2020-01-31", tz="UTC").value // 10**6
    assert table.loc[2020, 1] == pytest.approx((result.equity[result.timestamps == jan][0] / 10_000 - 1) * 100)


def test_backtest_report_writes_every_file_and_one_self_contained_page(data_dir, tmp_path):
    out = tmp_path / "rep"
    r = quantd("backtest", "--config", str(EXAMPLE), "--report", str(out), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert {p.name for p in out.iterdir()} == {"metrics.json", "trades.csv", "equity.csv", "equity.png",
                                               "monthly_returns.csv", "report.html"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["trades"] == json.loads(r.stdout)["trades"] == 94
    assert metrics["costs"]["slippage_bps"] == "5"  # the config's paper section
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and "Monthly returns" in page and "src=\"http" not in page
    assert (out / "equity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    trades = pd.read_csv(out / "trades.csv")
    assert len(trades) == 94 and set(trades["symbol"]) == {"BTC/USDT", "ETH/USDT"}


def test_unwritable_outputs_fail_before_the_backtest_with_one_line(tmp_path, capsys):
    from bot.cli import main as cli

    assert cli(["backtest", "--report", "/proc/no/such"]) == 2
    assert cli(["backtest", "--trades-out", str(tmp_path / "missing" / "t.csv")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["quantd backtest: error: --report /proc/no/such: cannot create the folder: No such file or directory",
                   f"quantd backtest: error: --trades-out {tmp_path / 'missing' / 't.csv'}: the folder "
                   f"{tmp_path / 'missing'} does not exist or is not writable"]
    assert cli(["backtest", "--latency-candles", "-1"]) == 2
    assert "--latency-candles -1: a number of candles, 0 or more" in capsys.readouterr().err
