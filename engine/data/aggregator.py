"""Candles from trades: the MarketDataClient -> CandleAggregator path.

A :class:`CandleAggregator` folds a stream of trades (time ms UTC, price quote per base,
amount base) into candles of one timeframe, bucketed like the exchange's klines: a trade at
``t`` belongs to the candle opening at ``t - t % timeframe``. Open is the bucket's first
trade, close its last, high/low the extremes, volume the summed amounts.

A candle is handed out only once it is **closed**: when a trade of a later bucket arrives,
or when the clock passes its close time (:meth:`CandleAggregator.close_until`), so a quiet
market still closes on time. The candle being built is never handed to a strategy. Buckets
without a trade between two closed candles come out as Binance publishes them: zero volume,
open = high = low = close = the previous close (``fill_gaps=False`` skips them instead).
A trade older than the candle being built (late, out of order) cannot change a candle
already handed out: it is dropped and counted in ``late_trades``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from engine.errors import DataError
from engine.models import Candle
from engine.timeframes import timeframe_to_ms


class CandleAggregator:
    """Closed candles of one timeframe from trades.

    Args:
        timeframe: e.g. "1m", "5m", "1h" (fixed-length timeframes).
        fill_gaps: emit zero-volume flat candles for buckets without trades.

    Raises:
        ConfigError: an unknown timeframe (from :func:`timeframe_to_ms`).
    """

    def __init__(self, timeframe: str, fill_gaps: bool = True):
        self.tf_ms = timeframe_to_ms(timeframe)
        self.fill_gaps = fill_gaps
        self.late_trades = 0
        self._open_ms: int | None = None  # bucket of the candle being built
        self._ohlcv: list[float] = []  # open, high, low, close, volume of that candle
        self._last_close: float | None = None
        self._next_ms: int | None = None  # first bucket not yet handed out

    @property
    def partial(self) -> Candle | None:
        """The candle being built (not closed; never for a strategy), or None."""
        if self._open_ms is None:
            return None
        return Candle(self._open_ms, *self._ohlcv)

    def add_trade(self, ts_ms: int, price: float, amount: float) -> list[Candle]:
        """Fold one trade in; returns the candles it closed (oldest first, often none).

        Raises:
            DataError: a price that is not positive or an amount that is negative (naming the trade).
        """
        if not price > 0 or not amount >= 0:
            raise DataError(f"trade at {ts_ms}: price {price} and amount {amount} must be positive")
        bucket = ts_ms - ts_ms % self.tf_ms
        if self._next_ms is not None and bucket < self._next_ms or \
                self._open_ms is not None and bucket < self._open_ms:
            self.late_trades += 1
            return []
        closed = self.close_until(bucket) if self._open_ms is not None and bucket > self._open_ms else []
        if self._open_ms is None:
            closed += self._gap(bucket)
            self._open_ms, self._ohlcv = bucket, [price, price, price, price, amount]
        else:
            o = self._ohlcv
            o[1], o[2], o[3] = max(o[1], price), min(o[2], price), price
            o[4] += amount
        return closed

    def add_trades(self, trades: Iterable[tuple[int, float, float]]) -> list[Candle]:
        """:meth:`add_trade` for each (ts_ms, price, amount); the candles closed, oldest first."""
        out: list[Candle] = []
        for ts_ms, price, amount in trades:
            out += self.add_trade(ts_ms, price, amount)
        return out

    def close_until(self, now_ms: int) -> list[Candle]:
        """Hand out every candle whose close time is at or before ``now_ms`` (ms UTC): the
        one being built, and the empty buckets after it when ``fill_gaps``."""
        out: list[Candle] = []
        if self._open_ms is not None and self._open_ms + self.tf_ms <= now_ms:
            out.append(Candle(self._open_ms, *self._ohlcv))
            self._last_close = self._ohlcv[3]
            self._next_ms = self._open_ms + self.tf_ms
            self._open_ms = None
        if self._open_ms is None and self._next_ms is not None:
            out += self._gap(now_ms - now_ms % self.tf_ms)
        return out

    def _gap(self, until_bucket: int) -> list[Candle]:
        """Flat zero-volume candles for the buckets from the next one up to ``until_bucket`` (excluded)."""
        if self._next_ms is None or until_bucket <= self._next_ms:
            return []
        start, self._next_ms = self._next_ms, until_bucket
        if not self.fill_gaps:
            return []
        c = self._last_close
        return [Candle(t, c, c, c, c, 0.0) for t in range(start, until_bucket, self.tf_ms)]


class TradeCandles:
    """A :class:`engine.ports.MarketData` of candles built from trades.

    Args:
        fetch_trades: returns the trades since the last call as (ts_ms, price, amount),
            oldest first (a gateway's trade stream or ``fetch_trades`` poll).
        timeframe: the candles' timeframe.
        clock_ms: the venue's clock, ms UTC (closes a candle of a quiet market on time).
        keep: closed candles kept for :meth:`history`.
    """

    def __init__(self, fetch_trades: Callable[[], list[tuple[int, float, float]]], timeframe: str,
                 clock_ms: Callable[[], int], keep: int = 1_000):
        self.aggregator = CandleAggregator(timeframe)
        self._fetch = fetch_trades
        self._clock = clock_ms
        self._keep = keep
        self._history: list[Candle] = []

    def poll(self) -> list[Candle]:
        """Candles closed since the last call, oldest first."""
        closed = self.aggregator.add_trades(self._fetch())
        closed += self.aggregator.close_until(self._clock())
        self._history = (self._history + closed)[-self._keep:]
        return closed

    def history(self, limit: int) -> list[Candle]:
        """Up to ``limit`` most recent closed candles, oldest first."""
        return self._history[-limit:] if limit > 0 else []

    def now_ms(self) -> int:
        """The venue's clock, ms UTC."""
        return self._clock()
