"""``quantd backtest`` and bad input through the real console script."""

from __future__ import annotations

import csv
import json

import pytest

from tests.cli_helpers import clean_env, quantd
from tests.conftest import real_lines

JSON_KEYS = {"trades", "final_equity_quote", "total_return_pct", "max_drawdown_pct", "sharpe", "sortino",
             "win_rate_pct", "exposure_pct", "fees_paid_quote", "buy_and_hold_return_pct", "by_exit_reason"}


def test_backtest_json_and_trades_csv_on_real_btc_1h(data_dir, tmp_path):
    out = tmp_path / "trades.csv"
    r = quantd("backtest", "--strategy", "sma_cross", "--param", "fast=10", "--param", "slow=30", "--data",
               str(data_dir / "binance/BTC_USDT-1h.csv.gz"), "--json", "--trades-out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    metrics = json.loads(r.stdout)
    assert JSON_KEYS <= set(metrics)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == metrics["trades"] > 100
    assert list(rows[0])[:8] == ["entry_time", "entry_price", "exit_time", "exit_price", "qty", "fees", "pnl",
                                 "exit_reason"]
    assert rows[0]["entry_time"].endswith("Z") and rows[0]["entry_time"] < rows[0]["exit_time"]
    total_pnl = sum(float(row["pnl"]) for row in rows)
    assert metrics["final_equity_quote"] == pytest.approx(10_000 + total_pnl, rel=1e-9)


def test_backtest_table_with_range_fee_and_slippage(data_dir, tmp_path):
    r = quantd("backtest", "--data", str(data_dir / "binance/ETH_USDT-1h.csv.gz"), "--from", "2021-01-01",
               "--to", "2021-07-01T00:00Z", "--fee", "0.00075", "--slippage-bps", "3", "--stake", "1000",
               cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "ETH/USDT 1h" in r.stdout and "2021-01-01T00:00:00Z .. 2021-06-30T23:00:00Z" in r.stdout
    assert "Sharpe" in r.stdout and "max drawdown" in r.stdout


def test_backtest_defaults_to_the_bundled_sample(tmp_path):
    r = quantd("backtest", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["trades"] > 10


def _assert_one_line_error(r, *fragments):
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_bad_params_unknown_strategy_and_corrupt_row_give_one_line_errors(data_dir, tmp_path):
    data = str(data_dir / "binance/BTC_USDT-1h.csv.gz")
    _assert_one_line_error(quantd("backtest", "--param", "fast=50", "--param", "slow=10", "--data", data,
                                  cwd=tmp_path), "fast (50) must be smaller than slow (10)")
    _assert_one_line_error(quantd("backtest", "--strategy", "macd_magic", "--data", data, cwd=tmp_path),
                           "unknown strategy 'macd_magic'")
    _assert_one_line_error(quantd("backtest", "--param", "fast", cwd=tmp_path), "expected KEY=VALUE")
    _assert_one_line_error(quantd("backtest", "--fee", "abc", cwd=tmp_path), "--fee 'abc': not a number")
    _assert_one_line_error(quantd("backtest", "--from", "yesterday", cwd=tmp_path), "--from 'yesterday'")
    lines = real_lines(data_dir / "binance/BTC_USDT-1h.csv.gz", 100)
    lines[42] = lines[42].replace(",", ",oops", 1)
    bad = tmp_path / "BTC_USDT-1h.csv"
    bad.write_text("\n".join(lines) + "\n")
    _assert_one_line_error(quantd("backtest", "--data", str(bad), cwd=tmp_path), "line 43", "'open'", "oops")
    _assert_one_line_error(quantd("backtest", "--nope", cwd=tmp_path), "unrecognized arguments")


@pytest.mark.parametrize("env, fragment", [
    ({"QUANTD_REPLAY__SPEED": "-1"}, "replay.speed (QUANTD_REPLAY__SPEED)"),
    ({"QUANTD_PAPER__FEE": "lots"}, "paper.fee (QUANTD_PAPER__FEE)"),
    ({"QUANTD_MODE": "yolo"}, "mode (QUANTD_MODE)"),
    ({"QUANTD_STRATEGY__PARAMS": '{"fast": 50, "slow": 10}'}, "fast (50) must be smaller than slow (10)"),
])
def test_bad_env_value_stops_run_before_anything_starts(tmp_path, env, fragment):
    r = quantd("run", cwd=tmp_path, env=clean_env(**env), timeout=60)
    _assert_one_line_error(r, fragment)
    assert not (tmp_path / "var").exists(), "nothing may be created before the config is valid"


def test_bad_yaml_config_names_the_field(tmp_path):
    cfg = tmp_path / "quantd.yaml"
    cfg.write_text("strategy:\n  timeframe: 5m\npaper:\n  cash: -5\n")
    _assert_one_line_error(quantd("run", "--config", str(cfg), cwd=tmp_path), "paper.cash")
    cfg.write_text("paper: [unclosed\n")
    _assert_one_line_error(quantd("run", "--config", str(cfg), cwd=tmp_path), "not valid YAML")


def test_status_without_a_store_explains(tmp_path):
    _assert_one_line_error(quantd("status", cwd=tmp_path), "no store at var/quantd.sqlite")


def test_alert_lines_for_fills_rejections_and_the_breaker(caplog):
    import logging

    from bot.alerts import format_event, log_alert
    from engine.events import BreakerTripped, OrderFilled, RiskDecided

    fill = OrderFilled(0, "qd-sma_cross-1", "BTC/USDT", "buy", "0.51754", "19188.00", "9.93", "filled")
    assert format_event(fill) == ("FILL BUY 0.51754 BTC @ 19,188.00 USDT (notional 9,930.56, fee 9.93 USDT) "
                                  "order qd-sma_cross-1 filled")
    base_fee = OrderFilled(0, "qd-sma_cross-1", "BTC/USDT", "buy", "0.00176", "56647.39", "0.00000176", "filled", "BTC")
    assert "fee 0.00000176 BTC)" in format_event(base_fee)
    for price, shown in (("1.0793", "1.0793"), ("590.120", "590.12"), ("0.5", "0.50"), ("0.000123456789", "0.000123457"),
                         ("999.9996", "1,000.00")):
        xrp = OrderFilled(0, "qd-sma_cross-2", "XRP/USDT", "sell", "556.1", price, "0.3", "filled")
        assert f"XRP @ {shown} USDT" in format_event(xrp), "a sub-dollar price keeps its ticks"
    trip = BreakerTripped(0, "halted", "max_drawdown: drawdown 25.3%", "max_drawdown", 31923.66)
    assert format_event(trip).startswith("CIRCUIT BREAKER HALTED at equity 31,923.66: max_drawdown")
    caplog.set_level(logging.INFO, logger="quantd.alerts")
    for rule in ("signal_sanity", "max_order_notional"):
        log_alert(RiskDecided(0, "reject", rule, "why", 0.0, 0.0, "s", "BTC/USDT", "buy", "1", "0"))
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "RISK REJECTED buy BTC/USDT (s): signal_sanity: why"),
        ("WARNING", "RISK REJECTED buy BTC/USDT (s): max_order_notional: why")]
