"""What a new user compares first in a backtest (issue 24): buy-and-hold on the same candles, the
trades by exit reason and entry signal, holding times, best and worst trade, the longest drawdown;
each figure once in ``--json`` with its unit in the key; CSVs and the HTML page a person reads."""

from __future__ import annotations

import csv
import json
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from engine.backtest.analysis import breakdown, buy_and_hold, duration, longest_drawdown_ms, trade_figures
from engine.backtest.engine import BacktestConfig, run_backtest
from engine.backtest.trades import Trade, money_text
from engine.data import load_ohlcv
from engine.strategy import create
from tests.cli_helpers import quantd


@pytest.fixture(scope="module")
def btc_1h(data_dir):
    df, _ = load_ohlcv(data_dir / "binance/BTC_USDT-1h.csv.gz", start_ms=1_609_459_200_000,
                       end_ms=1_625_097_600_000)  # 2021-01-01 .. 2021-07-01
    return df


def test_buy_and_hold_is_first_open_to_last_close_with_a_fee_each_way(btc_1h):
    bench = buy_and_hold([btc_1h], btc_1h["timestamp"].to_numpy(), 10_000.0, 0.001)
    first_open, last_close = float(btc_1h["open"].iloc[0]), float(btc_1h["close"].iloc[-1])
    by_hand = (10_000 * 0.999 / first_open * last_close * 0.999 / 10_000 - 1) * 100
    assert bench.return_pct == pytest.approx(by_hand, rel=1e-12)
    closes = btc_1h["close"].to_numpy(dtype=float)
    curve = np.concatenate(([10_000.0], 10_000 * 0.999 / first_open * closes))
    peaks = np.maximum.accumulate(curve)
    assert bench.max_drawdown_pct == pytest.approx(float(np.max(1 - curve / peaks)) * 100, rel=1e-12)
    assert bench.max_drawdown_pct > 40  # the May 2021 crash: BTC fell about half from its April top


def test_longest_drawdown_runs_from_the_peak_to_the_recovery_or_the_end():
    ts = np.array([0, 1, 2, 3, 4, 5, 6]) * 3_600_000
    assert longest_drawdown_ms(ts, np.array([10, 12, 11, 9, 12.5, 12, 13])) == 3 * 3_600_000  # 12 at 1h, back at 4h
    assert longest_drawdown_ms(ts, np.array([10, 12, 11, 9, 12.5, 12, 11])) == 3 * 3_600_000
    assert longest_drawdown_ms(ts, np.array([10, 13, 11, 9, 10, 11, 12])) == 5 * 3_600_000  # never recovered


def test_breakdowns_holding_times_and_extremes_from_trades_by_hand():
    def trade(entry_h, exit_h, entry, exit_, reason, signal):
        t = Trade("BTC/USDT", entry_h * 3_600_000, Decimal(entry), Decimal("1"), Decimal("0"), signal)
        t.exit_ts_ms, t.exit_price, t.exit_reason = exit_h * 3_600_000, Decimal(exit_), reason
        return t

    trades = [trade(0, 2, "100", "110", "signal", "buy_a"), trade(3, 4, "100", "95", "stop_loss", "buy_a"),
              trade(5, 11, "100", "120", "signal", "buy_b")]
    by_exit = breakdown(trades, "exit_reason")
    assert by_exit[0] == {"exit_reason": "signal", "trades": 2, "win_rate_pct": 100.0, "pnl_quote": 30.0,
                          "mean_return_pct": 15.0, "mean_holding_s": 4 * 3600.0}
    assert by_exit[1]["exit_reason"] == "stop_loss" and by_exit[1]["pnl_quote"] == -5.0
    assert [r["entry_signal"] for r in breakdown(trades, "entry_signal")] == ["buy_a", "buy_b"]
    figures = trade_figures(trades)
    assert figures["mean_holding_s"] == 3 * 3600.0 and figures["median_holding_s"] == 2 * 3600.0
    assert (figures["best_trade_pct"], figures["worst_trade_pct"]) == (20.0, -5.0)
    assert (figures["best_trade_quote"], figures["worst_trade_quote"]) == (20.0, -5.0)
    assert trade_figures([])["best_trade_pct"] is None
    assert [duration(s) for s in (40, 720, 19_200, 273_600)] == ["40s", "12m", "5h 20m", "3d 4h"]


def test_money_in_csv_has_no_25_digit_tails():
    product = Decimal("0.517880868339") * Decimal("19290.17") * Decimal("0.001")
    assert len(str(product).split(".")[1]) > 12  # the raw product, as the old trades.csv printed it
    assert money_text(product) == "9.99000999"
    assert money_text(Decimal("-0.0000123456789")) == "-0.000012345679"  # 8 significant digits
    assert money_text(Decimal("22235.0934651299")) == "22235.09346513"
    assert money_text(Decimal("0")) == "0"


def test_json_names_each_figure_once_with_its_unit(data_dir, tmp_path):
    r = quantd("backtest", "--strategy", "rsi_reversion", "--data", str(data_dir / "binance/BTC_USDT-1h.csv.gz"),
               "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert "metrics" not in out and "n_trades" not in out, "each figure once, not at the top and under metrics"
    assert out["schema"] == "quantd.backtest/2"
    assert {"buy_and_hold_return_pct", "buy_and_hold_max_drawdown_pct", "mean_holding_s", "median_holding_s",
            "best_trade_pct", "worst_trade_pct", "longest_drawdown_s"} <= set(out)
    assert sum(g["trades"] for g in out["by_exit_reason"]) == out["trades"]
    assert sum(g["trades"] for g in out["by_entry_signal"]) == out["trades"]
    assert sum(g["pnl_quote"] for g in out["by_exit_reason"]) == pytest.approx(out["final_equity_quote"] - 10_000,
                                                                                 abs=1e-6)
    assert out["risk"]["rejections"]["signal_sanity"] > 0


def test_table_explains_signal_sanity_and_shows_buy_and_hold(data_dir, tmp_path):
    r = quantd("backtest", "--strategy", "rsi_reversion", "--data", str(data_dir / "binance/BTC_USDT-1h.csv.gz"),
               cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("rejected by signal_sanity"))
    assert "repeated BUY: position already open" in line and "nothing was traded" in line
    assert "buy and hold return" in r.stdout and "mean holding time" in r.stdout
    assert "exit reason" in r.stdout and "end_of_data" in r.stdout


def test_report_files_a_person_reads(data_dir, tmp_path):
    from tests.cli_helpers import clean_env

    out = tmp_path / "rep"
    fresh = clean_env(MPLCONFIGDIR=str(tmp_path / "mpl"))  # a new font cache, as on a new machine's first report
    r = quantd("backtest", "--data", str(data_dir / "binance/ETH_USDT-1h.csv.gz"), "--from", "2021-01-01",
               "--to", "2022-01-01", "--report", str(out), cwd=tmp_path, env=fresh)
    assert r.returncode == 0, r.stderr
    header = next(csv.reader((out / "monthly_returns.csv").open()))
    assert header.count("year") == 1 and header[-1] == "total"
    for row in csv.DictReader((out / "trades.csv").open()):
        for key in ("fees", "pnl"):
            assert len(row[key].split(".")[-1]) <= 12, row[key]
    page = (out / "report.html").read_text()
    assert "n_trades" not in page and "total_return_pct" not in page, "labels, not raw keys"
    assert "buy and hold return" in page and " %</td>" in page and "USDT</td>" in page
    assert "<th>Jan</th>" in page and page.count("<thead>") >= 1
    monthly = page.split("<h2>Monthly returns</h2>")[1].split("</table>")[0]
    assert monthly.count("<tr") == 2, "one header row and the year 2021: no extra pandas header row"
    equity = pd.read_csv(out / "equity.csv")
    assert list(equity.columns) == ["time", "equity", "buy_and_hold"]
    assert "matplotlib" not in r.stderr and "fontManager" not in r.stderr


def test_to_before_from_names_both_ends(tmp_path):
    r = quantd("backtest", "--from", "2021-05-01", "--to", "2021-01-01", cwd=tmp_path)
    assert r.returncode == 2
    assert "--to 2021-01-01 is not after --from 2021-05-01" in r.stderr


def test_a_long_backtest_shows_progress_on_stderr_only_when_asked(data_dir, tmp_path):
    from tests.cli_helpers import clean_env

    path = str(data_dir / "binance/BTC_USDT-1m.csv.gz")
    shown = quantd("backtest", "--data", path, "--json", cwd=tmp_path, env=clean_env(QUANTD_PROGRESS="1"))
    assert shown.returncode == 0, shown.stderr
    assert "candle" in shown.stderr and "%|" in shown.stderr
    json.loads(shown.stdout)  # stdout stays one JSON object
    quiet = quantd("backtest", "--data", path, "--json", "--quiet", cwd=tmp_path, env=clean_env(QUANTD_PROGRESS="1"))
    assert "%|" not in quiet.stderr


def test_the_same_figures_from_the_engine_and_the_cli(btc_1h):
    result = run_backtest(btc_1h, create("sma_cross", {}), BacktestConfig(symbol="BTC/USDT", timeframe="1h"))
    figures = trade_figures(result.trades)
    pcts = [float(t.pnl) / float(t.qty * t.entry_price + t.entry_fee) * 100 for t in result.trades]
    assert figures["best_trade_pct"] == pytest.approx(max(pcts)) and figures["worst_trade_pct"] == pytest.approx(min(pcts))


def test_portfolio_buy_and_hold_splits_the_cash_over_the_markets(tmp_path):
    from pathlib import Path

    from gateways import sample_path

    example = Path(__file__).parents[1] / "deploy/examples/multi-market.yaml"
    r = quantd("backtest", "--config", str(example), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    final = 0.0
    for name in ("BTC_USDT-5m.csv.gz", "ETH_USDT-5m.csv.gz"):
        df = pd.read_csv(sample_path(name))
        final += 5_000 * 0.999 / float(df["open"].iloc[0]) * float(df["close"].iloc[-1]) * 0.999
    assert out["buy_and_hold_return_pct"] == pytest.approx((final / 10_000 - 1) * 100, rel=1e-12)
    assert 0 < out["buy_and_hold_max_drawdown_pct"] < 100
