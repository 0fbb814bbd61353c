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
from engine.models import Candle
from engine.timeframes import timeframe_to_ms

DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
THREE_DAY_OFFSET_MS = DAY_MS
"""3d candles open at ``t % 3 days == 1 day`` (Binance)."""
MONDAY_OFFSET_MS = 4 * DAY_MS
"""1970-01-05, the first Monday after the epoch: 1w candles open at ``t % 7 days == 4 days``."""


def bucket_rule(timeframe: str) -> tuple[int, int] | None:
    """``(size_ms, offset_ms)`` of a fixed-length timeframe: its candles open where
    ``(t - offset) % size == 0``; None for the calendar month ``1M``.

    Raises:
        DataError: an unknown timeframe, or one Binance does not anchor (2w, 2M, ...).
    """
    if timeframe == "1M":
        return None
    try:
        size = timeframe_to_ms(timeframe)
    except Exception as exc:
        raise DataError(f"cannot resample to {timeframe!r}: {exc}") from None
    if timeframe.endswith("M"):
        raise DataError(f"cannot resample to {timeframe!r}: only 1M is a calendar month")
    if timeframe.endswith("w") and timeframe != "1w":
        raise DataError(f"cannot resample to {timeframe!r}: Binance has 1w only")
    return size, {"3d": THREE_DAY_OFFSET_MS, "1w": MONDAY_OFFSET_MS}.get(timeframe, 0)


def bucket_open(ts_ms: np.ndarray, timeframe: str) -> np.ndarray:
    """Open time (ms UTC) of the ``timeframe`` candle containing each ``ts_ms``.

    Raises:
        DataError: an unknown timeframe.
    """
    ts = np.asarray(ts_ms, dtype=np.int64)
    rule = bucket_rule(timeframe)
    if rule is None:
        months = ts.astype("datetime64[ms]").astype("datetime64[M]")
        return months.astype("datetime64[ms]").astype(np.int64)
    size, offset = rule
    return ts - (ts - offset) % size


def bucket_close(open_ms: np.ndarray, timeframe: str) -> np.ndarray:
    """Close time (ms UTC, exclusive) of the candles opening at ``open_ms``."""
    opens = np.asarray(open_ms, dtype=np.int64)
    if timeframe == "1M":
        months = opens.astype("datetime64[ms]").astype("datetime64[M]") + 1
        return months.astype("datetime64[ms]").astype(np.int64)
    return opens + timeframe_to_ms(timeframe)


def check_resample(source_timeframe: str, timeframe: str) -> None:
    """Raise :class:`DataError` unless ``timeframe`` is a coarser whole multiple of
    ``source_timeframe`` (for 1M: the source divides a day)."""
    src = timeframe_to_ms(source_timeframe)
    if timeframe != "1M":
        dst = timeframe_to_ms(timeframe)
        if dst <= src or dst % src:
            raise DataError(f"cannot resample {source_timeframe} candles to {timeframe}: not a whole multiple")
    elif DAY_MS % src:
        raise DataError(f"cannot resample {source_timeframe} candles to 1M: not a whole fraction of a day")
    bucket_rule(timeframe)


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
    check_resample(source_timeframe, timeframe)
    if df.empty:
        return pd.DataFrame(columns=["timestamp", "open", "high", "low", "close", "volume", "n", "complete"])
    src = timeframe_to_ms(source_timeframe)
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


class CandleResampler:
    """Incremental :func:`resample` for strategies that want a higher timeframe too: feed it
    each closed candle of the source timeframe, get the higher-timeframe candles that are
    complete by that candle's close (same values and the same completeness rule as
    :func:`resample`, so never a partial candle).

    A higher candle comes out with the source candle that closes it (the last of its span),
    or, when the exchange had an outage at the end of the span, with the first later candle.
    The first span is dropped when the data starts inside it.

    Args:
        source_timeframe, timeframe: e.g. "5m" and "1h" (any pair :func:`resample` accepts).

    Raises:
        DataError: ``timeframe`` is not a coarser whole multiple of ``source_timeframe``.
    """

    def __init__(self, source_timeframe: str, timeframe: str):
        check_resample(source_timeframe, timeframe)
        self.timeframe = timeframe
        self._src_ms = timeframe_to_ms(source_timeframe)
        self._rule = bucket_rule(timeframe)
        self._open: int | None = None  # open time of the span being built
        self._close_ms = 0
        self._complete = False
        self._o = self._h = self._l = self._c = 0.0
        self._volumes: list[float] = []
        self._started = False  # a first span has been seen

    def update(self, candle: Candle) -> list[Candle]:
        """Add one closed source candle; returns the higher candles it completes (0, 1 or 2)."""
        key = self._bucket(candle.ts_ms)
        out: list[Candle] = []
        if self._open is not None and key != self._open:
            if self._complete:  # an outage ended the span early: the data now reaches past its close
                out.append(self._emit())
            self._open = None
        if self._open is None:
            # any span after the first one seen can be complete; the first only if the data starts at its open
            self._open, self._complete = key, self._started or candle.ts_ms <= key
            self._started = True
            self._close_ms = int(bucket_close(np.asarray([key]), self.timeframe)[0]) if self._rule is None \
                else key + self._rule[0]
            self._o, self._h, self._l, self._volumes = candle.open, candle.high, candle.low, []
        self._h, self._l, self._c = max(self._h, candle.high), min(self._l, candle.low), candle.close
        self._volumes.append(candle.volume)
        if candle.ts_ms + self._src_ms >= self._close_ms:
            if self._complete:
                out.append(self._emit())
            self._open = None
        return out

    def _bucket(self, ts_ms: int) -> int:
        if self._rule is None:
            return int(bucket_open(np.asarray([ts_ms]), self.timeframe)[0])
        size, offset = self._rule
        return ts_ms - (ts_ms - offset) % size

    def _emit(self) -> Candle:
        return Candle(self._open, self._o, self._h, self._l, self._c, math.fsum(self._volumes))


def iso(ts_ms: int) -> str:
    """``2020-04-24T21:18Z`` for messages and test listings."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
