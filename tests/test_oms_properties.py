"""Property-based tests (hypothesis) of the OMS state machine and the portfolio's accounting."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import IllegalTransition, OrderError
from engine.models import Fill, OrderStatus, OrderType, OrderUpdate, Side
from engine.oms import _ALLOWED, OrderManager
from engine.portfolio import Portfolio
from tests.live_helpers import expected_from_fills


class _Journal:
    def __getattr__(self, name):
        return lambda *a, **k: None


class _NoVenue:
    liquidates_itself = False
    needs_every_candle = True

    def create_order(self, order):
        return OrderUpdate(order.client_order_id, OrderStatus.OPEN, "x-1")


STATUSES = list(OrderStatus)
QTY = st.decimals(min_value=Decimal("0.00001"), max_value=Decimal("0.01"), places=5)
PRICE = st.decimals(min_value=Decimal("1000"), max_value=Decimal("90000"), places=2)
FEE_ASSET = st.sampled_from(["", "USDT", "BTC", "BNB"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(STATUSES), st.lists(st.tuples(QTY, PRICE, FEE_ASSET), max_size=2)),
                max_size=8))
def test_no_illegal_transition_is_accepted_and_fills_never_exceed_the_order(steps):
    oms = OrderManager(_NoVenue(), _Journal(), Portfolio(Decimal(10_000_000), "USDT"))
    order = oms.submit(strategy="p", symbol="BTC/USDT", side=Side.BUY, signal_ts_ms=1, now_ms=1,
                       qty=Decimal("0.02"), order_type=OrderType.LIMIT, price=Decimal(50_000))
    trade = 0
    for status, fills in steps:
        before = (order.status, order.filled_qty, oms.portfolio.cash)
        update_fills = []
        for qty, price, asset in fills:
            trade += 1
            update_fills.append(Fill(str(trade), order.client_order_id, "BTC/USDT", Side.BUY, qty, price,
                                     qty / 1000, trade, asset))
        try:
            oms.apply_update(order, OrderUpdate(order.client_order_id, status, "x-1", "", update_fills), trade)
        except IllegalTransition:
            if not update_fills:
                assert (order.status, order.filled_qty, oms.portfolio.cash) == before, "a refused change changes nothing"
        else:
            assert status is before[0] or status in _ALLOWED[before[0]] or update_fills
        assert order.filled_qty <= order.qty
        if before[0].is_terminal:
            assert order.status is before[0], "a terminal order never moves"


FILLS = st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), QTY, PRICE, FEE_ASSET), max_size=30)


@settings(max_examples=200, deadline=None)
@given(FILLS)
def test_cash_and_position_reconcile_with_the_sum_of_fills_and_fees(raw):
    portfolio = Portfolio(Decimal(1000), "USDT")
    booked = []
    for i, (side, qty, price, asset) in enumerate(raw):
        fee = (qty * price / 1000).quantize(Decimal("1e-8")) if asset in ("", "USDT") else (qty / 1000)
        fill = Fill(str(i), f"c{i}", "BTC/USDT", side, qty, price, fee, i, asset)
        try:
            portfolio.apply(fill)
        except OrderError:
            continue  # refused (oversell, no cash): must change nothing, checked by the identity below
        booked.append(fill)
        assert portfolio.cash >= 0 and portfolio.position("BTC/USDT").qty >= 0
    cash, btc = expected_from_fills(booked, Decimal(1000))
    assert portfolio.cash == cash
    assert portfolio.position("BTC/USDT").qty == btc
    quote_fees = sum((f.fee for f in booked if f.fee_asset in ("", "USDT")), Decimal(0))
    base_fees = sum((f.fee * f.price for f in booked if f.fee_asset == "BTC"), Decimal(0))
    assert portfolio.fees_paid == quote_fees + base_fees

