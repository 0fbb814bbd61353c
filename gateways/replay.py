"""Recorded candles replayed as if they were closing live: the offline market data source.

Implements :class:`engine.ports.MarketData`. Candles are released at ``speed`` candles per
second of wall-clock time, starting after the last candle the store says was processed,
so a restart continues where the previous run stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from engine.models import Candle


class ReplayMarketData:
    """Replay of one symbol's candles.

    Args:
        df: cleaned OHLCV frame (see :func:`engine.data.load_ohlcv`).
        tf_ms: candle length in ms.
        speed: candles released per second.
        start_after_ms: open time of the last candle already processed (ms UTC); replay
            starts with the first later candle. None: from the beginning.
        clock: seconds, monotonic (injectable for tests).
    """

    def __init__(self, df: pd.DataFrame, tf_ms: int, speed: float, start_after_ms: int | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self._candles = [Candle(*row) for row in zip(df["timestamp"].tolist(), df["open"].tolist(),
                                                     df["high"].tolist(), df["low"].tolist(),
                                                     df["close"].tolist(), df["volume"].tolist())]
        ts = df["timestamp"].to_numpy()
        self._next = 0 if start_after_ms is None else int(np.searchsorted(ts, start_after_ms, side="right"))
        self._first = self._next
        self.speed = speed
        self.tf_ms = tf_ms
        self._clock = clock
        self._t0: float | None = None

    def history(self, limit: int) -> list[Candle]:
        """Up to ``limit`` candles before the replay position (already processed), oldest first."""
        return self._candles[max(0, self._next - limit):self._next]

    def poll(self) -> list[Candle]:
        """The next candle whose release time has come (a list of at most one).

        One at a time, so the simulated clock (:meth:`now_ms`) is the close time of the
        candle being processed, as it would be live; callers poll until the list is empty.
        """
        now = self._clock()
        if self._t0 is None:
            self._t0 = now
        due = min(len(self._candles), self._first + int((now - self._t0) * self.speed))
        if self._next >= due:
            return []
        self._next += 1
        return [self._candles[self._next - 1]]

    def now_ms(self) -> int:
        """Simulated time: the close time of the last released candle (ms UTC), 0 before any."""
        if self._next == 0:
            return 0
        return self._candles[self._next - 1].ts_ms + self.tf_ms

    @property
    def exhausted(self) -> bool:
        """True once every candle was released."""
        return self._next >= len(self._candles)

    @property
    def remaining(self) -> int:
        """Candles not yet released."""
        return len(self._candles) - self._next
