"""Higher-timeframe candles from lower ones, anchored as Binance anchors them.

Binance opens a candle of a fixed length at multiples of that length since the Unix epoch
(1m ... 12h, 1d), except:

* ``3d`` candles open where ``open_ms % 3 days == 1 day`` (so 1970-01-02 is a 3d open);
* ``1w`` candles open on Mondays 00:00 UTC (1970-01-05 was the first Monday);
* ``1M`` candles open on the first day of each calendar month, 00:00 UTC.

(Source: the exchange's own candles in ``shared/data/binance-snapshots/``, whose README
states these anchors; ``tests/test_resample.py`` rebuilds those candles from the lower
timeframes of the same snapshots.)

A resampled candle is ``open`` of its first lower candle, ``high``/``low`` the max/min,
``close`` of its last, ``volume`` the exactly rounded sum (``math.fsum``). It is
**complete** only when the lower data covers its whole span: the first lower candle is at
or before its open, and the lower data reaches its close. A strategy must only see
complete candles; :func:`resample` marks the others (the still-open last one, a first one
that starts before the data) so callers can drop them. Candles missing inside a span
(exchange outages) do not make it incomplete: the exchange builds its candle from the
trades that happened, which are the lower candles that exist.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from engine.errors import DataError
from engine.timeframes import timeframe_to_ms

DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
THREE_DAY_OFFSET_MS = DAY_MS
"""3d candles open at ``t % 3 days == 1 day`` (Binance)."""
MONDAY_OFFSET_MS = 4 * DAY_MS
"""1970-01-05, the first Monday after the epoch: 1w candles open at ``t % 7 days == 4 days``."""


def bucket_open(ts_ms: np.ndarray, timeframe: str) -> np.ndarray:
    """Open time (ms UTC) of the ``timeframe`` candle containing each ``ts_ms``.

    Raises:
        DataError: an unknown timeframe.
    """
    ts = np.asarray(ts_ms, dtype=np.int64)
    if timeframe == "1M":
        months = ts.astype("datetime64[ms]").astype("datetime64[M]")
        return months.astype("datetime64[ms]").astype(np.int64)
    try:
        size = timeframe_to_ms(timeframe)
    except Exception as exc:
        raise DataError(f"cannot resample to {timeframe!r}: {exc}") from None
    if timeframe.endswith("M"):
        raise DataError(f"cannot resample to {timeframe!r}: only 1M is a calendar month")
    offset = {"3d": THREE_DAY_OFFSET_MS, "1w": MONDAY_OFFSET_MS}.get(timeframe, 0)
    if timeframe.endswith("w") and timeframe != "1w":
        raise DataError(f"cannot resample to {timeframe!r}: Binance has 1w only")
    return ts - (ts - offset) % size


def bucket_close(open_ms: np.ndarray, timeframe: str) -> np.ndarray:
    """Close time (ms UTC, exclusive) of the candles opening at ``open_ms``."""
    opens = np.asarray(open_ms, dtype=np.int64)
    if timeframe == "1M":
        months = opens.astype("datetime64[ms]").astype("datetime64[M]") + 1
        return months.astype("datetime64[ms]").astype(np.int64)
    return opens + timeframe_to_ms(timeframe)


def resample(df: pd.DataFrame, source_timeframe: str, timeframe: str) -> pd.DataFrame:
    """Candles of ``timeframe`` built from ``df`` (candles of ``source_timeframe``; columns
    timestamp (open, ms UTC), open, high, low, close, volume; sorted, no duplicates).

    Returns:
        One row per bucket holding at least one lower candle: timestamp, open, high, low,
        close, volume, ``n`` (lower candles in it) and ``complete`` (see the module
        docstring); sorted by timestamp.

    Raises:
        DataError: the target is not a whole multiple of the source (or not coarser), or an
            unknown timeframe.
    """
    src = timeframe_to_ms(source_timeframe)
    if timeframe != "1M":
        dst = timeframe_to_ms(timeframe)
        if dst <= src or dst % src:
            raise DataError(f"cannot resample {source_timeframe} candles to {timeframe}: not a whole multiple")
    elif DAY_MS % src:
        raise DataError(f"cannot resample {source_timeframe} candles to 1M: not a whole fraction of a day")
    if df.empty:
        return pd.DataFrame(columns=["timestamp", "open", "high", "low", "close", "volume", "n", "complete"])
    ts = df["timestamp"].to_numpy(dtype=np.int64)
    keys = bucket_open(ts, timeframe)
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    ends = np.concatenate((starts[1:], [len(ts)]))
    opens = keys[starts]
    high = np.maximum.reduceat(df["high"].to_numpy(dtype=float), starts)
    low = np.minimum.reduceat(df["low"].to_numpy(dtype=float), starts)
    vol = df["volume"].to_numpy(dtype=float)
    volume = np.array([math.fsum(vol[a:b].tolist()) for a, b in zip(starts.tolist(), ends.tolist())])
    closes_at = bucket_close(opens, timeframe)
    data_start, data_end = int(ts[0]), int(ts[-1]) + src
    complete = (opens >= data_start) & (closes_at <= data_end)
    return pd.DataFrame({
        "timestamp": opens, "open": df["open"].to_numpy(dtype=float)[starts], "high": high, "low": low,
        "close": df["close"].to_numpy(dtype=float)[ends - 1], "volume": volume, "n": ends - starts,
        "complete": complete,
    })


def iso(ts_ms: int) -> str:
    """``2020-04-24T21:18Z`` for messages and test listings."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
