"""The order state machine, the submission protocol across crashes, and the store (each store
test runs on SQLite and on PostgreSQL through the ``store_url`` fixture)."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from engine.errors import IllegalTransition, StoreError
from engine.models import (
    Candle,
    Instrument,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
)
from engine.oms import OrderManager, check_transition
from engine.simulator import FillModel
from engine.store import SqlJournal, load_state, open_store
from engine.store.orders import OrderRow
from engine.store.state import init_account
from gateways.paper import PaperGateway
from tests.conftest import real_lines

BTC = Instrument("BTC/USDT", Decimal("0.00001"), Decimal("0.01"), Decimal(5))


def _order(status: OrderStatus) -> Order:
    return Order("qd-t-1", "t", "BTC/USDT", Side.BUY, OrderType.MARKET, 0, 0, quote_qty=Decimal(100), status=status)


@pytest.mark.parametrize("start, end, ok", [
    (OrderStatus.NEW, OrderStatus.OPEN, True), (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, True),
    (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, True), (OrderStatus.OPEN, OrderStatus.CANCELED, True),
    (OrderStatus.NEW, OrderStatus.REJECTED, True), (OrderStatus.FILLED, OrderStatus.OPEN, False),
    (OrderStatus.CANCELED, OrderStatus.FILLED, False), (OrderStatus.OPEN, OrderStatus.NEW, False),
    (OrderStatus.REJECTED, OrderStatus.OPEN, False), (OrderStatus.OPEN, OrderStatus.REJECTED, False),
])
def test_state_machine(start, end, ok):
    if ok:
        check_transition(_order(start), end)
    else:
        with pytest.raises(IllegalTransition):
            check_transition(_order(start), end)


def _candles(data_dir, n=6):
    rows = real_lines(data_dir / "binance/BTC_USDT-5m.csv.gz", n)[1:]
    return [Candle(int(r[0]), *map(float, r[1:])) for r in (line.split(",") for line in rows)]


def _stack(url, gateway=None):
    store = open_store(url)
    init_account(store, "paper", Decimal(10_000), "USDT", 0)
    state = load_state(store)
    gw = gateway or PaperGateway([BTC], FillModel(Decimal("0.001"), Decimal(0)), state.orders)
    oms = OrderManager(gw, SqlJournal(store), state.portfolio, state.orders)
    oms.mark_fills_seen(state.trade_ids)
    return store, oms, gw


class _CrashOnSend(PaperGateway):
    """A venue whose answer is lost: raises after (accepted=True) or before accepting the order."""

    def __init__(self, accepted: bool):
        super().__init__([BTC], FillModel(Decimal("0.001"), Decimal(0)), [])
        self.accepted = accepted

    def create_order(self, order):
        if self.accepted:
            super().create_order(order)
        raise TimeoutError("simulated crash while waiting for the venue")


def _submit(oms, candle):
    return oms.submit(strategy="t", symbol="BTC/USDT", side=Side.BUY, signal_ts_ms=candle.ts_ms,
                      now_ms=candle.ts_ms, quote_qty=Decimal(1000), intent="test BUY")


def test_crash_before_venue_accepts_resends_once_with_the_same_client_id(store_url, data_dir):
    url = store_url
    c = _candles(data_dir)
    store, oms, _ = _stack(url, _CrashOnSend(accepted=False))
    with pytest.raises(TimeoutError):
        _submit(oms, c[0])
    store.close()
    # restart: the intent is in the store as 'new'; the paper venue never saw it
    store, oms, gw = _stack(url)
    assert [o.status for o in oms.orders.values()] == [OrderStatus.NEW]
    oms.recover(c[1].ts_ms)
    order = oms.orders["qd-t-1"]
    assert order.status is OrderStatus.OPEN
    again = _submit(oms, c[0])  # the same candle re-processed: no second order
    assert again is order and len(oms.orders) == 1
    fills = oms.sync("BTC/USDT", c[1], c[1].ts_ms)
    assert len(fills) == 1 and order.status is OrderStatus.FILLED
    with store.read() as s:
        rows = s.scalars(select(OrderRow)).all()
    assert [(r.client_order_id, r.status) for r in rows] == [("qd-t-1", "filled")]


def test_crash_after_venue_accepted_adopts_instead_of_resending(store_url, data_dir):
    url = store_url
    c = _candles(data_dir)
    gw = _CrashOnSend(accepted=True)
    store, oms, _ = _stack(url, gw)
    with pytest.raises(TimeoutError):
        _submit(oms, c[0])
    # the venue survived (a real exchange does); the process restarts against it
    sent = []
    gw.accepted = False
    gw.create_order = lambda order: sent.append(order)  # any resend would be recorded here
    store2, oms2, _ = _stack(url, gw)
    oms2.recover(c[1].ts_ms)
    assert sent == [] and oms2.orders["qd-t-1"].status is OrderStatus.OPEN


def test_a_fill_reported_twice_is_booked_once(store_url, data_dir):
    c = _candles(data_dir)
    store, oms, gw = _stack(store_url)
    order = _submit(oms, c[0])
    update = gw.sync("BTC/USDT", c[1])[0]
    oms.apply_update(order, update, 1)
    cash = oms.portfolio.cash
    dup = OrderUpdate(order.client_order_id, OrderStatus.FILLED, None, "", update.fills)
    assert oms.apply_update(order, dup, 2) == []
    assert oms.portfolio.cash == cash
    state = load_state(store)
    assert state.trade_ids == [update.fills[0].trade_id]
    # money round-trips exactly through the store
    assert state.portfolio.cash == cash and state.portfolio.position("BTC/USDT").qty == update.fills[0].qty


def test_min_notional_rejection_is_persisted_with_reason(store_url, data_dir):
    c = _candles(data_dir)
    store, oms, _ = _stack(store_url)
    order = oms.submit(strategy="t", symbol="BTC/USDT", side=Side.BUY, signal_ts_ms=c[0].ts_ms,
                       now_ms=c[0].ts_ms, quote_qty=Decimal("4.99"))
    assert order.status is OrderStatus.REJECTED and "below the minimum 5" in order.reason
    assert [e.kind for e in oms.take_events()] == ["rejection"]
    with store.read() as s:
        assert s.scalars(select(OrderRow.status)).all() == ["rejected"]


def test_store_uses_wal_and_text_money(tmp_path):
    path = tmp_path / "s.sqlite"
    store = open_store(f"sqlite:///{path}")
    init_account(store, "paper", Decimal("10000.123456789012345678"), "USDT", 0)
    store.close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cash, typ = con.execute("SELECT cash, typeof(cash) FROM accounts").fetchone()
    assert (cash, typ) == ("10000.123456789012345678", "text")
    con.close()


def test_store_written_by_a_newer_schema_is_refused(store_url):
    url = store_url
    store = open_store(url)
    with store.transaction() as s:
        s.execute(text("UPDATE alembic_version SET version_num = 'r9999'"))
    store.close()
    with pytest.raises(StoreError, match="revision r9999, newer than this quantd"):
        open_store(url)


def test_money_round_trips_exactly(store_url):
    store = open_store(store_url)
    try:
        init_account(store, "paper", Decimal("10000.123456789012345678"), "USDT", 0)
        assert load_state(store).portfolio.cash == Decimal("10000.123456789012345678")
    finally:
        store.close()


def test_accepted_order_too_small_to_fill_expires_instead_of_an_illegal_rejection(store_url, data_dir):
    c = _candles(data_dir)
    dust = Instrument("BTC/USDT", Decimal("0.00001"), Decimal("0.01"), Decimal(0))
    store, oms, gw = _stack(store_url,
                            PaperGateway([dust], FillModel(Decimal("0.001"), Decimal(0)), []))
    order = oms.submit(strategy="t", symbol="BTC/USDT", side=Side.BUY, signal_ts_ms=c[0].ts_ms, now_ms=1,
                       quote_qty=Decimal("0.0001"))
    assert order.status is OrderStatus.OPEN
    assert oms.sync("BTC/USDT", c[1], 2) == []
    assert order.status is OrderStatus.EXPIRED and "less than one amount step" in order.reason
    assert oms.portfolio.cash == Decimal(10_000)
