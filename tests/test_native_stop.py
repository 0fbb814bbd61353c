"""Stops on the exchange (``risk.stop_on_exchange``): the backtest's model of a resting stop
checked against the candles by hand, and the live engine against the fake Binance through
the real ccxt class: placed after the fill, canceled on a strategy exit, booked after a kill
while it filled, re-placed when the exchange drops it, refused by the venue -> alert."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.app import build_engine
from bot.config import load_settings
from engine.backtest.engine import BacktestConfig, run_backtest
from engine.data import load_ohlcv
from engine.models import OrderStatus, OrderType, Side
from engine.risk.limits import RiskLimits
from engine.store import load_state
from engine.strategy import create
from tests.fakes.binance import FakeBinance
from tests.live_helpers import MINUTE, real_1m

# ----- the backtest's model -----------------------------------------------------------------


@pytest.fixture(scope="module")
def sol_5m(data_dir):
    """Real SOL/USDT 5m candles: among them, candles that open below a stop set on the candle
    before (real gaps)."""
    df, _ = load_ohlcv(data_dir / "binance/SOL_USDT-5m.csv.gz", timeframe="5m")
    return df


def _stop_trades(df, **limits):
    config = BacktestConfig(symbol="SOL/USDT", timeframe="5m", limits=RiskLimits(stop_on_exchange=True, **limits))
    res = run_backtest(df, create("sma_cross", {}), config)
    return res, [t for t in res.trades if t.exit_reason.startswith("stop_loss")]


def test_backtest_fills_a_resting_stop_at_its_price_or_the_worse_open_of_a_gap(sol_5m):
    candles = sol_5m
    res, stops = _stop_trades(sol_5m, stop_loss_pct=1)
    assert len(stops) > 100
    ts = candles.timestamp.to_numpy()
    gaps = same_candle = 0
    for t in stops:
        stop = t.entry_price * Decimal("0.99")
        first, last = ts.searchsorted(t.entry_ts_ms), ts.searchsorted(t.exit_ts_ms)
        window = candles.iloc[first:last + 1]
        assert (window.low.iloc[:-1] > float(stop)).all(), "no earlier candle reached the stop"
        exit_candle = window.iloc[-1]
        assert exit_candle.low <= float(stop)
        if exit_candle.open <= float(stop) and last > first:
            gaps += 1
            assert t.exit_price == Decimal(repr(float(exit_candle.open))), "a gap through the stop fills at the open"
        else:
            assert t.exit_price == stop, "else exactly at the stop"
        same_candle += last == first
        assert t.exit_reason == f"stop_loss: stop {stop} on the exchange"
    assert same_candle >= 1, "a stop placed after the entry fill can trigger on the entry candle"
    assert gaps >= 3, "the real gaps of this file"


def test_trailing_stop_rises_with_each_high_and_the_exit_follows_it(sol_5m):
    candles = sol_5m
    _, stops = _stop_trades(sol_5m, stop_loss_pct=3, trailing_stop_pct=3)
    ts = candles.timestamp.to_numpy()
    trailed = 0
    for t in stops:
        first, last = ts.searchsorted(t.entry_ts_ms), ts.searchsorted(t.exit_ts_ms)
        highs = candles.high.iloc[first:last]  # the candles closed before the exit candle
        stop = t.entry_price * Decimal("0.97")
        if len(highs):
            stop = max(stop, Decimal(repr(float(highs.max()))) * Decimal("0.97"))
        trailed += stop > t.entry_price * Decimal("0.97")
        exit_open = Decimal(repr(float(candles.open.iloc[last])))
        assert t.exit_price == (exit_open if exit_open <= stop and last > first else stop), t
    assert trailed > 10


# ----- live, against the fake Binance ---------------------------------------------------------


@pytest.fixture
def venue(data_dir):
    v = FakeBinance(data_dir / "fixtures", {"BTCUSDT": real_1m(data_dir)}, MINUTE,
                    int(real_1m(data_dir).timestamp[300]) + 1000, {"USDT": "1000", "BTC": "0"})
    v.fault_sleep_secs = 1.0
    v.url = v.start()
    yield v
    v.stop()


def _engine(tmp_path, venue, **risk):
    settings = load_settings(
        mode="live", store={"url": f"sqlite:///{tmp_path / 'live.sqlite'}"}, vault={"dir": str(tmp_path / "vault")},
        exchange={"api_url": venue.url, "api_key": "k", "secret": "s", "timeout_ms": 1000, "rate_limit_ms": 5},
        strategy={"timeframe": "1m", "params": {"fast": 3, "slow": 8}, "stake": "300"},
        risk={"stop_on_exchange": True, **risk})
    return build_engine(settings)


def _close(engine, store, clean=True):
    if clean:
        engine.stop("test")
    engine.oms.gateway.close()
    store.close()


def _until(engine, venue, cond, limit=600):
    for _ in range(limit):
        venue.advance(MINUTE)
        engine.step()
        if cond():
            return
    raise AssertionError("condition not reached")


def _held(engine) -> bool:
    """A position beyond the dust Binance's base-currency fee leaves."""
    runner = engine.lanes[0].runner
    return runner.sellable(engine.oms.portfolio.position("BTC/USDT"), 1e12) > 0


def _venue_stops(venue, status=None):
    return [o for o in venue.orders.values() if o.type == "STOP_LOSS_LIMIT" and (status is None or o.status == status)]


def _agree(store, venue):
    state = load_state(store)
    ours = {o.client_order_id for o in state.orders}
    trades = {str(t["id"]) for t in venue.trades if venue.orders[t["orderId"]].client_order_id in ours}
    assert {f.trade_id for f in state.fills} == trades
    assert state.portfolio.position("BTC/USDT").qty == venue.total("BTC")
    return state


def test_stop_is_placed_after_the_fill_and_canceled_on_a_strategy_exit(tmp_path, venue):
    engine, store = _engine(tmp_path, venue, stop_loss_pct=20)  # far away: the strategy exits first
    try:
        pos = lambda: engine.oms.portfolio.position("BTC/USDT")  # noqa: E731
        _until(engine, venue, lambda: _held(engine))
        (stop,) = _venue_stops(venue, "NEW")
        avg = pos().avg_price
        assert stop.stop_price == (avg * Decimal("0.8")).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
        assert stop.orig_qty == pos().qty.quantize(Decimal("0.00001"), rounding="ROUND_DOWN"), "the sellable position"
        assert stop.price < stop.stop_price
        ours = engine.oms.orders[stop.client_order_id]
        assert ours.type is OrderType.STOP_LIMIT and ours.status is OrderStatus.OPEN, "stored like every order"
        _until(engine, venue, lambda: not _held(engine))
        assert stop.status == "CANCELED" and not _venue_stops(venue, "NEW")
        sells = [o for o in engine.oms.orders.values() if o.side is Side.SELL and o.status is OrderStatus.FILLED]
        assert len(sells) == 1 and "SELL" in sells[0].intent, "one exit: the strategy's"
        assert 0 < pos().qty < Decimal("0.00001"), "the fee in BTC left dust, which counts as flat"
        _until(engine, venue, lambda: _held(engine))  # the next entry gets a stop of its own
        (second,) = _venue_stops(venue, "NEW")
        assert second.stop_price == (pos().avg_price * Decimal("0.8")).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
        assert second.stop_price != stop.stop_price
        _agree(store, venue)
    finally:
        _close(engine, store)


def test_a_stop_that_filled_while_the_daemon_was_down_is_booked_at_start_up(tmp_path, venue):
    engine, store = _engine(tmp_path, venue, stop_loss_pct=0.3)
    _until(engine, venue, lambda: _held(engine) and _venue_stops(venue, "NEW"))
    (stop,) = _venue_stops(venue, "NEW")
    _close(engine, store, clean=False)  # killed: no clean stop, the stop keeps resting on the exchange
    for _ in range(600):
        venue.advance(MINUTE)
        with venue.lock:
            venue._match_resting()
        if stop.status == "FILLED":
            break
    assert stop.status == "FILLED", "the exchange protected the position while quantd was down"
    engine, store = _engine(tmp_path, venue, stop_loss_pct=0.3)  # restart: reconciliation books it
    try:
        assert not _held(engine)
        booked = engine.oms.orders[stop.client_order_id]
        assert booked.status is OrderStatus.FILLED and booked.filled_qty == stop.orig_qty
        _agree(store, venue)
    finally:
        _close(engine, store)


def test_a_stop_the_exchange_drops_is_placed_again(tmp_path, venue):
    engine, store = _engine(tmp_path, venue, stop_loss_pct=20)
    try:
        _until(engine, venue, lambda: _held(engine))
        (first,) = _venue_stops(venue, "NEW")
        venue.drop(first.client_order_id)
        venue.advance(MINUTE)
        engine.step()
        assert engine.oms.orders[first.client_order_id].status is OrderStatus.EXPIRED
        assert _held(engine)
        (again,) = _venue_stops(venue, "NEW")
        assert again.client_order_id != first.client_order_id and again.stop_price == first.stop_price
        _agree(store, venue)
    finally:
        _close(engine, store)


def test_a_venue_that_refuses_the_stop_flags_the_position_and_the_engine_enforces_it(tmp_path, venue):
    venue.refused_types = {"STOP_LOSS_LIMIT"}
    engine, store = _engine(tmp_path, venue, stop_loss_pct=0.3)
    events = []
    engine.bus.subscribe(events.append)
    try:
        _until(engine, venue, lambda: _held(engine))
        alerts = [e for e in events if e.kind == "unprotected_position"]
        assert alerts and "the exchange refused the stop of BTC/USDT" in alerts[0].reason
        assert "Invalid orderType" in alerts[0].reason and "quantd enforces it on closed candles" in alerts[0].reason
        stop_exit = lambda: [o for o in engine.oms.orders.values()  # noqa: E731
                             if o.side is Side.SELL and o.status is OrderStatus.FILLED and o.intent.startswith("stop_loss")]
        _until(engine, venue, stop_exit)
        assert "reached stop" in stop_exit()[0].intent, "the engine-side stop acted instead"
        tries = [o for o in engine.oms.orders.values() if o.type is OrderType.STOP_LIMIT]
        entries = [o for o in engine.oms.orders.values() if o.side is Side.BUY and o.status is OrderStatus.FILLED]
        assert all(o.status is OrderStatus.REJECTED for o in tries)
        assert len(tries) <= len(entries), "one refusal per position, not one per candle"
        _agree(store, venue)
    finally:
        _close(engine, store)



def test_a_trailing_stop_moves_the_stop_resting_on_the_exchange(tmp_path, venue):
    engine, store = _engine(tmp_path, venue, stop_loss_pct=5, trailing_stop_pct=0.2)
    try:
        _until(engine, venue, lambda: _held(engine))  # entry filled, its candle closed: the stop trailed its high
        initial, *_, current = sorted(_venue_stops(venue), key=lambda o: o.order_id)
        assert initial.stop_price == (engine.oms.portfolio.position("BTC/USDT").avg_price * Decimal("0.95")) \
            .quantize(Decimal("0.01"), rounding="ROUND_DOWN"), "first placed at the policy's 5%"
        assert initial.status == "CANCELED" and current.status == "NEW" and current.stop_price > initial.stop_price
        assert len(_venue_stops(venue, "NEW")) == 1, "replaced, never doubled"
        level = engine.risk.protections["BTC/USDT"].stop_price
        assert current.stop_price == level.quantize(Decimal("0.01"), rounding="ROUND_DOWN")
        _agree(store, venue)
    finally:
        _close(engine, store)
