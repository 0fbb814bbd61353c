"""The first hour of a new user (issue 24): strategies and their parameters can be listed, a
strategy of one's own registered with ``@register`` is found by name, and every typo or bad
range gets a sentence that says how to fix it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main as cli
from engine.errors import StrategyError
from engine.strategy import create
from tests.cli_helpers import quantd

EXAMPLE = Path(__file__).parents[1] / "examples" / "my_strategy.py"


def test_strategies_lists_every_builtin_with_defaults_and_a_summary(capsys):
    assert cli(["strategies"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert {"sma_cross", "rsi_reversion", "donchian_breakout", "macd_trend"} <= set(lines)
    assert "fast=10, slow=30" in lines["sma_cross"] and "Moving-average crossover" in lines["sma_cross"]


def test_one_strategy_shows_types_defaults_ranges_and_its_docstring(capsys):
    assert cli(["strategies", "rsi_reversion", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    period = next(p for p in info["params"] if p["name"] == "period")
    assert period == {"name": "period", "type": "int", "default": 14, "range": "from 1 to 1000",
                      "description": "RSI period, candles"}
    assert next(p for p in info["params"] if p["name"] == "lower")["range"] == "above 0 and below 100"
    assert "signal_sanity" in info["description"] and info["vectorized"] is True
    assert cli(["strategies", "sma_cross"]) == 0
    text = capsys.readouterr().out
    assert "fast int default 10 from 1 to 1000 fast SMA period, candles" in " ".join(text.split())  # columns
    assert "allow_short bool default False" in " ".join(text.split())
    assert "try: quantd backtest --strategy sma_cross --param fast=10 --param slow=30" in text


def test_a_registered_strategy_of_ones_own_is_found_by_name_from_its_module(tmp_path):
    unknown = quantd("backtest", "--strategy", "rising_closes", cwd=tmp_path)
    assert unknown.returncode == 2 and "--strategy-module" in unknown.stderr
    listed = quantd("strategies", "--strategy-module", str(EXAMPLE), cwd=tmp_path)
    assert listed.returncode == 0 and "rising_closes" in listed.stdout
    r = quantd("backtest", "--strategy-module", str(EXAMPLE), "--strategy", "rising_closes", "--param", "run=4",
               "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["strategy"] == "rising_closes(run=4)" and out["trades"] > 10


def test_the_example_runs_from_a_daemon_config_and_a_sweep(tmp_path, capsys):
    config = tmp_path / "mine.yaml"
    config.write_text(f"strategy:\n  module: {EXAMPLE}\n  name: rising_closes\n  params: {{run: 4}}\n")
    from bot.config import load_settings

    assert load_settings(config).strategy.name == "rising_closes"
    assert cli(["sweep", "--strategy-module", str(EXAMPLE), "--strategy", "rising_closes", "--jobs", "1"]) == 0
    assert "5 backtests in" in capsys.readouterr().out  # its declared search_space
    bad = tmp_path / "bad.yaml"
    bad.write_text("strategy:\n  module: no_such_module_xyz\n  name: rising_closes\n")
    with pytest.raises(Exception, match="invalid setting strategy.module: strategy module 'no_such_module_xyz' "
                                        "cannot be imported: ModuleNotFoundError"):
        load_settings(bad)


@pytest.mark.parametrize("yaml_text, fragment", [
    ("strategy:\n  symbl: BTC/USDT\n", "invalid setting strategy.symbl (QUANTD_STRATEGY__SYMBL): unknown key 'symbl' "
                                       "(did you mean 'symbol'?); valid keys: amount_step, data,"),
    ("modee: paper\n", "unknown key 'modee' (did you mean 'mode'?)"),
    ("risk:\n  max_drawdown_pct: 500\n", "invalid setting risk.max_drawdown_pct (QUANTD_RISK__MAX_DRAWDOWN_PCT): "
                                         "must be above 0 and at most 100, got 500"),
    ("strategy:\n  name: sma_cross\n symbol: [BTC\n", "is not valid YAML: line 3, column 2: expected <block end>"),
    ("strategy:\n  params: {fsat: 5}\n", "invalid setting strategy: sma_cross: unknown key 'fsat' (did you mean "
                                        "'fast'?); valid keys: allow_short, fast, slow"),
])
def test_config_mistakes_get_the_fix_in_one_line(tmp_path, yaml_text, fragment):
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text)
    r = quantd("status", "--config", str(path), cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert fragment in r.stderr, r.stderr


@pytest.mark.parametrize("args, fragment", [
    (["backtest", "--param", "fsat=3"], "sma_cross: unknown key 'fsat' (did you mean 'fast'?); valid keys: allow_short, fast, slow"),
    (["backtest", "--param", "fast=0"], "sma_cross: parameter fast: must be from 1 to 1000 (got '0')"),
    (["backtest", "--risk", "max_drawdwn_pct=3"], "--risk: unknown key 'max_drawdwn_pct' (did you mean "
                                                 "'max_drawdown_pct'?)"),
    (["backtest", "--strategy", "sma_crss"], "unknown strategy 'sma_crss' (did you mean 'sma_cross'?)"),
    (["sweep", "--grid", "fast=20:2:2"], "--grid 'fast=20:2:2': start 20 is above stop 2; the values run from start "
                                         "up to stop, e.g. fast=2:20:2"),
    (["sweep", "--grid", "fast=2:20:0"], "step 0 must be above 0"),
    (["backtest", "--from", "2021-05-01", "--to", "2021-01-01"], "--to 2021-01-01 is not after --from 2021-05-01"),
])
def test_command_line_mistakes_suggest_the_fix(args, fragment, capsys):
    assert cli(args) == 2
    assert fragment in capsys.readouterr().err


def test_strategy_errors_read_the_same_from_python():
    with pytest.raises(StrategyError, match=r"rsi_reversion: parameter lower: must be above 0 and below 100"):
        create("rsi_reversion", {"lower": 0})


@pytest.mark.parametrize("mode", ["paper", "dry_run", "live"])
def test_new_config_writes_a_commented_file_that_loads(tmp_path, mode):
    from bot.config import load_settings

    out = tmp_path / f"{mode}.yaml"
    r = quantd("new-config", "--mode", mode, "--symbol", "ETH/USDT", "--strategy", "rsi_reversion",
               "--telegram-admin", "123456789", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert text.count("#") > 10, "commented"
    settings = load_settings(out)
    assert (settings.mode, settings.strategy.symbol, settings.strategy.name) == (mode, "ETH/USDT", "rsi_reversion")
    assert settings.telegram.admins == [123456789] and settings.risk.max_drawdown_pct == 20
    assert settings.risk.stop_on_exchange is (mode == "live")
    again = quantd("new-config", "--mode", mode, "--out", str(out), cwd=tmp_path)
    assert again.returncode == 2 and "the file exists; give --force" in again.stderr


def test_new_config_refuses_what_would_not_load_and_writes_nothing(tmp_path):
    out = tmp_path / "bad.yaml"
    r = quantd("new-config", "--symbol", "BTCUSDT", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 2 and "strategy.symbol: 'BTCUSDT' is not BASE/QUOTE" in r.stderr
    r = quantd("new-config", "--strategy", "sma_crss", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 2 and "did you mean 'sma_cross'" in r.stderr
    assert not out.exists()


def test_new_config_interactive_asks_what_no_flag_gave():
    import argparse

    from bot.config_cmd import answers

    asked: list[str] = []
    replies = iter(["dry_run", "kraken", "", "1h", "250"])

    def ask(prompt):
        asked.append(prompt)
        return next(replies)

    args = argparse.Namespace(mode=None, exchange=None, symbol=None, timeframe=None, strategy="ema_cross", stake=None,
                              telegram_admin=[], interactive=True)
    a = answers(args, ask)
    assert (a["mode"], a["exchange"], a["symbol"], a["timeframe"], a["strategy"], a["stake"]) == \
        ("dry_run", "kraken", "BTC/USDT", "1h", "ema_cross", "250")
    assert len(asked) == 5 and not any("strategy" in p for p in asked), "a flag is not asked again"

    def no_terminal(prompt):
        raise EOFError

    with pytest.raises(Exception, match="--interactive reads the answers from a terminal and got none"):
        answers(args, no_terminal)


def test_the_generated_paper_config_passes_doctor(tmp_path):
    out = tmp_path / "paper.yaml"
    assert quantd("new-config", "--out", str(out), cwd=tmp_path).returncode == 0
    r = quantd("doctor", "--config", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_config_show_names_each_source_and_masks_secrets(tmp_path):
    from tests.cli_helpers import clean_env

    config = tmp_path / "c.yaml"
    config.write_text("risk:\n  max_drawdown_pct: 15\n")
    env = clean_env(QUANTD_TELEGRAM__TOKEN="123456:SECRET-token-value", QUANTD_LOG_LEVEL="WARNING")
    r = quantd("config", "show", "--config", str(config), "--json", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    rows = {row["key"]: row for row in json.loads(r.stdout)}
    assert rows["risk.max_drawdown_pct"] == {"key": "risk.max_drawdown_pct", "value": "15.0", "source": "file"}
    assert rows["log_level"]["source"] == "env" and rows["mode"]["source"] == "default"
    assert rows["telegram.token"]["value"] == "********" and "SECRET" not in r.stdout
    text = quantd("config", "show", "risk", "--config", str(config), cwd=tmp_path, env=env)
    assert "risk.max_drawdown_pct = 15.0  (file)" in text.stdout and "telegram" not in text.stdout
    wrong = quantd("config", "show", "rsik", cwd=tmp_path)
    assert wrong.returncode == 2 and "no section 'rsik'" in wrong.stderr


def test_long_commands_show_progress_on_stderr_and_quiet_silences_it(data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QUANTD_PROGRESS", "1")  # stderr is not a terminal under pytest: force the bar
    monkeypatch.chdir(tmp_path)
    hourly = str(data_dir / "binance/BTC_USDT-1h.csv.gz")
    assert cli(["sweep", "--data", hourly, "--grid", "fast=5,10", "--grid", "slow=50,100", "--jobs", "1"]) == 0
    err = capsys.readouterr().err
    assert "sweep BTC_USDT-1h.csv.gz" in err and "4/4" in err
    assert cli(["walkforward", "--data", hourly, "--grid", "fast=5,10", "--grid", "slow=50,100", "--windows", "2",
                "--jobs", "1"]) == 0
    captured = capsys.readouterr()
    assert "walk-forward" in captured.err and "2/2" in captured.err
    assert (tmp_path / "var" / "walkforward" / "equity.png").is_file() and not (tmp_path / "walkforward").exists()
    assert cli(["validate", "--strategy", "sma_cross", "--data", hourly, "--quiet"]) == 0
    assert capsys.readouterr().err == "", "--quiet: no bar, no progress lines"


def test_download_progress(data_dir, tmp_path, monkeypatch, capsys):
    import pandas as pd

    from tests.fakes.binance import FakeBinance

    monkeypatch.setenv("QUANTD_PROGRESS", "1")
    df = pd.read_csv(data_dir / "binance" / "BTC_USDT-1h.csv.gz").head(3000)
    venue = FakeBinance(data_dir / "fixtures", {"BTCUSDT": df}, 3_600_000,
                        int(df.timestamp.iloc[-1]) + 3_600_000 + 5_000, {"USDT": "0"})
    url = venue.start()
    try:
        assert cli(["data", "download", "--symbol", "BTC/USDT", "--timeframe", "1h", "--since", "2017-08-17",
                    "--until", "2018-01-01", "--dir", str(tmp_path), "--api-url", url]) == 0
    finally:
        venue.stop()
    err = capsys.readouterr().err
    assert "download BTC/USDT 1h" in err and "up to 2017-" in err


def test_a_misspelt_top_level_environment_variable_is_named_not_ignored_silently(tmp_path):
    from bot.config import unknown_env
    from tests.cli_helpers import clean_env

    assert unknown_env({"QUANTD_MODEE": "live", "QUANTD_PROGRESS": "1", "QUANTD_RISK__MAX_DRAWDOWN_PCT": "5",
                        "HOME": "/root"}) == [
        "environment variable QUANTD_MODEE is not a setting (did you mean 'QUANTD_MODE'?); it is ignored"]
    r = quantd("config", "show", "mode", cwd=tmp_path, env=clean_env(QUANTD_MODEE="live"))
    assert r.returncode == 0 and "QUANTD_MODEE is not a setting (did you mean 'QUANTD_MODE'?)" in r.stderr
    assert "mode = paper  (default)" in r.stdout
