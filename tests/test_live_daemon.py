"""The live daemon as a subprocess against the fake Binance: SIGKILL at the two dangerous
moments of an order's submission, then a restart; and stale data across a real outage."""

from __future__ import annotations

import signal
import subprocess
import time
from decimal import Decimal

import pytest

from bot.app import build_engine
from bot.config import load_settings
from engine.models import OrderStatus, OrderType, Side
from engine.store import load_state, open_store
from engine.store.ledger import EventRow
from tests.cli_helpers import clean_env, quantd_cmd, read_until
from tests.live_helpers import MINUTE, expected_from_fills, make_venue, real_1m


def _env(venue, tmp_path, **extra) -> dict:
    return clean_env(
        QUANTD_MODE="live", QUANTD_EXCHANGE__API_URL=venue.url, QUANTD_EXCHANGE__API_KEY="test-key",
        QUANTD_EXCHANGE__SECRET="test-secret", QUANTD_EXCHANGE__POLL_SECS="0.1", QUANTD_EXCHANGE__TIMEOUT_MS="1000",
        QUANTD_EXCHANGE__RECONCILE_SECS="1", QUANTD_STRATEGY__TIMEFRAME="1m",
        QUANTD_STRATEGY__PARAMS='{"fast": 3, "slow": 8}', QUANTD_STRATEGY__STAKE="200",
        QUANTD_STORE__URL=f"sqlite:///{tmp_path / 'live.sqlite'}", QUANTD_VAULT__DIR=str(tmp_path / "vault"), **extra)


def _start(venue, tmp_path) -> subprocess.Popen:
    return subprocess.Popen(quantd_cmd() + ["run"], cwd=tmp_path, env=_env(venue, tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _agree(tmp_path, venue) -> list:
    """Assert store and venue agree; returns the stored orders."""
    store = open_store(f"sqlite:///{tmp_path / 'live.sqlite'}")
    try:
        state = load_state(store)
    finally:
        store.close()
    ours = {o.client_order_id for o in state.orders}
    for cid in ours:
        assert len(venue.orders_by_client_id(cid)) <= 1, f"{cid} sent twice"
    venue_trades = {str(t["id"]) for t in venue.trades
                    if venue.orders[t["orderId"]].client_order_id in ours}
    assert {f.trade_id for f in state.fills} == venue_trades
    cash, btc = expected_from_fills(state.fills, Decimal(1000))
    assert state.portfolio.cash == cash
    assert state.portfolio.position("BTC/USDT").qty == btc == venue.total("BTC")
    return state.orders


@pytest.mark.parametrize("fault, placed", [("kill_before", False), ("kill_after", True)])
def test_sigkill_around_the_first_order_then_restart_leaves_exactly_one(data_dir, tmp_path, fault, placed):
    venue = make_venue(data_dir, row=300, speed=60)
    try:
        venue.inject("POST /api/v3/order", fault)
        proc = _start(venue, tmp_path)
        venue.kill_pid = proc.pid
        out, _ = proc.communicate(timeout=90)
        assert proc.returncode == -signal.SIGKILL, out[-2000:]
        store = open_store(f"sqlite:///{tmp_path / 'live.sqlite'}")
        first = load_state(store).orders[0]
        store.close()
        assert first.status is OrderStatus.NEW, "the intent was persisted before the request"
        assert len(venue.orders_by_client_id(first.client_order_id)) == (1 if placed else 0)

        proc = _start(venue, tmp_path)
        seen = read_until(proc, "ready:")  # start-up (recovery, reconciliation) is done
        time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        out = seen + out
        assert proc.returncode == 0, out[-3000:]
        assert ("found at the venue" if placed else "provably not at the venue") in out
        assert "test-secret" not in out and "test-key" not in out, "keys never reach the logs"
        orders = _agree(tmp_path, venue)
        again = next(o for o in orders if o.client_order_id == first.client_order_id)
        assert again.status is OrderStatus.FILLED
        assert len(venue.orders_by_client_id(first.client_order_id)) == 1
    finally:
        venue.stop()


def _live_settings(venue, tmp_path):
    """Settings of an in-process live engine on ``venue`` (sma_cross 3/8 on 1m, 200 USDT entries)."""
    return load_settings(mode="live", store={"url": f"sqlite:///{tmp_path / 'live.sqlite'}"},
                         vault={"dir": str(tmp_path / "vault")},
                         exchange={"api_url": venue.url, "api_key": "k", "secret": "s", "timeout_ms": 1000},
                         strategy={"timeframe": "1m", "params": {"fast": 3, "slow": 8}, "stake": "200"})


def test_stale_data_across_the_real_outage_stops_entries_then_recovers(data_dir, tmp_path):
    df = real_1m(data_dir)
    gap_start = int(df.index[df.timestamp.diff().shift(-1) > MINUTE][0])  # 2021-04-25 04:00, 284 candles missing
    venue = make_venue(data_dir, row=gap_start - 3)
    try:
        settings = _live_settings(venue, tmp_path)
        engine, store = build_engine(settings)
        lane = engine.lanes[0]
        for _ in range(4):  # candles up to the last one before the outage
            venue.advance(MINUTE)
            engine.step()
        assert lane.stale_since_ms is None
        venue.advance(3 * MINUTE)  # inside the outage: no candle closes
        engine.step()
        assert lane.runner.entries_blocked and lane.stale_since_ms is not None
        venue.advance(int(df.timestamp[gap_start + 1] - df.timestamp[gap_start]))  # data is back
        engine.step()
        assert lane.runner.entries_blocked is None and lane.stale_since_ms is None
        engine.stop("test")
        engine.oms.gateway.close()
        with store.read() as s:
            kinds = [k for (k,) in s.query(EventRow.kind).filter(EventRow.kind.like("stale%")).order_by(EventRow.id)]
        store.close()
        assert kinds == ["stale_data", "stale_data_recovered"]
    finally:
        venue.stop()


def test_cancel_all_orders_on_stop_cancels_working_orders_at_the_venue(data_dir, tmp_path):
    """``daemon.cancel_orders_on_stop``: what the daemon calls after the last step on SIGTERM."""
    venue = make_venue(data_dir, row=300)
    try:
        settings = _live_settings(venue, tmp_path)
        engine, store = build_engine(settings)
        price = Decimal(str(round(float(real_1m(data_dir).close[300]) * 0.8, 2)))  # 20% below: rests
        order = engine.oms.submit(strategy="sma_cross", symbol="BTC/USDT", side=Side.BUY, signal_ts_ms=1, now_ms=1,
                                  qty=Decimal("0.001"), order_type=OrderType.LIMIT, price=price)
        [at_venue] = venue.orders_by_client_id(order.client_order_id)
        assert order.status is OrderStatus.OPEN and at_venue.status == "NEW"
        text = engine.cancel_all_orders("shutdown")
        assert f"{order.client_order_id} canceled" in text
        assert order.status is OrderStatus.CANCELED and at_venue.status == "CANCELED"
        engine.stop("test")
        engine.oms.gateway.close()
        store.close()
    finally:
        venue.stop()


def test_an_unreachable_exchange_at_start_up_exits_1_so_the_supervisor_restarts(tmp_path):
    """Exit 2 means "fix the config" (systemd's RestartPreventExitStatus=2); an exchange that
    does not answer is transient and must exit 1, after the read retries."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    env = clean_env(QUANTD_MODE="live", QUANTD_EXCHANGE__API_URL=f"http://127.0.0.1:{closed_port}",
                    QUANTD_EXCHANGE__API_KEY="k", QUANTD_EXCHANGE__SECRET="s", QUANTD_EXCHANGE__TIMEOUT_MS="500",
                    QUANTD_STORE__URL=f"sqlite:///{tmp_path / 'live.sqlite'}")
    r = subprocess.run(quantd_cmd() + ["run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr
    assert r.stderr.count("\n") == 1 and "quantd run: error:" in r.stderr and "Traceback" not in r.stderr + r.stdout
