"""Live futures (``mode: live``, ``market: futures``, ADR 0017): the real ccxt ``binance`` class
(``defaultType: swap``) against the fake Binance USD-M account (``tests/fakes/binance_futures.py``).

Data: the market rules are Binance's real BTCUSDT perpetual (``/fapi/v1/exchangeInfo``, 2022)
and its real funding rates of 2019-10-09 08:00 and 16:00 UTC (-3.75% and 0.01%), both from
nautilus_trader's test resources; the tiers are Binance's real ones (``gateways/samples``).
The candles are the real BTC/USDT **spot** 1h candles of those days standing in for the
perpetual's price (no real perpetual candle file of 2019 is at hand), and for the kill test
the real spot 1m candles of April 2021."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from bot.app import build_engine
from bot.config import load_settings
from engine.decision import Outcome
from engine.errors import ConfigError
from engine.models import Candle, OrderStatus, OrderType, Side
from engine.store import load_state, open_store
from tests.cli_helpers import clean_env, quantd_cmd
from tests.db_helpers import rows
from tests.fakes.binance import ChaosPlan
from tests.fakes.binance_futures import FakeBinanceFutures
from tests.futures_helpers import END, HOUR, START, STRATEGY, btc_1h_frame
from tests.live_helpers import MINUTE, real_1m


@pytest.fixture
def btc_1h(data_dir) -> pd.DataFrame:
    return btc_1h_frame(data_dir)


@pytest.fixture
def venue(data_dir, btc_1h):
    v = FakeBinanceFutures(data_dir / "fixtures", {"BTCUSDT": btc_1h}, HOUR, START + 1000, wallet="1000")
    v.url = v.start()
    yield v
    v.stop()


def _settings(tmp_path: Path, venue, **exchange):
    return load_settings(mode="live", market="futures", futures={"leverage": 3}, strategy=STRATEGY,
                         store={"url": f"sqlite:///{tmp_path / 'live.sqlite'}"},
                         exchange={"api_url": venue.url, "api_key": "test-key", "secret": "test-secret",
                                   "timeout_ms": 2000, "rate_limit_ms": 1, "reconcile_secs": 3600, **exchange},
                         vault={"dir": str(tmp_path / "vault")})


def _state(tmp_path: Path):
    store = open_store(f"sqlite:///{tmp_path / 'live.sqlite'}", create=False)
    try:
        return load_state(store)
    finally:
        store.close()


def test_live_futures_sets_leverage_trades_both_sides_reduce_only_books_the_exchanges_funding_and_agrees(
        tmp_path, venue):
    venue.chaos = ChaosPlan(seed=3, rate=0.0, kinds={}, split_prob=1.0)  # every market order fills in two trades
    engine, store = build_engine(_settings(tmp_path, venue))
    try:
        while venue.now_ms() < END:
            venue.advance(HOUR)
            engine.step()
        report = engine.reconciler.run(venue.now_ms())
    finally:
        engine.stop("test")
        store.close()
    assert not [i for i in report.issues if i.kind == "balance_drift"], report.issues

    # set up before any order: isolated margin and 3x on BTCUSDT
    paths = [(m, p) for m, p, _ in venue.requests]
    first_order = paths.index(("POST", "/fapi/v1/order"))
    settings_sent = {p: params for m, p, params in venue.requests[:first_order] if m == "POST"}
    assert settings_sent["/fapi/v1/leverage"]["leverage"] == "3"
    assert settings_sent["/fapi/v1/marginType"]["marginType"] == "ISOLATED"
    assert venue.margin_type["BTCUSDT"] == "isolated" and venue.leverage["BTCUSDT"] == 3

    state = _state(tmp_path)
    orders = {o.client_order_id: o for o in state.orders}
    sent = [params for m, p, params in venue.requests if (m, p) == ("POST", "/fapi/v1/order")]
    assert len(sent) == len(orders) >= 4
    held, went_short, exits = Decimal(0), False, 0
    for params in sent:  # in the order they were sent: an exit is reduce-only, an entry is not
        qty = Decimal(params["quantity"])
        reduces = held != 0 and (held > 0) == (params["side"] == "SELL")
        assert (params.get("reduceOnly") == "true") == reduces, params
        exits += reduces
        held += qty if params["side"] == "BUY" else -qty
        went_short |= held < 0
    assert went_short and exits >= 2
    assert all(len([f for f in state.fills if f.client_order_id == cid]) == 2 for cid in orders), \
        "each order filled in two trades, both booked"

    # the store's ledger is the exchange's account
    assert {f.trade_id for f in state.fills} == {str(t["id"]) for t in venue.trades}
    account = state.portfolio
    assert account.position("BTC/USDT").qty == venue.position_amt("BTCUSDT")
    assert account.fees_paid == sum(Decimal(t["commission"]) for t in venue.trades)
    assert account.wallet == venue.wallet != 1000, "the same realized PnL, fees and funding moved both wallets"

    # funding: what the exchange booked on the account, not a rate the daemon applied
    income = [Decimal(r["income"]) for r in venue.income]
    assert len(income) >= 1 and sum(income) != 0
    events = [json.loads(p) for (p,) in rows(tmp_path / "live.sqlite",
                                              "select payload from events where kind = 'funding' order by id")]
    assert [Decimal(e["amount"]) for e in events] == [-i for i in income]
    assert all(e["rate"] == "" for e in events)
    assert account.funding_paid == -sum(income)


def test_a_reduce_only_exit_partly_filled_is_booked_as_partially_filled_and_completes(tmp_path, venue):
    """A limit exit of the open short rests on the exchange; the venue fills part of it, then
    the rest: the store follows both steps, and the position equals the exchange's at each."""
    engine, store = build_engine(_settings(tmp_path, venue))
    try:
        short = None
        while venue.now_ms() < END and short is None:
            venue.advance(HOUR)
            engine.step()
            if venue.position_amt("BTCUSDT") < 0:
                short = venue.position_amt("BTCUSDT")
        assert short is not None, "the strategy went short"
        oms = engine.oms  # the strategy is not stepped from here: only the test's exit works
        row = venue.forming("BTCUSDT")
        limit = (Decimal(repr(float(row["open"]))) / 2).quantize(Decimal("0.1"))  # far below: it rests
        order = oms.submit(strategy="sma_cross", symbol="BTC/USDT", side=Side.BUY, signal_ts_ms=1,
                           now_ms=venue.now_ms(), qty=-short, intent="test exit", order_type=OrderType.LIMIT,
                           price=limit)
        assert order.status is OrderStatus.OPEN
        assert venue.orders_by_client_id(order.client_order_id)[0].reduce_only
        half = (-short / 2).quantize(Decimal("0.001"))
        for part, status, left in ((half, OrderStatus.PARTIALLY_FILLED, short + half), (-short - half, OrderStatus.FILLED, 0)):
            venue.fill_partially(order.client_order_id, str(part))
            venue.advance(HOUR)
            row = venue.forming("BTCUSDT")
            oms.sync("BTC/USDT", Candle(int(row["timestamp"]), *(float(row[c]) for c in
                                                                  ("open", "high", "low", "close", "volume"))),
                     venue.now_ms())
            assert order.status is status
            assert oms.portfolio.position("BTC/USDT").qty == venue.position_amt("BTCUSDT") == left
        assert oms.portfolio.wallet == venue.wallet
        assert _state_open(store)["BTC/USDT"] == 0, "the store followed"
    finally:
        engine.stop("test")
        store.close()


def _state_open(store) -> dict:
    state = load_state(store)
    return {s: p.qty for s, p in state.portfolio.positions.items()}


def test_a_hedge_mode_account_or_an_open_position_is_refused_before_any_order(tmp_path, venue):
    venue.dual_side = True
    with pytest.raises(ConfigError, match="hedge mode"):
        build_engine(_settings(tmp_path / "a", venue))
    venue.dual_side = False
    venue.positions["BTCUSDT"] = {"amt": Decimal("-0.010"), "entry": Decimal(8000), "margin": Decimal(30)}
    with pytest.raises(ConfigError, match="holds futures position"):
        build_engine(_settings(tmp_path / "b", venue))
    assert not [r for r in venue.requests if r[1] == "/fapi/v1/order"]


def test_live_futures_config_refuses_fractional_leverage_and_exchange_stops():
    with pytest.raises(ConfigError, match="whole number"):
        load_settings(mode="live", market="futures", futures={"leverage": "2.5"}, strategy=STRATEGY)
    with pytest.raises(ConfigError, match="stop_on_exchange"):
        load_settings(mode="live", market="futures", strategy=STRATEGY, risk={"stop_on_exchange": True})


def _env(venue, tmp_path) -> dict:
    return clean_env(
        QUANTD_MODE="live", QUANTD_MARKET="futures", QUANTD_FUTURES__LEVERAGE="2", QUANTD_EXCHANGE__API_URL=venue.url,
        QUANTD_EXCHANGE__API_KEY="test-key", QUANTD_EXCHANGE__SECRET="test-secret", QUANTD_EXCHANGE__POLL_SECS="0.1",
        QUANTD_EXCHANGE__TIMEOUT_MS="1000", QUANTD_EXCHANGE__RECONCILE_SECS="1", QUANTD_STRATEGY__TIMEFRAME="1m",
        QUANTD_STRATEGY__PARAMS='{"fast": 3, "slow": 8, "allow_short": true}', QUANTD_STRATEGY__STAKE="200",
        QUANTD_STORE__URL=f"sqlite:///{tmp_path / 'live.sqlite'}", QUANTD_VAULT__DIR=str(tmp_path / "vault"))


def _run(venue, tmp_path, log: str) -> tuple[subprocess.Popen, Path]:
    path = tmp_path / log
    proc = subprocess.Popen(quantd_cmd() + ["run"], cwd=tmp_path, env=_env(venue, tmp_path),
                            stdout=path.open("w"), stderr=subprocess.STDOUT, text=True)
    return proc, path


def _wait(cond, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return False


def test_sigkill_with_the_short_open_then_restart_reconciles_to_the_exchanges_position(data_dir, tmp_path):
    df = real_1m(data_dir)
    venue = FakeBinanceFutures(data_dir / "fixtures", {"BTCUSDT": df}, MINUTE, int(df.timestamp[300]) + 1000,
                               wallet="1000", speed=120)
    venue.url = venue.start()
    try:
        proc, log = _run(venue, tmp_path, "first.log")
        try:
            assert _wait(lambda: venue.position_amt("BTCUSDT") < 0 or proc.poll() is not None, 90), \
                "the daemon went short"
            assert proc.poll() is None, log.read_text()[-3000:]
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
        held = venue.position_amt("BTCUSDT")
        proc, log = _run(venue, tmp_path, "second.log")
        try:
            assert _wait(lambda: "quantd.supervisor: ready:" in log.read_text() or proc.poll() is not None, 60), \
                log.read_text()[-3000:]
            venue.freeze()  # nothing trades while the store and the exchange are compared
            time.sleep(1.5)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, log.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
        text = log.read_text()
        assert "balance_drift" not in text, text[-3000:]
        state = _state(tmp_path)
        assert held < 0, "the short was open at the kill"
        for o in state.orders:
            assert len(venue.orders_by_client_id(o.client_order_id)) == 1, f"{o.client_order_id} sent twice"
        assert {f.trade_id for f in state.fills} == {str(t["id"]) for t in venue.trades}
        assert state.portfolio.position("BTC/USDT").qty == venue.position_amt("BTCUSDT")
        assert state.portfolio.wallet == venue.wallet
    finally:
        venue.stop()


def test_reconciliation_halts_on_a_position_the_exchange_closed_and_accepts_only_a_wallet_transfer(tmp_path, venue):
    """After trading: an external order is reported and left alone; a transfer into the
    futures wallet is a drift an operator may accept; a position the exchange closed on its
    own (a liquidation) is a drift that halts and cannot be accepted."""
    engine, store = build_engine(_settings(tmp_path, venue, adopt_external_orders=True))
    try:
        while venue.now_ms() < END and not venue.position_amt("BTCUSDT"):
            venue.advance(HOUR)
            engine.step()
        held = venue.position_amt("BTCUSDT")
        assert held, "a position is open"
        rec = engine.reconciler
        venue.place_external("BTCUSDT", "BUY", "0.002", "5000.0")
        report = rec.run(venue.now_ms())
        assert [(i.kind, i.action) for i in report.issues] == [
            ("external_order", "left alone: adoption is spot-only (on futures an external order may open a position)")]

        venue.wallet += Decimal(50)  # a transfer from the spot wallet
        report = rec.run(venue.now_ms())
        assert [(i.kind, i.symbol, i.detail["drift"]) for i in report.issues] == [("balance_drift", "USDT", "50.00000000")]
        assert not engine.risk.breaker.allows_entries
        shifts, text = rec.rebaseline(venue.now_ms())
        assert shifts == {"USDT": Decimal(50)} and text.startswith("re-baselined: USDT +50")
        assert not [i for i in rec.run(venue.now_ms()).issues if i.kind == "balance_drift"]

        pos = venue.positions["BTCUSDT"]  # the exchange liquidates: the position and its margin are gone
        venue.wallet -= pos["margin"]
        venue.positions["BTCUSDT"] = {"amt": Decimal(0), "entry": Decimal(0), "margin": Decimal(0)}
        report = rec.run(venue.now_ms())
        drifts = {i.symbol: i.detail for i in report.issues if i.kind == "balance_drift"}
        assert drifts["BTC/USDT position"]["exchange"] == "0" and Decimal(drifts["BTC/USDT position"]["expected"]) == held
        shifts, text = rec.rebaseline(venue.now_ms())
        assert shifts == {} and "a position cannot be accepted" in text
    finally:
        engine.stop("test")
        store.close()


def test_live_futures_reads_the_accounts_maintenance_tiers_from_the_exchange(tmp_path, venue):
    """The exchange's tiers (``/fapi/v1/leverageBracket``) replace the bundled ones: a first
    tier the exchange changed to 0.5% is the one the liquidation price uses."""
    btc = next(b for b in venue.brackets if b["symbol"] == "BTCUSDT")["brackets"]
    btc[0]["maintMarginRatio"] = 0.005
    engine, store = build_engine(_settings(tmp_path, venue))
    try:
        tiers = engine.oms.portfolio.tiers_of("BTC/USDT")
        assert tiers.at(Decimal(1000)).rate == Decimal("0.005")
        assert tiers.at(Decimal(100_000)).rate == Decimal(str(btc[1]["maintMarginRatio"]))
    finally:
        engine.stop("test")
        store.close()
    assert ("GET", "/fapi/v1/leverageBracket") in [(m, p) for m, p, _ in venue.requests]


def test_a_halt_cancels_a_shorts_working_entry_and_keeps_its_buy_back(tmp_path, venue):
    """On futures an entry is an order by quote notional, either side: a halt cancels a
    short's working add (a sell) and leaves its working buy-back (an exit) alone. An
    operator's /buy of a short is refused (its notional could cross zero), and so is /sell
    (it would buy back: /flatten does that)."""
    engine, store = build_engine(_settings(tmp_path, venue))
    try:
        while venue.now_ms() < END and venue.position_amt("BTCUSDT") >= 0:
            venue.advance(HOUR)
            engine.step()
        short = venue.position_amt("BTCUSDT")
        assert short < 0, "the strategy went short"
        lane = engine.lanes[0]
        refused = lane.runner.manual_buy(lane.last_candle, venue.now_ms(), Decimal(100), "manual buy by test", 9)
        assert (refused.outcome, refused.detail) == (Outcome.IGNORED, "the position is short: /flatten buys it back")
        refused = lane.runner.manual_sell(lane.last_candle, venue.now_ms(), Decimal(1), "manual sell by test", 10)
        assert (refused.outcome, refused.detail) == (Outcome.IGNORED, "the position is short: /flatten buys it back")
        venue.chaos = ChaosPlan(seed=1, rate=0.0, kinds={}, delay_prob=1.0, delay_ms=(10 * HOUR, 10 * HOUR))
        oms, now = engine.oms, venue.now_ms()
        add = oms.submit(strategy="sma_cross", symbol="BTC/USDT", side=Side.SELL, signal_ts_ms=2, now_ms=now,
                         quote_qty=Decimal(100), intent="test add")
        back = oms.submit(strategy="sma_cross", symbol="BTC/USDT", side=Side.BUY, signal_ts_ms=3, now_ms=now,
                          qty=-short, intent="test buy-back")
        assert add.status is OrderStatus.OPEN and back.status is OrderStatus.OPEN, "both rest (delayed fills)"
        oms.cancel_entries("circuit breaker halted", now)
        assert add.status is OrderStatus.CANCELED
        assert back.status is OrderStatus.OPEN
        assert venue.orders_by_client_id(back.client_order_id)[0].status == "NEW"
    finally:
        engine.stop("test")
        store.close()


def test_the_live_futures_example_starts_against_the_exchange(tmp_path, venue):
    """deploy/examples/futures-live.yaml as a user would run it (the exchange's URL, the
    keys and the store aside): valid, it sets 3x isolated on BTCUSDT and starts flat."""
    example = Path(__file__).parents[1] / "deploy/examples/futures-live.yaml"
    settings = load_settings(example, store={"url": f"sqlite:///{tmp_path / 'live.sqlite'}"},
                             exchange={"api_url": venue.url, "api_key": "k", "secret": "s", "rate_limit_ms": 1},
                             vault={"dir": str(tmp_path / "vault")})
    engine, store = build_engine(settings)
    try:
        assert engine.oms.portfolio.wallet == Decimal(300), "exchange.capital of the 1000 USDT wallet"
    finally:
        engine.stop("test")
        store.close()
    assert venue.leverage["BTCUSDT"] == 3 and venue.margin_type["BTCUSDT"] == "isolated"
