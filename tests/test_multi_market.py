"""Several markets in one daemon: one account, one risk manager, one clock.

Paper lanes replay real Binance candles (BTC/USDT 1m and ETH/USDT 5m of April 2021, the
bundled BTC and ETH 5m samples); live lanes trade the fake Binance through the real ccxt
class.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from bot.app import build_engine
from bot.config import load_settings
from engine.errors import ConfigError
from engine.models import OrderStatus, OrderType, Side
from engine.portfolio import Portfolio
from engine.risk.base import HALT, RiskRule, Verdict
from engine.risk.breaker import BreakerState
from engine.store import load_state, open_store
from tests.db_helpers import rows
from tests.fakes.binance import FakeBinance
from tests.live_helpers import MINUTE

BTC_ETH = [{"strategy": "sma_cross", "symbol": "BTC/USDT", "timeframe": "5m", "params": {"fast": 5, "slow": 20},
            "stake": "2000"},
           {"strategy": "sma_cross", "symbol": "ETH/USDT", "timeframe": "5m", "params": {"fast": 5, "slow": 20},
            "stake": "2000"}]


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _daemon(tmp_path, strategies, **extra):
    settings = load_settings(store={"url": f"sqlite:///{tmp_path / 'q.sqlite'}"}, replay={"speed": 1.0},
                             strategies=strategies, **extra)
    engine, store = build_engine(settings)
    clock = _Clock()
    engine.lanes[0].market.feed._clock = clock  # one feed: the clock of every market
    return engine, clock, store


def _run(engine, clock, seconds):
    for _ in range(seconds):
        clock.t += 1.0
        engine.step()


def _record_order(engine) -> list:
    """Wrap each runner's on_candle to log (close time, symbol, engine clock) as processed."""
    seen = []
    for lane in engine.lanes:
        runner = lane.runner

        def spy(candle, now_ms=None, _runner=runner, _inner=runner.on_candle):
            seen.append((candle.ts_ms + _runner.tf_ms, _runner.symbol, now_ms))
            return _inner(candle, now_ms)
        runner.on_candle = spy
    return seen


@pytest.mark.pure_only
def test_two_markets_share_one_account_and_the_books_balance(tmp_path):
    engine, clock, store = _daemon(tmp_path, BTC_ETH)
    seen = _record_order(engine)
    _run(engine, clock, 1500)
    portfolio = engine.oms.portfolio
    engine.stop("test")
    store.close()
    assert {s for _, s, _ in seen} == {"BTC/USDT", "ETH/USDT"}
    assert [c for c, _, _ in seen] == sorted(c for c, _, _ in seen), "candles are processed in close-time order"
    assert all(now == close for close, _, now in seen), "the engine clock is the close of the candle processed"
    fills = rows(tmp_path / "q.sqlite", "SELECT symbol, side, qty, price, fee FROM fills ORDER BY id")
    assert {f[0] for f in fills} == {"BTC/USDT", "ETH/USDT"}, "both strategies traded"
    # one cash account: every fill of either market moved the same cash, to the cent and beyond
    cash = Decimal(10_000)
    for _, side, qty, price, fee in fills:
        sign = 1 if side == "buy" else -1
        cash -= sign * Decimal(qty) * Decimal(price) + Decimal(fee)
    assert portfolio.cash == cash
    ((stored_cash,),) = rows(tmp_path / "q.sqlite", "SELECT cash FROM accounts")
    assert Decimal(stored_cash) == cash
    keys = dict(rows(tmp_path / "q.sqlite", "SELECT key, last_ts_ms FROM candle_cursors"))
    assert set(keys) == {"sma_cross|BTC/USDT|5m", "sma_cross|ETH/USDT|5m"}
    snaps = [ts for (ts,) in rows(tmp_path / "q.sqlite", "SELECT ts_ms FROM equity_snapshots ORDER BY id")]
    assert len(snaps) == len(seen) and snaps == sorted(snaps)


def test_one_risk_manager_for_all_markets_caps_open_positions(tmp_path):
    engine, clock, store = _daemon(tmp_path, BTC_ETH, risk={"max_open_positions": 1})
    _run(engine, clock, 1500)
    engine.stop("test")
    store.close()
    held = {"BTC/USDT": Decimal(0), "ETH/USDT": Decimal(0)}
    most = 0
    for symbol, side, qty in rows(tmp_path / "q.sqlite", "SELECT symbol, side, qty FROM fills ORDER BY id"):
        held[symbol] += Decimal(qty) if side == "buy" else -Decimal(qty)
        most = max(most, sum(1 for q in held.values() if q > 0))
    assert most == 1, "never two positions at once"
    refused = rows(tmp_path / "q.sqlite", "SELECT DISTINCT json_extract(payload, '$.symbol') FROM events WHERE kind='risk_decision' "
                             "AND json_extract(payload, '$.rule')='max_open_positions'")
    assert refused, "the other market's entries were refused by the shared limit"


class _HaltOnSymbol(RiskRule):
    """Trips the breaker at the first state check after ``armed`` is set (a stand-in for any
    portfolio limit: drawdown, daily loss, losing streak)."""

    name = "test_halt"
    armed = False

    def on_state(self, view):
        return Verdict(self.name, HALT, "test limit reached", 1.0, 0.0) if self.armed else None


def test_a_halt_on_one_market_cancels_the_working_entries_of_every_market(tmp_path):
    """The breaker is shared: when a BTC candle trips it, an ETH entry still working must be
    canceled, not left to fill after the halt."""
    engine, clock, store = _daemon(tmp_path, BTC_ETH)
    _run(engine, clock, 30)
    eth_close = engine.marks.close["ETH/USDT"]
    working = engine.oms.submit(strategy="sma_cross", symbol="ETH/USDT", side=Side.BUY, signal_ts_ms=1, now_ms=1,
                                qty=Decimal("0.5"), order_type=OrderType.LIMIT,
                                price=Decimal(str(round(eth_close * 0.9, 2))))
    assert not working.status.is_terminal
    rule = _HaltOnSymbol()
    engine.risk.rules = [*engine.risk.rules, rule]
    rule.armed = True
    published = []
    engine.bus.subscribe(published.append)
    _run(engine, clock, 1)  # one close time: BTC's candle first (lane order), then ETH's
    engine.stop("test")
    store.close()
    assert engine.risk.breaker.state is BreakerState.HALTED
    assert working.status is OrderStatus.CANCELED
    (trip,) = [i for i, e in enumerate(published) if e.kind == "breaker_tripped"]
    (cancel,) = [i for i, e in enumerate(published) if e.kind == "order_canceled"]
    assert published[cancel].client_order_id == working.client_order_id and cancel > trip
    assert not [e for e in published if e.kind == "fill" and e.side == "buy"]


@pytest.mark.pure_only
def test_mixed_timeframes_and_start_dates_stay_in_time_order_and_resume(data_dir, tmp_path):
    eth = pd.read_csv(data_dir / "binance/ETH_USDT-5m.csv.gz")
    eth_file = tmp_path / "ETH_USDT-5m.csv"  # the real rows from 2021-04-20 18:00, 2h40m before the BTC file starts
    eth[eth.timestamp >= 1618941600000].to_csv(eth_file, index=False)
    markets = [{"strategy": "sma_cross", "symbol": "BTC/USDT", "timeframe": "1m", "params": {"fast": 5, "slow": 20},
                "stake": "1000", "data": str(data_dir / "binance/BTC_USDT-1m.csv.gz")},
               {"strategy": "rsi_reversion", "symbol": "ETH/USDT", "timeframe": "5m", "params": {"period": 14},
                "stake": "1000", "data": str(eth_file)}]
    engine, clock, store = _daemon(tmp_path, markets)
    seen = _record_order(engine)
    _run(engine, clock, 150)
    engine.stop("test")
    store.close()
    closes = [c for c, _, _ in seen]
    assert closes == sorted(closes), "one clock for both markets"
    first_btc = next(i for i, (_, s, _) in enumerate(seen) if s == "BTC/USDT")
    assert first_btc == 32 and {s for _, s, _ in seen[:32]} == {"ETH/USDT"}, "ETH alone until BTC's file starts"
    after = [s for _, s, _ in seen[first_btc:]]
    assert after.count("ETH/USDT") * 5 == pytest.approx(after.count("BTC/USDT"), abs=5), "then 5 BTC 1m per ETH 5m"
    cursors = dict(rows(tmp_path / "q.sqlite", "SELECT key, last_ts_ms FROM candle_cursors"))

    engine2, clock2, store2 = _daemon(tmp_path, markets)
    seen2 = _record_order(engine2)
    _run(engine2, clock2, 300)
    engine2.stop("test")
    store2.close()
    first = {}
    for close, symbol, _ in seen2:
        first.setdefault(symbol, close)
    assert first["BTC/USDT"] == cursors["sma_cross|BTC/USDT|1m"] + 2 * MINUTE, "resumed after its cursor"
    assert first["ETH/USDT"] > cursors["rsi_reversion|ETH/USDT|5m"], "no ETH candle twice"
    snaps = rows(tmp_path / "q.sqlite", "SELECT ts_ms FROM equity_snapshots ORDER BY id")
    assert len(snaps) == len(seen) + len(seen2)


def test_market_config_is_checked_before_anything_starts(tmp_path):
    url = {"url": f"sqlite:///{tmp_path / 'q.sqlite'}"}
    with pytest.raises(ConfigError, match=r"strategies\.1\.symbol: BTC/USDT is already traded by strategies\.0"):
        load_settings(store=url, strategies=[BTC_ETH[0], BTC_ETH[0]])
    with pytest.raises(ConfigError, match="one quote currency"):
        load_settings(store=url, strategies=[BTC_ETH[0], {"symbol": "ETH/BTC"}])
    with pytest.raises(ConfigError, match="not both"):
        load_settings(store=url, strategy={"symbol": "ETH/USDT"}, strategies=BTC_ETH)
    with pytest.raises(ConfigError, match=r"strategies\.1: sma_cross: parameter fast"):
        load_settings(store=url, strategies=[BTC_ETH[0], {**BTC_ETH[1], "params": {"fast": "x"}}])
    settings = load_settings(store=url, strategies=[BTC_ETH[0], {"symbol": "SOL/USDT"}])
    with pytest.raises(ConfigError, match=r"strategies\.1\.data: no bundled sample SOL_USDT-5m\.csv\.gz"):
        build_engine(settings)
    assert not (tmp_path / "q.sqlite").exists() or load_state_empty(tmp_path)


def test_the_shipped_multi_market_example_runs_on_the_bundled_samples(tmp_path):
    """deploy/examples/multi-market.yaml: no params for rsi_reversion means its own defaults."""
    example = Path(__file__).parents[1] / "deploy/examples/multi-market.yaml"
    settings = load_settings(example, store={"url": f"sqlite:///{tmp_path / 'q.sqlite'}"})
    assert [(m.name, m.symbol, m.params) for m in settings.markets()][1] == ("rsi_reversion", "ETH/USDT", {})
    engine, store = build_engine(settings)
    try:
        clock = _Clock()
        engine.lanes[0].market.feed._clock = clock
        engine.step()  # the replay clock starts at the first poll
        clock.t = 1.0  # speed 50: 50 close times, i.e. 100 candles over the two markets
        assert engine.step() == 100
        last_open = int(pd.Timestamp("2020-12-15 04:05", tz="UTC").timestamp() * 1000)  # 50th candle of each file
        assert [lane.last_processed_ms for lane in engine.lanes] == [last_open, last_open]
    finally:
        store.close()


def load_state_empty(tmp_path) -> bool:
    store = open_store(f"sqlite:///{tmp_path / 'q.sqlite'}")
    try:
        return load_state(store) is None or not load_state(store).orders
    finally:
        store.close()


def test_strategies_list_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("QUANTD_STRATEGIES", '[{"strategy": "rsi_reversion", "symbol": "ETH/USDT", "params": {}}]')
    settings = load_settings(store={"url": f"sqlite:///{tmp_path / 'q.sqlite'}"})
    ((m),) = settings.markets()
    assert (m.name, m.symbol, m.timeframe) == ("rsi_reversion", "ETH/USDT", "5m")


# ----- live: two markets on the fake Binance, through the real ccxt class ------------------------

@pytest.fixture
def two_market_venue(data_dir):
    btc = pd.read_csv(data_dir / "binance/BTC_USDT-1m.csv.gz")
    eth = pd.read_csv(data_dir / "binance/ETH_USDT-1m.csv.gz")
    venue = FakeBinance(data_dir / "fixtures", {"BTCUSDT": btc, "ETHUSDT": eth}, MINUTE,
                        int(btc.timestamp[300]) + 1000, {"USDT": "2000", "BTC": "0", "ETH": "0.5"})
    venue.fault_sleep_secs = 1.0
    venue.url = venue.start()
    yield venue
    venue.stop()


def _live(tmp_path, venue, strategies):
    params = {"fast": 3, "slow": 8}
    settings = load_settings(
        mode="live", store={"url": f"sqlite:///{tmp_path / 'live.sqlite'}"}, vault={"dir": str(tmp_path / "vault")},
        exchange={"api_url": venue.url, "api_key": "k", "secret": "s", "timeout_ms": 1000, "rate_limit_ms": 5},
        strategies=[{"symbol": s, "timeframe": "1m", "params": params, "stake": "300"} for s in strategies])
    return build_engine(settings)


def test_live_markets_share_the_account_and_reconcile_per_asset(tmp_path, two_market_venue):
    venue = two_market_venue
    engine, store = _live(tmp_path, venue, ["BTC/USDT"])
    for _ in range(20):
        venue.advance(MINUTE)
        engine.step()
    engine.stop("test")
    engine.oms.gateway.close()
    store.close()
    # the config grows a second market: ETH joins the baseline at its exchange balance, no drift
    engine, store = _live(tmp_path, venue, ["BTC/USDT", "ETH/USDT"])
    try:
        for _ in range(60):
            venue.advance(MINUTE)
            engine.step()
        engine.reconcile()
        report = engine.reconciler.last_report
        assert report.complete and [i for i in report.issues if i.kind == "balance_drift"] == []
        state = load_state(store)
    finally:
        engine.stop("test")
        engine.oms.gateway.close()
        store.close()
    assert state.baseline == {"USDT": Decimal(2000), "BTC": Decimal(0), "ETH": Decimal("0.5")}
    assert {f.symbol for f in state.fills} == {"BTC/USDT", "ETH/USDT"}, "both markets traded"
    portfolio = Portfolio(Decimal(2000), "USDT")
    for fill in state.fills:
        portfolio.apply(fill)
    assert state.portfolio.cash == portfolio.cash == venue.total("USDT")
    assert state.portfolio.position("BTC/USDT").qty == venue.total("BTC")
    assert state.portfolio.position("ETH/USDT").qty == venue.total("ETH") - Decimal("0.5")
    for order in state.orders:
        assert len(venue.orders_by_client_id(order.client_order_id)) == 1
    sides = {(f.symbol, f.side) for f in state.fills}
    assert ("BTC/USDT", Side.BUY) in sides and ("ETH/USDT", Side.BUY) in sides


@pytest.mark.pure_only
def test_the_markets_of_one_close_time_share_one_cursor_commit_and_a_crash_redoes_them(tmp_path):
    """Three markets closing together: their cursors and equity snapshots are one commit
    (the daemon's latency with many markets); a step that dies mid-group leaves the
    uncommitted candles to be processed again on restart, without a second order."""
    from sqlalchemy import event

    slow = {"params": {"fast": 30, "slow": 60}}  # no signal in the first 60 candles: only cursor commits
    three = [{**m, **slow} for m in BTC_ETH] + [
        {**BTC_ETH[0], **slow, "symbol": "SOL/USDT", "data": str(_sample("BTC_USDT-5m"))}]
    engine, clock, store = _daemon(tmp_path, three)
    commits = []
    event.listen(store.engine, "commit", lambda conn: commits.append(1))
    _run(engine, clock, 40)
    assert engine.candles_processed >= 3 * 38 and not engine.oms.orders
    assert len(commits) == engine.candles_processed // 3, "one commit per close time, not one per market"
    keys = dict(rows(tmp_path / "q.sqlite", "SELECT key, last_ts_ms FROM candle_cursors"))
    assert len(set(keys.values())) == 1 and len(keys) == 3

    # die after the first market of the next close time: its cursor was never committed
    lane0 = engine.lanes[0].runner
    real_finish = lane0.finish_candle
    lane0.finish_candle = lambda candle: (real_finish(candle), (_ for _ in ()).throw(KeyboardInterrupt()))[0]
    clock.t += 1.0
    with pytest.raises(KeyboardInterrupt):
        engine.step()
    store.close()
    after = dict(rows(tmp_path / "q.sqlite", "SELECT key, last_ts_ms FROM candle_cursors"))
    assert after["sma_cross|BTC/USDT|5m"] in (keys["sma_cross|BTC/USDT|5m"],
                                             keys["sma_cross|BTC/USDT|5m"] + 5 * MINUTE), "all or one commit"
    engine2, clock2, store2 = _daemon(tmp_path, three)
    _run(engine2, clock2, 300)
    engine2.stop("test")
    store2.close()
    final = dict(rows(tmp_path / "q.sqlite", "SELECT key, last_ts_ms FROM candle_cursors"))
    assert len(set(final.values())) == 1, "every market caught up to the same close time"
    intents = rows(tmp_path / "q.sqlite", "SELECT strategy, symbol, side, signal_ts_ms FROM orders")
    assert len(intents) == len(set(intents)) > 0, "orders after the restart, none twice"
    approvals = rows(tmp_path / "q.sqlite", "SELECT payload FROM events WHERE kind = 'risk_decision'")
    approved = [p for (p,) in approvals if '"approve"' in p or '"resize"' in p]
    assert len(approved) == len(intents), "each order is stored with the risk decision that approved it"


def _sample(name: str) -> Path:
    from gateways import sample_path

    return sample_path(f"{name}.csv.gz")
