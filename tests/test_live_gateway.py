"""Live trading through the real ccxt binance class against a fake Binance on 127.0.0.1.

Every fault test ends by checking that the store and the exchange agree: one venue order per
client order id, the same fills, the same balances.
"""

from __future__ import annotations

import time
from decimal import ROUND_DOWN, Decimal

import pytest

from bot.alerts import format_event
from engine.errors import VenueUnavailable
from engine.models import OrderStatus, OrderType, Side
from engine.risk.breaker import BreakerState
from engine.store import load_state
from engine.store.reconciliation import ReconciliationIssueRow
from gateways.ccxt_errors import RetryPolicy
from tests.live_helpers import candle_now, expected_from_fills, make_gateway, make_venue, open_desk

BTC_STEP = Decimal("0.00001")


@pytest.fixture
def venue(data_dir):
    v = make_venue(data_dir)
    yield v
    v.stop()


@pytest.fixture
def gateway(venue):
    gw = make_gateway(venue)
    yield gw
    gw.close()


@pytest.fixture
def desk(tmp_path, gateway):
    d = open_desk(tmp_path, gateway, {"USDT": Decimal("1000"), "BTC": Decimal(0)})
    yield d
    d.store.close()


def assert_store_matches_venue(desk, venue):
    """Every stored order is on the venue once, fills equal the venue's trades, balances agree."""
    state = load_state(desk.store)
    for order in state.orders:
        on_venue = venue.orders_by_client_id(order.client_order_id)
        assert len(on_venue) <= 1, f"{order.client_order_id} is on the venue {len(on_venue)} times"
        if order.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED, OrderStatus.OPEN):
            assert len(on_venue) == 1
    ours = {o.client_order_id for o in state.orders}
    venue_trades = {str(t["id"]) for t in venue.trades if venue.orders[t["orderId"]].client_order_id in ours}
    assert {f.trade_id for f in state.fills} == venue_trades
    cash, btc = expected_from_fills(state.fills, Decimal("1000"))
    assert state.portfolio.cash == cash
    assert state.portfolio.position("BTC/USDT").qty == btc == venue.total("BTC")


def test_markets_come_from_the_real_exchange_info(gateway):
    inst = gateway.instrument("BTC/USDT")
    assert (inst.amount_step, inst.price_step, inst.min_notional) == (BTC_STEP, Decimal("0.01"), Decimal("10.0"))


def test_market_buy_books_the_fee_taken_in_btc(desk, venue):
    order = desk.submit_buy("100")
    assert order.status is OrderStatus.FILLED and order.exchange_order_id
    pos = desk.oms.portfolio.position("BTC/USDT")
    trade = venue.trades[0]
    assert trade["commissionAsset"] == "BTC"
    assert pos.qty == Decimal(trade["qty"]) - Decimal(trade["commission"]) == venue.total("BTC")
    assert desk.oms.portfolio.cash == Decimal("1000") - Decimal(trade["quoteQty"]) == venue.total("USDT")
    assert_store_matches_venue(desk, venue)


@pytest.mark.parametrize("fault", ["timeout_after", "drop_after", "unknown_1007", "http_503"])
def test_lost_answer_with_the_order_placed_is_adopted_not_duplicated(desk, venue, fault):
    venue.inject("POST /api/v3/order", fault)
    order = desk.submit_buy("100")
    assert order.status is OrderStatus.NEW and "outcome unknown" in order.reason
    desk.oms.sync("BTC/USDT", candle_now(venue), 2)  # the next candle resolves it by client order id
    assert order.status is OrderStatus.FILLED
    assert len(venue.orders_by_client_id(order.client_order_id)) == 1
    posts = [r for r in venue.requests if r[:2] == ("POST", "/api/v3/order")]
    assert len(posts) == 1
    assert_store_matches_venue(desk, venue)


@pytest.mark.parametrize("fault", ["timeout_before", "drop_before"])
def test_lost_request_is_resent_once_with_the_same_client_id(desk, venue, fault):
    venue.inject("POST /api/v3/order", fault)
    order = desk.submit_buy("100")
    assert order.status is OrderStatus.NEW
    desk.oms.sync("BTC/USDT", candle_now(venue), 2)
    assert order.status is OrderStatus.FILLED
    ids = [r[2]["newClientOrderId"] for r in venue.requests if r[:2] == ("POST", "/api/v3/order")]
    lookups = [r for r in venue.requests if r[:2] == ("GET", "/api/v3/order")]
    assert ids == [order.client_order_id] and lookups, "resent only after the lookup proved it absent"
    assert len(venue.orders_by_client_id(order.client_order_id)) == 1
    assert_store_matches_venue(desk, venue)


def test_unanswerable_lookup_keeps_the_order_new_and_blocks_nothing_else(desk, venue):
    venue.inject("POST /api/v3/order", "timeout_before")
    order = desk.submit_buy("100")
    venue.inject("GET /api/v3/order", *["http_429"] * 3)
    desk.oms.sync("BTC/USDT", candle_now(venue), 2)
    assert order.status is OrderStatus.NEW, "never resent while the venue cannot say whether it has it"
    assert not [r for r in venue.requests if r[:2] == ("POST", "/api/v3/order")][1:]
    desk.oms.sync("BTC/USDT", candle_now(venue), 3)
    assert order.status is OrderStatus.FILLED and len(venue.orders_by_client_id(order.client_order_id)) == 1


def test_insufficient_funds_is_rejected_once_with_an_event(desk, venue):
    order = desk.submit_buy("5000")
    assert order.status is OrderStatus.REJECTED and "InsufficientFunds" in order.reason
    assert len([r for r in venue.requests if r[:2] == ("POST", "/api/v3/order")]) == 1
    assert [e.kind for e in desk.drain()] == ["rejection"]
    desk.oms.sync("BTC/USDT", candle_now(venue), 2)
    assert len([r for r in venue.requests if r[:2] == ("POST", "/api/v3/order")]) == 1, "no retry"


def test_below_min_notional_is_rejected_locally_without_a_request(desk, venue):
    order = desk.submit_buy("9.99")
    assert order.status is OrderStatus.REJECTED and "minimum 10" in order.reason
    assert not [r for r in venue.requests if r[0] == "POST"]
    assert [e.kind for e in desk.drain()] == ["rejection"]


def test_venue_side_filter_failure_is_a_rejection_not_a_retry(desk, venue):
    sell = desk.oms.submit(strategy="t", symbol="BTC/USDT", side=Side.SELL, signal_ts_ms=1, now_ms=1,
                           qty=Decimal("0.001"), order_type=OrderType.LIMIT, price=Decimal("5"))
    assert sell.status is OrderStatus.REJECTED  # 0.001 x 5 USDT is below the minimum notional
    assert not [r for r in venue.requests if r[0] == "POST"], "caught locally from the market's limits"


def test_reads_back_off_on_429_418_and_maintenance_honouring_retry_after(venue):
    gw = make_gateway(venue, RetryPolicy(attempts=4, initial_secs=0.01, max_wait_secs=2, jitter_secs=0.01))
    try:
        venue.inject("GET /api/v3/account", "http_429", "http_418", "maintenance")
        start = time.monotonic()
        balances = gw.fetch_balances()
        assert balances["USDT"] == Decimal("1000")
        assert time.monotonic() - start >= 2.0, "Retry-After: 1 honoured twice"
        venue.inject("GET /api/v3/account", *["maintenance"] * 4)
        with pytest.raises(VenueUnavailable, match="OnMaintenance"):
            gw.fetch_balances()
    finally:
        gw.close()


def test_partial_fill_then_cancel(desk, venue):
    order = desk.oms.submit(strategy="t", symbol="BTC/USDT", side=Side.BUY, signal_ts_ms=1, now_ms=1,
                            qty=Decimal("0.002"), order_type=OrderType.LIMIT, price=Decimal("50000"))
    assert order.status is OrderStatus.OPEN
    venue.fill_partially(order.client_order_id, "0.0008")
    fills = desk.oms.sync("BTC/USDT", candle_now(venue), 2)
    assert order.status is OrderStatus.PARTIALLY_FILLED and [f.qty for f in fills] == [Decimal("0.0008")]
    assert desk.oms.portfolio.position("BTC/USDT").qty == Decimal("0.0008") - Decimal("0.0000008")
    assert desk.oms.cancel(order, "operator cancel", 3)
    assert order.status is OrderStatus.CANCELED and order.filled_qty == Decimal("0.0008")
    assert venue.orders_by_client_id(order.client_order_id)[0].status == "CANCELED"
    assert venue.total("USDT") == desk.oms.portfolio.cash
    assert_store_matches_venue(desk, venue)


def test_a_fill_reported_twice_is_booked_once(desk, venue):
    venue.duplicate_fill_reports = True
    order = desk.oms.submit(strategy="t", symbol="BTC/USDT", side=Side.BUY, signal_ts_ms=1, now_ms=1,
                            qty=Decimal("0.002"), order_type=OrderType.LIMIT, price=Decimal("50000"))
    venue.fill_partially(order.client_order_id, "0.002")
    assert len(desk.oms.sync("BTC/USDT", candle_now(venue), 2)) == 1
    assert desk.oms.sync("BTC/USDT", candle_now(venue), 3) == []
    assert order.filled_qty == Decimal("0.002") and order.status is OrderStatus.FILLED
    assert_store_matches_venue(desk, venue)


def test_external_order_is_reported_once_and_left_alone(desk, venue):
    venue.place_external("BTCUSDT", "BUY", "0.001", "30000")
    report = desk.reconciler.run(1)
    assert [i.kind for i in report.issues] == ["external_order"]
    assert [e.kind for e in desk.drain()] == ["external_order"]
    assert desk.reconciler.run(2).issues == []
    assert [o.status for o in venue.orders.values()] == ["NEW"], "never touched"
    with desk.store.read() as s:
        assert s.query(ReconciliationIssueRow).filter_by(kind="external_order").count() == 1


def test_external_order_the_account_covers_is_adopted_then_managed(tmp_path, venue, gateway):
    desk = open_desk(tmp_path, gateway, {"USDT": Decimal("1000"), "BTC": Decimal(0)}, adopt=True)
    exchange_id = venue.place_external("BTCUSDT", "BUY", "0.001", "30000", client_order_id="web_manual_7")
    report = desk.reconciler.run(1)
    assert [(i.kind, i.action) for i in report.issues] == [("external_order", "adopted: quantd manages it from now on")]
    events = desk.drain()
    assert [e.kind for e in events] == ["order_submitted", "external_order"]
    assert format_event(events[1]).endswith("not placed by quantd, adopted: quantd manages it from now on")
    (order,) = desk.oms.open_orders("BTC/USDT")
    assert (order.client_order_id, order.strategy, order.status, order.exchange_order_id, order.qty, order.price) == (
        "web_manual_7", "external", OrderStatus.OPEN, str(exchange_id), Decimal("0.001"), Decimal("30000"))
    venue.fill_partially("web_manual_7", "0.0004")
    desk.oms.sync("BTC/USDT", candle_now(venue), 2)
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.filled_qty == Decimal("0.0004")
    assert desk.reconciler.run(3).issues == [], "its fill is the daemon's now: no balance drift"
    assert_store_matches_venue(desk, venue)
    desk.store.close()
    again = open_desk(tmp_path, gateway, {}, adopt=True)
    assert again.reconciler.run(4).issues == [], "adopted once, known after a restart"
    again.oms.cancel_entries("circuit breaker halted", 5)  # a halt cancels adopted entries like its own
    assert [o.status for o in venue.orders.values()] == ["CANCELED"]
    assert load_state(again.store).orders[0].status is OrderStatus.CANCELED
    assert_store_matches_venue(again, venue)
    again.store.close()


def test_external_orders_the_daemon_cannot_cover_or_while_halted_are_left_alone(tmp_path, data_dir):
    venue = make_venue(data_dir, usdt="5000", btc="0.01")
    gateway = make_gateway(venue)
    try:
        desk = open_desk(tmp_path, gateway, {"USDT": Decimal("5000"), "BTC": Decimal("0.01")}, cash="1000", adopt=True)
        venue.place_external("BTCUSDT", "BUY", "0.1", "30000", client_order_id="web_big_buy")
        venue.place_external("BTCUSDT", "SELL", "0.005", "90000", client_order_id="web_own_btc")
        report = desk.reconciler.run(1)
        actions = {i.client_order_id: i.action for i in report.issues}
        assert actions == {
            "web_big_buy": "left alone: not adopted, it needs 3030.0000 USDT, the daemon's free cash is 1000",
            "web_own_btc": "left alone: not adopted, it sells 0.005, the daemon's free position is 0"}
        assert desk.oms.orders == {} and desk.reconciler.run(2).issues == []
        desk.risk.breaker.trip("test: daily loss", 3)  # a buy adopted now would only be canceled
        venue.place_external("BTCUSDT", "BUY", "0.001", "30000", client_order_id="web_small_buy")
        (issue,) = desk.reconciler.run(4).issues
        assert issue.action == "left alone: not adopted, the circuit breaker is halted: no new entries"
        assert desk.oms.orders == {}
        assert {o.status for o in venue.orders.values()} == {"NEW"}, "never touched"
        desk.store.close()
    finally:
        gateway.close()
        venue.stop()


def test_stop_limit_sell_rests_with_its_stop_price_at_precision(desk, venue):
    desk.submit_buy("100")
    held = desk.oms.portfolio.position("BTC/USDT").qty
    low = Decimal(repr(candle_now(venue).low))
    order = desk.oms.submit(strategy="t", symbol="BTC/USDT", side=Side.SELL, signal_ts_ms=2, now_ms=2, qty=held,
                            order_type=OrderType.STOP_LIMIT, price=low * Decimal("0.949999"),
                            stop_price=low * Decimal("0.951234567"))
    assert order.status is OrderStatus.OPEN, order.reason
    (placed,) = [o for o in venue.orders.values() if o.client_order_id == order.client_order_id]
    assert placed.type == "STOP_LOSS_LIMIT"
    assert placed.stop_price == (low * Decimal("0.951234567")).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    assert placed.price == (low * Decimal("0.949999")).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    # a stop above the market would trigger at once: Binance refuses it, nothing is retried
    above = desk.oms.submit(strategy="t", symbol="BTC/USDT", side=Side.SELL, signal_ts_ms=3, now_ms=3,
                            qty=Decimal("0.0001"), order_type=OrderType.STOP_LIMIT, price=low * 2, stop_price=low * 2)
    assert above.status is OrderStatus.REJECTED and "would trigger immediately" in above.reason
    missing = desk.oms.submit(strategy="t", symbol="BTC/USDT", side=Side.SELL, signal_ts_ms=4, now_ms=4,
                              qty=Decimal("0.0001"), order_type=OrderType.STOP_LIMIT, price=low)
    assert missing.status is OrderStatus.REJECTED and "needs a stop_price" in missing.reason
    assert len(venue.orders) == 2, "the refused stops never reached the book"
    assert_store_matches_venue(desk, venue)


def test_balance_drift_alerts_halts_and_cancels_working_entries(desk, venue):
    desk.submit_buy("100")
    candle = candle_now(venue)
    entry = desk.oms.submit(strategy="sma_cross", symbol="BTC/USDT", side=Side.BUY, signal_ts_ms=candle.ts_ms,
                            now_ms=1, qty=Decimal("0.001"), order_type=OrderType.LIMIT,
                            price=Decimal(str(round(candle.low * 0.8, 2))))
    assert entry.status is OrderStatus.OPEN
    assert desk.reconciler.run(1).issues == []
    venue.free["BTC"] -= Decimal("0.001")  # someone sold part of it by hand
    report = desk.reconciler.run(2)
    assert [i.kind for i in report.issues] == ["balance_drift"]
    assert desk.risk.breaker.state is BreakerState.HALTED and "BTC" in desk.risk.breaker.reason
    assert [e.kind for e in desk.drain()][-3:] == ["reconciliation_drift", "breaker_tripped", "order_canceled"]
    assert entry.status is OrderStatus.CANCELED and venue.orders[int(entry.exchange_order_id)].status == "CANCELED"
    assert desk.reconciler.run(3).issues == [], "the same drift is reported once"
    assert load_state(desk.store).breaker.state is BreakerState.HALTED


def test_order_that_filled_while_we_were_down_gets_its_fills(tmp_path, venue, gateway, desk):
    order = desk.oms.submit(strategy="t", symbol="BTC/USDT", side=Side.BUY, signal_ts_ms=1, now_ms=1,
                            qty=Decimal("0.002"), order_type=OrderType.LIMIT, price=Decimal("50000"))
    desk.store.close()
    venue.fill_partially(order.client_order_id, "0.002")  # while the daemon is stopped
    again = open_desk(tmp_path, gateway, {})
    report = again.reconciler.run(5)
    assert [i.kind for i in report.issues] == ["order_changed_while_away"]
    state = load_state(again.store)
    assert state.orders[0].status is OrderStatus.FILLED and len(state.fills) == 1
    assert state.portfolio.position("BTC/USDT").qty == venue.total("BTC")
    again.store.close()


def test_order_unknown_to_the_venue_is_marked_and_alerted(tmp_path, venue, gateway, desk):
    order = desk.oms.submit(strategy="t", symbol="BTC/USDT", side=Side.BUY, signal_ts_ms=1, now_ms=1,
                            qty=Decimal("0.002"), order_type=OrderType.LIMIT, price=Decimal("50000"))
    with venue.lock:  # the venue loses it (e.g. an account reset on a testnet)
        venue._release(venue.orders_by_client_id(order.client_order_id)[0])
        venue.orders.clear()
    report = desk.reconciler.run(5)
    assert [i.kind for i in report.issues] == ["unknown_on_venue"]
    assert order.status is OrderStatus.EXPIRED
    assert "reconciliation_drift" in [e.kind for e in desk.drain()]


def test_market_sell_below_min_notional_is_rejected_locally_at_the_last_close(desk, venue):
    desk.submit_buy("100")
    desk.oms.sync("BTC/USDT", candle_now(venue), 2)  # the gateway learns the last close
    sell = desk.oms.submit(strategy="t", symbol="BTC/USDT", side=Side.SELL, signal_ts_ms=3, now_ms=3,
                           qty=Decimal("0.0001"))  # about 5.6 USDT at 2021-04 prices
    assert sell.status is OrderStatus.REJECTED and "below the market's minimum" in sell.reason
    assert len([r for r in venue.requests if r[:2] == ("POST", "/api/v3/order")]) == 1, "only the buy was sent"


def test_sending_orders_leaves_the_callers_decimal_context_alone(desk, venue):
    """ccxt's amount/price_to_precision set the calling thread's context to ROUND_HALF_UP with
    an Underflow trap; the engine thread's money maths (and alert texts) must not change with
    it. Found by the chaos campaign: the same fill gave 'notional 199.51' in the engine thread
    and '199.50' elsewhere."""
    import decimal

    from engine.models import OrderType, Side

    with decimal.localcontext() as ctx:  # this test's own thread context, restored after
        ctx.rounding, ctx.traps[decimal.Underflow] = decimal.ROUND_HALF_EVEN, False
        desk.submit_buy("100")
        desk.oms.submit(strategy="t", symbol="BTC/USDT", side=Side.SELL, signal_ts_ms=2, now_ms=2,
                        qty=Decimal("0.001"), order_type=OrderType.LIMIT, price=Decimal("99999.991"))
        assert decimal.getcontext().rounding == decimal.ROUND_HALF_EVEN
        assert not decimal.getcontext().traps[decimal.Underflow]


def test_client_ids_carry_the_stores_instance_tag_and_fit_the_venues_rule(tmp_path):
    import re

    from engine.oms import make_client_order_id
    from engine.store import open_store
    from engine.store.state import instance_tag

    a, b = open_store(f"sqlite:///{tmp_path / 'a.sqlite'}"), open_store(f"sqlite:///{tmp_path / 'b.sqlite'}")
    tag_a, tag_b = instance_tag(a), instance_tag(b)
    assert tag_a != tag_b and re.fullmatch(r"[a-z0-9]{6}", tag_a)
    assert instance_tag(a) == tag_a, "kept in the store"
    a.close(), b.close()
    assert instance_tag(open_store(f"sqlite:///{tmp_path / 'a.sqlite'}")) == tag_a, "and across restarts"
    first_a, first_b = make_client_order_id(f"qd-{tag_a}", "sma_cross", 1), make_client_order_id(f"qd-{tag_b}", "sma_cross", 1)
    assert first_a != first_b, "two fresh stores never send the same id"
    longest = make_client_order_id(f"qd-{tag_a}", "my.package:VeryLongStrategyName", 10**12)
    assert len(longest) <= 36 and re.fullmatch(r"[.A-Z:/a-z0-9_-]{1,36}", longest), longest


def test_a_timed_out_submission_never_adopts_another_intents_order_under_its_client_id(desk, venue):
    """A second daemon or a restored copy could have used the id: the venue's order is adopted
    only when side and amount match the stored intent; otherwise the intent is rejected."""
    venue.inject("POST /api/v3/order", "timeout_before")
    order = desk.submit_buy("100")
    assert order.status is OrderStatus.NEW
    venue.free["BTC"] = Decimal("0.01")  # somebody else's BTC, sold under our id
    other = venue.place_external("BTCUSDT", "SELL", "0.00100", "60000", client_order_id=order.client_order_id)
    desk.oms.sync("BTC/USDT", candle_now(venue), 2)
    assert order.status is OrderStatus.REJECTED, "not adopted, and not resent"
    assert "client order id collision" in order.reason and "side sell" in order.reason
    assert [o.order_id for o in venue.orders_by_client_id(order.client_order_id)] == [other]
    rejected = [e for e in desk.drain() if e.kind == "rejection"]
    assert rejected and "collision" in format_event(rejected[-1])
    assert load_state(desk.store).portfolio.position("BTC/USDT").qty == 0


def test_intent_mismatch_compares_side_quantity_and_quote_amount():
    from engine.models import Order, OrderUpdate
    from engine.oms import intent_mismatch

    sell = Order("qd-abc123-t-1", "t", "BTC/USDT", Side.SELL, OrderType.MARKET, 0, 0, qty=Decimal("0.01"))
    buy = Order("qd-abc123-t-2", "t", "BTC/USDT", Side.BUY, OrderType.MARKET, 0, 0, quote_qty=Decimal("100"))
    up = lambda **kw: OrderUpdate("x", OrderStatus.FILLED, "1", **kw)  # noqa: E731
    assert intent_mismatch(sell, up(side=Side.SELL, amount=Decimal("0.010000000001"))) == ""
    assert "quantity 0.02" in intent_mismatch(sell, up(side=Side.SELL, amount=Decimal("0.02")))
    assert "side buy" in intent_mismatch(sell, up(side=Side.BUY, amount=Decimal("0.01")))
    assert intent_mismatch(buy, up(side=Side.BUY, cost=Decimal("100"))) == ""
    assert "quote amount 50" in intent_mismatch(buy, up(side=Side.BUY, cost=Decimal("50")))
    assert intent_mismatch(buy, up()) == "", "a venue that reports nothing cannot be checked"


def test_a_resting_order_that_fills_while_balances_are_read_is_booked_not_called_a_drift(desk, venue):
    """Found by the chaos campaign with stops on the exchange: a stop filled between the order
    checks and the balance read, and reconciliation halted the breaker on a false drift."""
    low = Decimal(repr(float(venue.forming("BTCUSDT")["low"])))
    order = desk.oms.submit(strategy="t", symbol="BTC/USDT", side=Side.BUY, signal_ts_ms=1, now_ms=1,
                            qty=Decimal("0.001"), price=(low * Decimal("0.5")).quantize(Decimal("0.01")),
                            order_type=OrderType.LIMIT, intent="test")
    assert order.status is OrderStatus.OPEN
    handle = venue.handle

    def fill_on_balance_read(method, path, params):
        if path == "/api/v3/account" and order.status is OrderStatus.OPEN and not venue.trades:
            venue.fill_partially(order.client_order_id, "0.001")  # it fills just as the balances are read
        return handle(method, path, params)

    venue.handle = fill_on_balance_read
    report = desk.reconciler.run(10)
    assert [i.kind for i in report.issues if i.kind == "balance_drift"] == []
    assert order.status is OrderStatus.FILLED and desk.risk.breaker.state is BreakerState.RUNNING
    assert_store_matches_venue(desk, venue)
