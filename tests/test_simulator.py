"""The paper/backtest fill model for limit orders, on real BTC/USDT 1h candles: a limit
order fills only on a candle that trades through it, never better than the open, never
worse than its limit."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from engine.data import load_ohlcv
from engine.models import Candle, Instrument, Order, OrderStatus, OrderType, Side
from engine.simulator import FillModel, SimulatedExchange

INSTRUMENT = Instrument("BTC/USDT", Decimal("0.00001"), Decimal("0.01"), Decimal(5))


@pytest.fixture(scope="module")
def candles(data_dir) -> pd.DataFrame:
    df, _ = load_ohlcv(data_dir / "binance/BTC_USDT-1h.csv.gz")
    return df.iloc[:2000].reset_index(drop=True)


def _candle(row) -> Candle:
    return Candle(int(row.timestamp), float(row.open), float(row.high), float(row.low), float(row.close),
                  float(row.volume))


def _limit(side: Side, price: Decimal, signal_ts_ms: int, n: int = 1) -> Order:
    return Order(client_order_id=f"qd-t-{n}", strategy="t", symbol="BTC/USDT", side=side, type=OrderType.LIMIT,
                 signal_ts_ms=signal_ts_ms, created_ts_ms=signal_ts_ms, updated_ts_ms=signal_ts_ms,
                 qty=Decimal("0.01"), price=price)


def _replay(exchange: SimulatedExchange, df: pd.DataFrame, start: int):
    """Sync candle after candle from ``start``; returns (index, update) of the first fill."""
    for i in range(start, len(df)):
        updates = exchange.sync("BTC/USDT", _candle(df.iloc[i]))
        if updates:
            return i, updates[0]
    return None, None


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_a_limit_rests_until_a_candle_trades_through_it(candles, side):
    # limit at the first candle's low (buy) / high (sell): touched, not traded through, there
    first = candles.iloc[1]
    limit = Decimal(str(first.low if side is Side.BUY else first.high))
    exchange = SimulatedExchange({"BTC/USDT": INSTRUMENT}, FillModel(Decimal("0.001"), Decimal(0)))
    order = _limit(side, limit, int(candles.timestamp[0]))
    assert exchange.create_order(order).status is OrderStatus.OPEN

    i, update = _replay(exchange, candles, 1)

    lim = float(limit)
    if side is Side.BUY:
        through = (candles.low < lim) | (candles.open <= lim)
    else:
        through = (candles.high > lim) | (candles.open >= lim)
    expected_i = int(through[2:].idxmax())  # first candle after the touching one
    assert i == expected_i and i > 1
    row = candles.iloc[i]
    at_open = row.open <= lim if side is Side.BUY else row.open >= lim
    expected_price = Decimal(repr(float(row.open))) if at_open else limit
    (fill,) = update.fills
    assert update.status is OrderStatus.FILLED and fill.ts_ms == int(row.timestamp)
    assert fill.price == expected_price.quantize(Decimal("0.01"))
    assert fill.fee == fill.qty * fill.price * Decimal("0.001")


def test_a_marketable_limit_fills_at_the_open_with_slippage_capped_at_the_limit(candles):
    row = candles.iloc[1]
    open_ = Decimal(repr(float(row.open)))
    limit = (open_ * Decimal("1.0002")).quantize(Decimal("0.01"))  # 2 bps above the open; slippage is 5
    exchange = SimulatedExchange({"BTC/USDT": INSTRUMENT}, FillModel(Decimal("0.001"), Decimal(5)))
    exchange.create_order(_limit(Side.BUY, limit, int(candles.timestamp[0])))
    (update,) = exchange.sync("BTC/USDT", _candle(row))
    assert update.fills[0].price == limit
    # and a market order on the same candle pays the full 5 bps
    exchange.create_order(Order(client_order_id="qd-t-m", strategy="t", symbol="BTC/USDT", side=Side.BUY,
                                type=OrderType.MARKET, signal_ts_ms=int(candles.timestamp[0]), created_ts_ms=0,
                                updated_ts_ms=0, qty=Decimal("0.01")))
    (market,) = exchange.sync("BTC/USDT", _candle(row))
    assert market.fills[0].price == (open_ * Decimal("1.0005")).quantize(Decimal("0.01")) > limit


def test_a_limit_never_fills_on_its_own_signal_candle_and_needs_a_price(candles):
    row = candles.iloc[1]
    exchange = SimulatedExchange({"BTC/USDT": INSTRUMENT}, FillModel())
    marketable = Decimal(str(row.high * 2))
    exchange.create_order(_limit(Side.BUY, marketable, int(row.timestamp)))
    assert exchange.sync("BTC/USDT", _candle(row)) == []
    assert len(exchange.sync("BTC/USDT", _candle(candles.iloc[2]))) == 1
    no_price = _limit(Side.BUY, Decimal(0), 0, n=2)
    update = exchange.create_order(no_price)
    assert update.status is OrderStatus.REJECTED and "positive price" in update.reason
    stop = _limit(Side.SELL, Decimal(str(row.low)), 0, n=3)
    stop.type, stop.stop_price = OrderType.STOP_LIMIT, Decimal(str(row.low))
    assert exchange.create_order(stop).status is OrderStatus.OPEN, "a protective stop sell rests"
    stop_buy = _limit(Side.BUY, Decimal(str(row.high)), 0, n=4)
    stop_buy.type, stop_buy.stop_price = OrderType.STOP_LIMIT, Decimal(str(row.high))
    update = exchange.create_order(stop_buy)
    assert update.status is OrderStatus.REJECTED and "only stop-limit sells" in update.reason, "never filled as market"


def test_a_backtest_venue_forgets_a_terminal_order_and_a_paper_venue_keeps_it(candles):
    first = _candle(candles.iloc[0])
    for keep, known in ((True, OrderStatus.FILLED), (False, None)):
        exchange = SimulatedExchange({"BTC/USDT": INSTRUMENT}, FillModel(), keep_history=keep)
        order = _limit(Side.BUY, Decimal(10**6), first.ts_ms)  # far above the market: fills at the next open
        assert exchange.create_order(order).status is OrderStatus.OPEN
        assert exchange.fetch_order(order).status is OrderStatus.OPEN, "a working order is known either way"
        (update,) = exchange.sync("BTC/USDT", _candle(candles.iloc[1]))
        assert update.status is OrderStatus.FILLED
        last = exchange.fetch_order(order)
        assert (last.status if last is not None else None) is known
