"""Results from the store (``/stats``, ``/performance``, ``/profit``, ``/weekly``, ``/monthly``,
``quantd report``): round trips rebuilt from stored fills agree with the books; each reply
answers admins and viewers, never strangers, and bad arguments get the usage line."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.store import load_state, open_store
from engine.store.results import breakdown, exit_reason, period_start, round_trips
from tests.cli_helpers import clean_env, quantd, short_sample
from tests.telegram_helpers import ADMIN, STRANGER, VIEWER, command
from tests.test_telegram_commands import _ask


@pytest.fixture(scope="module")
def paper_store(tmp_path_factory):
    """A paper run over 2,000 real BTC/USDT 5m candles (the bundled sample)."""
    folder = tmp_path_factory.mktemp("results")
    env = clean_env(QUANTD_REPLAY__DATA=str(short_sample(folder, 2000)))
    r = quantd("run", "--speed", "100000", "--exit-when-done", cwd=folder, env=env)
    assert r.returncode == 0, r.stderr
    return folder, env


def test_round_trips_rebuilt_from_the_store_agree_with_the_books(paper_store):
    folder, _ = paper_store
    store = open_store(f"sqlite:///{folder / 'var/quantd.sqlite'}", create=False)
    try:
        trips, state = round_trips(store), load_state(store)
    finally:
        store.close()
    closed = [t for t in trips if not t.is_open]
    assert len(closed) >= 20 and sum(t.fills for t in trips) == len(state.fills)
    p = state.portfolio
    open_fees = sum((t.fees for t in trips if t.is_open), Decimal(0))
    # paper fees are in quote: closed net PnL = realised gross PnL - every fee except the open entry's
    assert abs(sum(t.pnl for t in closed) - (p.realized_pnl - (p.fees_paid - open_fees))) < Decimal("1e-9")
    for by in ("exit_reason", "entry_signal", "symbol"):
        groups = breakdown(trips, by)
        assert sum(g.trades for g in groups) == len(closed)
        assert sum(g.total_pnl for g in groups) == sum(t.pnl for t in closed)
    (signal,) = breakdown(trips, "entry_signal")
    assert signal.key == "sma_cross" and 0 < signal.win_rate < 1 and signal.mean_holding_secs > 0


def test_exit_reasons_and_periods():
    assert exit_reason("stop_loss: low 1 reached stop 2") == "stop_loss"
    assert exit_reason("stop_loss: stop 3 on the exchange") == "stop_loss"
    assert exit_reason("sma_cross(fast=10, slow=30) SELL") == "exit_signal"
    assert exit_reason("flatten: kill switch by ops") == exit_reason("flatten by telegram:1") == "flatten"
    assert exit_reason("time_exit: held 5 candles, limit 5") == "time_exit"
    wednesday = 1608681600000  # 2020-12-23T00:00Z
    assert period_start(wednesday + 5_000, "week") == 1608508800000  # Monday 2020-12-21
    assert period_start(wednesday, "month") == 1606780800000  # 2020-12-01


def test_quantd_report_prints_each_result(paper_store):
    folder, env = paper_store
    stats = quantd("report", "stats", cwd=folder, env=env)
    assert stats.returncode == 0 and "exit_signal" in stats.stdout and "sma_cross" in stats.stdout
    profit = quantd("report", "profit", cwd=folder, env=env).stdout
    assert "realised pnl" in profit and "best trade" in profit and "roi" in profit
    weekly = quantd("report", "weekly", "2", cwd=folder, env=env).stdout
    assert len(weekly.strip().splitlines()) == 4, weekly  # header, 2 weeks, currency
    assert "2020-12" in quantd("report", "monthly", cwd=folder, env=env).stdout
    assert "BTC/USDT" in quantd("report", "performance", cwd=folder, env=env).stdout
    bad = quantd("report", "weekly", "0", cwd=folder, env=env)
    assert bad.returncode == 2 and "n must be from 1 to 520" in bad.stderr
    for line in stats.stdout.splitlines() + profit.splitlines() + weekly.splitlines():
        assert len(line) <= 52, f"one phone screen wide: {line!r}"


def test_result_commands_answer_admins_and_viewers_with_usage_on_bad_arguments(desk, tg, data_dir):
    desk.advance(400)  # a few round trips
    for user in (ADMIN, VIEWER):
        assert "exit reason" in _ask(tg, data_dir, "/stats", user)
        assert "BTC/USDT" in _ask(tg, data_dir, "/performance", user)
        assert "unrealised pnl" in _ask(tg, data_dir, "/profit", user)
        assert "week of" in _ask(tg, data_dir, "/weekly 3", user)
        assert "2020-12" in _ask(tg, data_dir, "/monthly", user)
    assert "usage: /weekly [n]" in _ask(tg, data_dir, "/weekly x")
    assert "usage: /monthly [n]" in _ask(tg, data_dir, "/monthly 0")
    assert "usage: /stats" in _ask(tg, data_dir, "/stats now")
    tg.push(command(data_dir, "/profit", STRANGER))
    desk.advance(0)
    assert tg.texts(STRANGER) == [], "a stranger gets no reply"
    assert "/stats" in _ask(tg, data_dir, "/help", VIEWER)
