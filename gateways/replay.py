"""Recorded candles replayed as if they were closing live: the offline market data source.

A :class:`ReplayFeed` is the replay's clock, shared by every market of a daemon; each market
is a :class:`ReplayMarketData` (an :class:`engine.ports.MarketData`). The feed merges all
markets' candles by close time and releases them step by step, ``speed`` steps per second of
wall-clock time, a step being every candle that closes at the same instant. So markets of
different timeframes, or files starting at different dates, come out in the order they would
have closed live. Each market starts after the last candle the store says it processed, so a
restart continues where the previous run stopped. Gaps in the data are skipped, not waited out.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import numpy as np
import pandas as pd

from engine.models import Candle


class ReplayFeed:
    """The shared clock of several replayed markets.

    Args:
        speed: steps (distinct candle close times) released per second.
        clock: seconds, monotonic (injectable for tests).
    """

    def __init__(self, speed: float, clock: Callable[[], float] = time.monotonic):
        self.speed = speed
        self._clock = clock
        self._markets: list[ReplayMarketData] = []
        self._schedule: list[tuple[int, int, int]] | None = None  # (close_ms, market, candle index)
        self._pos = 0
        self._steps = 0
        self._t0: float | None = None

    def market(self, df: pd.DataFrame, tf_ms: int, start_after_ms: int | None = None) -> ReplayMarketData:
        """Add a market (see :class:`ReplayMarketData` for the arguments); before the first poll only."""
        return ReplayMarketData(df, tf_ms, start_after_ms=start_after_ms, feed=self)

    def _register(self, market: ReplayMarketData) -> int:
        if self._schedule is not None:
            raise RuntimeError("markets must be added before the replay starts")
        self._markets.append(market)
        return len(self._markets) - 1

    def advance(self) -> None:
        """Release every step due by now into its market's queue."""
        now = self._clock()
        if self._schedule is None:
            self._schedule = sorted((c.ts_ms + m.tf_ms, i, k) for i, m in enumerate(self._markets)
                                    for k, c in enumerate(m._candles) if k >= m._next)
            self._t0 = now
        due = int((now - self._t0) * self.speed)
        sched = self._schedule
        while self._steps < due and self._pos < len(sched):
            close = sched[self._pos][0]
            while self._pos < len(sched) and sched[self._pos][0] == close:
                _, i, k = sched[self._pos]
                self._markets[i]._queue.append(k)
                self._pos += 1
            self._steps += 1

    @property
    def exhausted(self) -> bool:
        """True once every candle of every market was released."""
        return self._schedule is not None and self._pos >= len(self._schedule)


class ReplayMarketData:
    """Replay of one symbol's candles.

    Args:
        df: cleaned OHLCV frame (see :func:`engine.data.load_ohlcv`).
        tf_ms: candle length in ms.
        speed: steps per second of the market's own feed (when ``feed`` is not given).
        start_after_ms: open time of the last candle already processed (ms UTC); replay
            starts with the first later candle. None: from the beginning.
        clock: seconds, monotonic, of the market's own feed (injectable for tests).
        feed: the shared clock of several markets; default: a feed of this market alone.
    """

    def __init__(self, df: pd.DataFrame, tf_ms: int, speed: float = 1.0, start_after_ms: int | None = None,
                 clock: Callable[[], float] = time.monotonic, feed: ReplayFeed | None = None):
        self._candles = [Candle(*row) for row in zip(df["timestamp"].tolist(), df["open"].tolist(),
                                                     df["high"].tolist(), df["low"].tolist(),
                                                     df["close"].tolist(), df["volume"].tolist())]
        ts = df["timestamp"].to_numpy()
        self._next = 0 if start_after_ms is None else int(np.searchsorted(ts, start_after_ms, side="right"))
        self._queue: deque[int] = deque()
        self._last: int | None = None  # index of the last candle handed out
        self.tf_ms = tf_ms
        self.feed = feed or ReplayFeed(speed, clock)
        self.feed._register(self)

    def history(self, limit: int) -> list[Candle]:
        """Up to ``limit`` candles before the replay position (already processed), oldest first."""
        start = self._next if self._last is None else self._last + 1
        return self._candles[max(0, start - limit):start]

    def poll(self) -> list[Candle]:
        """The next released candle of this market (a list of at most one).

        One at a time, so the market's clock (:meth:`now_ms`) is the close time of the candle
        being processed, as it would be live; callers poll until the list is empty.
        """
        self.feed.advance()
        if not self._queue:
            return []
        self._last = self._queue.popleft()
        return [self._candles[self._last]]

    def now_ms(self) -> int:
        """Simulated time: the close time of the last candle handed out (ms UTC); before any, of
        the last one processed in an earlier run; 0 on a fresh start."""
        last = self._next - 1 if self._last is None else self._last
        return self._candles[last].ts_ms + self.tf_ms if last >= 0 else 0

    @property
    def exhausted(self) -> bool:
        """True once every candle of the replay was handed out."""
        return self.feed.exhausted and not self._queue

    @property
    def remaining(self) -> int:
        """Candles not yet handed out."""
        start = self._next if self._last is None else self._last + 1
        return len(self._candles) - start
