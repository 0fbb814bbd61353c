"""Dry-run on the live market: the exchange's candles through ccxt's public endpoints (no key),
fills simulated as in paper and backtests. A dry-run daemon against the fake Binance is
SIGKILLed, candles close while it is down, and the restart fetches them (a backfill alert says
how many) before trading resumes; its fills equal those of a replay of the same candles."""

from __future__ import annotations

import signal
import subprocess
import time

import pandas as pd
import pytest
from sqlalchemy import select

from bot.config import load_settings
from engine.store import load_state, open_store
from engine.store.ledger import EquitySnapshotRow, EventRow
from tests.cli_helpers import clean_env, quantd_cmd, read_until
from tests.daemon_helpers import replay_from
from tests.live_helpers import MINUTE, make_gateway, make_venue, real_1m

STRATEGY = {"QUANTD_STRATEGY__TIMEFRAME": "1m", "QUANTD_STRATEGY__PARAMS": '{"fast": 3, "slow": 8}',
            "QUANTD_STRATEGY__STAKE": "200", "QUANTD_PAPER__CASH": "1000"}


def _env(venue, tmp_path) -> dict:
    return clean_env(QUANTD_MODE="dry_run", QUANTD_EXCHANGE__API_URL=venue.url, QUANTD_EXCHANGE__POLL_SECS="0.1",
                     QUANTD_EXCHANGE__TIMEOUT_MS="2000", QUANTD_STORE__URL=f"sqlite:///{tmp_path / 'dry.sqlite'}",
                     QUANTD_VAULT__DIR=str(tmp_path / "no-vault"), **STRATEGY)


def _fills(url: str) -> list[tuple]:
    store = open_store(url, create=False)
    try:
        return [(f.ts_ms, f.side.value, f.qty, f.price, f.fee) for f in load_state(store).fills]
    finally:
        store.close()


@pytest.fixture
def venue(data_dir):
    v = make_venue(data_dir, row=300, speed=600)  # a 1m candle closes every 0.1 s of wall time
    yield v
    v.stop()


def test_dry_run_kill_backfill_restart_makes_the_fills_of_a_replay(tmp_path, venue, data_dir):
    env = _env(venue, tmp_path)
    first = subprocess.Popen(quantd_cmd() + ["run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        out = read_until(first, "ready:")
        assert "keys: none: public endpoints only" in out and "started dry_run mode" in out
        out += read_until(first, "FILL BUY")
        out += read_until(first, "FILL SELL")
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    assert not [r for r in venue.requests if r[1] in ("/api/v3/order", "/api/v3/account", "/api/v3/myTrades")], \
        "a dry run never calls a private endpoint"
    time.sleep(3.0)  # about 30 candles close while it is down
    second = subprocess.Popen(quantd_cmd() + ["run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        out2 = read_until(second, "BACKFILL BTC/USDT 1m:")
        line = next(x for x in out2.splitlines() if "BACKFILL" in x)
        missed = int(line.split("1m: ")[1].split(" candle")[0])
        assert missed >= 10, line
        assert "unclean stop" in out2 and "resuming after candle" in out2
        deadline = time.monotonic() + 60
        while len(_fills(env["QUANTD_STORE__URL"])) < 6:
            assert time.monotonic() < deadline, "the dry run kept trading after the backfill"
            time.sleep(0.5)
    finally:
        second.send_signal(signal.SIGTERM)
        rest, _ = second.communicate(timeout=60)
    assert second.returncode == 0, rest[-2000:]
    assert not [r for r in venue.requests if r[1] in ("/api/v3/order", "/api/v3/account", "/api/v3/myTrades")]

    url = env["QUANTD_STORE__URL"]
    store = open_store(url, create=False)
    with store.read() as s:
        closes = sorted(s.scalars(select(EquitySnapshotRow.ts_ms)))
        backfills = list(s.scalars(select(EventRow.payload).where(EventRow.kind == "backfill")))
    store.close()
    assert backfills and backfills[0]["candles"] == missed
    df = real_1m(data_dir)
    first_open, last_open = closes[0] - MINUTE, closes[-1] - MINUTE
    expected = df[(df.timestamp >= first_open) & (df.timestamp <= last_open)].timestamp.tolist()
    assert [c - MINUTE for c in closes] == expected, "every candle processed once, none skipped across the kill"
    dry = _fills(url)
    assert len(dry) >= 6

    replay = _replay(tmp_path, venue, df, first_open, last_open)
    assert replay == dry, "the dry run's fills are the replay's, candle for candle, to the last digit"


def _replay(tmp_path, venue, df: pd.DataFrame, first_open: int, last_open: int) -> list[tuple]:
    """A paper daemon replaying the same real candles from the dry run's first candle, with the
    market's rules as the exchange published them."""
    gateway = make_gateway(venue)
    try:
        inst = gateway.instrument("BTC/USDT")
    finally:
        gateway.close()
    data = tmp_path / "BTC_USDT-1m.csv.gz"
    df[df.timestamp <= last_open].to_csv(data, index=False)
    url = f"sqlite:///{tmp_path / 'replay.sqlite'}"
    settings = load_settings(mode="paper", store={"url": url}, replay={"data": data, "speed": 100_000},
                             strategy={"timeframe": "1m", "params": {"fast": 3, "slow": 8}, "stake": "200"},
                             paper={"cash": 1000, "amount_step": inst.amount_step, "price_step": inst.price_step,
                                    "min_notional": inst.min_notional})
    replay_from(settings, df, first_open, MINUTE)
    return _fills(url)
