"""CandleAggregator: candles from trades, closed only when they are closed."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.data.aggregator import CandleAggregator, TradeCandles
from engine.errors import DataError
from engine.models import Candle

MINUTE = 60_000


def _real(data_dir, name):
    return json.loads((data_dir / "fixtures/ccxt/binance-http/nautilus-tests-2021" / name).read_text())


def test_real_binance_trades_make_candles_inside_the_exchanges_own_kline(data_dir):
    """Ten real BTCUSDT aggregate trades of 2021-10-22T23:08Z: 1s candles by hand, and the 1m
    candle they start lies inside the real kline of that minute (same open time)."""
    trades = [(t["T"], float(t["p"]), float(t["q"])) for t in _real(data_dir, "http_spot_market_agg_trades.json")]
    klines = {k[0]: k for k in _real(data_dir, "http_spot_market_klines.json")}
    seconds = CandleAggregator("1s")
    closed = seconds.add_trades(trades)
    assert [c.ts_ms for c in closed] == [1634944096000, 1634944097000]  # the 098 second is still open
    assert closed[0] == Candle(1634944096000, 60759.6, 60759.6, 60759.59, 60759.6, pytest.approx(0.01167))
    assert seconds.partial.ts_ms == 1634944098000 and seconds.partial.volume == pytest.approx(0.0015)
    minute = CandleAggregator("1m")
    assert minute.add_trades(trades) == []  # nothing closes before the minute does
    (candle,) = minute.close_until(1634944080000 + MINUTE)
    kline = klines[candle.ts_ms]
    assert float(kline[3]) <= candle.low <= candle.high <= float(kline[2])
    assert candle.volume == pytest.approx(sum(q for _, _, q in trades)) and candle.volume < float(kline[5])


def test_a_quiet_market_closes_on_the_clock_with_flat_zero_volume_candles():
    agg = CandleAggregator("1m")
    agg.add_trade(10 * MINUTE + 5, 100.0, 1.0)
    agg.add_trade(10 * MINUTE + 50_000, 101.0, 2.0)
    assert agg.close_until(11 * MINUTE - 1) == []
    assert agg.close_until(13 * MINUTE + 30_000) == [Candle(10 * MINUTE, 100.0, 101.0, 100.0, 101.0, 3.0),
                                                     Candle(11 * MINUTE, 101.0, 101.0, 101.0, 101.0, 0.0),
                                                     Candle(12 * MINUTE, 101.0, 101.0, 101.0, 101.0, 0.0)]
    assert agg.add_trade(13 * MINUTE + 40_000, 99.0, 1.0) == []  # the 13th minute is still running
    assert agg.add_trade(12 * MINUTE, 50.0, 1.0) == [] and agg.late_trades == 1  # already handed out
    assert agg.add_trade(15 * MINUTE, 98.0, 1.0) == [Candle(13 * MINUTE, 99.0, 99.0, 99.0, 99.0, 1.0),
                                                     Candle(14 * MINUTE, 99.0, 99.0, 99.0, 99.0, 0.0)]
    no_gaps = CandleAggregator("1m", fill_gaps=False)
    no_gaps.add_trades([(0, 1.0, 1.0), (5 * MINUTE, 2.0, 1.0)])
    assert [c.ts_ms for c in no_gaps.close_until(6 * MINUTE)] == [5 * MINUTE]


def test_a_bad_trade_is_named():
    with pytest.raises(DataError, match="trade at 123: price -1.0"):
        CandleAggregator("1m").add_trade(123, -1.0, 1.0)


trade_lists = st.lists(st.tuples(st.integers(0, 40 * MINUTE), st.floats(1.0, 1e5), st.floats(0.0, 10.0)),
                       min_size=1, max_size=200)


@settings(max_examples=60, deadline=None)
@given(trade_lists, st.sampled_from(["1m", "5m"]))
def test_candles_equal_an_independent_groupby_and_none_is_early(trades, timeframe):
    trades.sort(key=lambda t: t[0])  # in time order (late trades are the other test's)
    tf = {"1m": MINUTE, "5m": 5 * MINUTE}[timeframe]
    agg = CandleAggregator(timeframe, fill_gaps=False)
    out = []
    for ts, price, amount in trades:
        for candle in agg.add_trade(ts, price, amount):
            assert candle.ts_ms + tf <= ts  # handed out only after it closed
            out.append(candle)
    end = trades[-1][0] - trades[-1][0] % tf + tf
    out += agg.close_until(end)
    df = pd.DataFrame(trades, columns=["ts", "price", "amount"])
    g = df.groupby(df.ts - df.ts % tf)
    expected = [Candle(int(k), r.price_first, r.price_max, r.price_min, r.price_last, r.amount_sum)
                for k, r in pd.DataFrame({"price_first": g.price.first(), "price_max": g.price.max(),
                                          "price_min": g.price.min(), "price_last": g.price.last(),
                                          "amount_sum": g.amount.sum()}).iterrows()]
    assert [c.ts_ms for c in out] == [c.ts_ms for c in expected]
    for got, want in zip(out, expected):
        assert (got.open, got.high, got.low, got.close) == (want.open, want.high, want.low, want.close)
        assert got.volume == pytest.approx(want.volume, rel=1e-12, abs=1e-12)


def test_trade_candles_is_a_market_data_source_for_the_runner():
    batches = [[(0, 10.0, 1.0), (30_000, 11.0, 1.0)], [(61_000, 12.0, 1.0)], []]
    clock = iter([59_000, 62_000, 125_000])
    source = TradeCandles(lambda: batches.pop(0), "1m", lambda: next(clock))
    assert source.poll() == []
    assert [c.close for c in source.poll()] == [11.0]
    assert [c.ts_ms for c in source.poll()] == [MINUTE]
    assert [c.ts_ms for c in source.history(5)] == [0, MINUTE]
