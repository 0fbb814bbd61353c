"""Resampling lower-timeframe candles reproduces Binance's own higher-timeframe candles.

Each ``binance-snapshots/`` folder holds every timeframe of one pair, fetched at one moment;
the last candle of every file was still open (its README), so it is left out on both sides.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import numpy as np
import pytest

from engine.data import load_ohlcv
from engine.data.ohlcv import read_ohlcv_file
from engine.data.resample import bucket_open, iso, resample
from engine.errors import DataError
from engine.timeframes import timeframe_to_ms

TIMEFRAMES = ["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"]

EXCHANGE_OPEN_DIFFERENCES = {
    # The exchange's higher candle opens one tick away from its first lower candle's open.
    ("2020-04-24", "1m", "3m", "2020-04-24T21:18Z"),  # ADA/USDT: 0.04236 vs 1m open 0.04235
    ("2020-04-28", "1m", "3m", "2020-04-28T21:30Z"),  # ADA/BTC: 6.06e-06 vs 1m open 6.07e-06
    ("2020-04-28", "1m", "5m", "2020-04-28T21:30Z"),
    ("2020-04-28", "1m", "15m", "2020-04-28T21:30Z"),
}


def _ms(tf: str) -> int:
    return 31 * 86_400_000 if tf == "1M" else timeframe_to_ms(tf)


def _pairs(files: dict):
    for lo in TIMEFRAMES:
        for hi in TIMEFRAMES:
            if lo in files and hi in files and _ms(hi) > _ms(lo):
                if (hi == "1M" and 86_400_000 % _ms(lo) == 0) or (hi != "1M" and _ms(hi) % _ms(lo) == 0):
                    yield lo, hi


def test_resampled_snapshots_equal_the_exchanges_candles(data_dir):
    compared: Counter = Counter()
    differences = set()
    for folder in sorted((data_dir / "binance-snapshots").iterdir()):
        files = {p.name.split("-")[1].removesuffix(".csv.gz").replace("Mo", "M"): p for p in folder.glob("*.csv.gz")}
        frames = {tf: read_ohlcv_file(p) for tf, p in files.items()}
        for lo, hi in _pairs(files):
            ours = resample(frames[lo].iloc[:-1], lo, hi)  # the lower file's last candle was still open
            theirs = frames[hi]
            still_open = theirs["timestamp"].iloc[-1]
            theirs = theirs.iloc[:-1].set_index("timestamp")
            ours = ours[ours["complete"] & (ours["timestamp"] < still_open)]
            assert ours["timestamp"].isin(theirs.index).all(), f"{folder.name} {lo}->{hi}: a bucket the exchange lacks"
            mine = ours.set_index("timestamp")
            exch = theirs.loc[mine.index]
            np.testing.assert_allclose(mine["volume"], exch["volume"], rtol=1e-9, err_msg=f"{folder.name} {lo}->{hi}")
            for col in ("high", "low", "close"):
                np.testing.assert_allclose(mine[col], exch[col], rtol=0, atol=1e-9, err_msg=f"{folder.name} {lo}->{hi}")
            off = np.abs(mine["open"].to_numpy() - exch["open"].to_numpy()) > 1e-9
            differences |= {(folder.name, lo, hi, iso(int(t))) for t in mine.index[off]}
            compared[hi] += len(mine)
    assert differences == EXCHANGE_OPEN_DIFFERENCES
    assert sum(compared.values()) > 14_000
    assert all(compared[tf] > 0 for tf in ("3d", "1w", "1M", "12h", "6h")), compared


def test_binance_anchors():
    def ms(text):
        return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)

    t = np.array([ms("2020-04-24T23:10:00")])  # a Friday
    assert bucket_open(t, "1w")[0] == ms("2020-04-20T00:00:00")  # Monday
    assert bucket_open(t, "3d")[0] == ms("2020-04-24T00:00:00")  # as ADA_USDT-3d opens
    assert bucket_open(t, "1M")[0] == ms("2020-04-01T00:00:00")
    assert bucket_open(t, "4h")[0] == ms("2020-04-24T20:00:00")
    assert bucket_open(np.array([ms("2020-02-29T12:00:00")]), "1M")[0] == ms("2020-02-01T00:00:00")


def test_partial_buckets_are_marked_and_bad_targets_refused(data_dir):
    df = read_ohlcv_file(data_dir / "binance" / "BTC_USDT-1m.csv.gz").drop(columns="line")
    start = int(np.flatnonzero(df["timestamp"].to_numpy() % 900_000 == 180_000)[0])
    part = df.iloc[start:start + 100]  # starts 3 minutes into a 15m candle, ends inside one
    out = resample(part, "1m", "15m")
    assert not out["complete"].iloc[0], "the first bucket began before the data"
    assert not out["complete"].iloc[-1], "the last bucket is still open"
    assert out["complete"].iloc[1:-1].all() and out["n"].sum() == 100
    for source, target in (("1m", "1m"), ("5m", "7m"), ("1m", "2w"), ("1m", "2M"), ("7m", "1M")):
        with pytest.raises(DataError):
            resample(part, source, target)
    assert resample(part.iloc[:0], "1m", "1h").empty


@pytest.mark.parametrize("name, source, targets", [
    ("ETH_USDT-5m", "5m", ["15m", "1h", "4h", "1d"]),
    ("BTC_USDT-1h", "1h", ["4h", "1d", "3d", "1w", "1M"]),
])
def test_incremental_resampler_equals_resample_and_never_hands_out_a_candle_early(data_dir, name, source, targets):
    """Real files with outages (and BTC 1h's off-grid 2018-02-09 candles): candle for candle
    the incremental form gives resample()'s complete rows, each one only once the source
    candle that reaches its close has closed."""
    from engine.data.resample import CandleResampler, bucket_close
    from engine.models import Candle

    df, _ = load_ohlcv(data_dir / f"binance/{name}.csv.gz")
    rows = list(df.itertuples(index=False))
    src_ms = timeframe_to_ms(source)
    for tf in targets:
        expected = resample(df, source, tf)
        expected = expected[expected["complete"]]
        r = CandleResampler(source, tf)
        got = []
        for row in rows:
            for c in r.update(Candle(int(row.timestamp), row.open, row.high, row.low, row.close, row.volume)):
                assert int(row.timestamp) + src_ms >= int(bucket_close([c.ts_ms], tf)[0])  # closed by now
                got.append(c)
        assert [c.ts_ms for c in got] == expected["timestamp"].tolist(), tf
        for c, e in zip(got, expected.itertuples(index=False)):
            assert (c.open, c.high, c.low, c.close, c.volume) == (e.open, e.high, e.low, e.close, e.volume), tf


def test_incremental_resampler_refuses_what_resample_refuses():
    from engine.data.resample import CandleResampler

    with pytest.raises(DataError, match="not a whole multiple"):
        CandleResampler("1h", "90m")
    with pytest.raises(DataError, match="Binance has 1w only"):
        CandleResampler("1h", "2w")
