"""Closed candles from a ccxt exchange, judged closed by the exchange's own clock.

Binance (like most venues) returns the forming candle as the last kline; it is dropped until
the venue's clock passes its close. Using the venue's clock rather than the host's keeps a
drifting VPS clock from releasing a candle early.
"""

from __future__ import annotations

import logging
import time

from engine.errors import VenueError, VenueUnavailable
from engine.models import Candle
from engine.timeframes import timeframe_to_ms
from gateways.ccxt_gateway import CcxtGateway

log = logging.getLogger("quantd.market")

MAX_CATCH_UP = 1000
"""Most candles fetched in one poll (a daemon that was down longer catches up over several)."""


class CcxtMarketData:
    """:class:`engine.ports.MarketData` for one symbol and timeframe of a ccxt exchange.

    Args:
        gateway: the connected gateway.
        symbol, timeframe: e.g. "BTC/USDT", "1m".
        start_after_ms: open time of the last candle already processed (the store's cursor);
            :meth:`poll` starts after it.

    Attributes:
        newest_close_ms: close time (ms UTC) of the newest closed candle seen, 0 before any.
        unreachable_since_s: monotonic seconds since the venue stopped answering, None while it answers.
    """

    def __init__(self, gateway: CcxtGateway, symbol: str, timeframe: str, start_after_ms: int | None = None):
        self.gateway = gateway
        self.symbol = symbol
        self.timeframe = timeframe
        self.tf_ms = timeframe_to_ms(timeframe)
        self._last_ts = start_after_ms
        self._venue_ms = 0
        self._venue_at = time.monotonic()
        self.newest_close_ms = 0
        self.unreachable_since_s: float | None = None

    def now_ms(self) -> int:
        """The venue's clock as of the last poll, advanced by local elapsed time; ms UTC."""
        if not self._venue_ms:
            return 0
        return self._venue_ms + int((time.monotonic() - self._venue_at) * 1000)

    def _sync_clock(self) -> int:
        self._venue_ms, self._venue_at = self.gateway.fetch_time(), time.monotonic()
        return self._venue_ms

    def history(self, limit: int) -> list[Candle]:
        """Up to ``limit`` closed candles ending at the cursor (or now, on a fresh store), oldest first."""
        now = self._sync_clock()
        end = self._last_ts if self._last_ts is not None else now
        since = end - limit * self.tf_ms
        rows = self.gateway.fetch_ohlcv(self.symbol, self.timeframe, since, min(limit + 1, MAX_CATCH_UP))
        closed = [c for c in rows if c.ts_ms + self.tf_ms <= now and c.ts_ms <= end]
        if closed:
            self.newest_close_ms = max(self.newest_close_ms, closed[-1].ts_ms + self.tf_ms)
            if self._last_ts is None:
                self._last_ts = closed[-1].ts_ms
        return closed[-limit:]

    def poll(self) -> list[Candle]:
        """Candles closed since the last call, oldest first; [] when none or the venue is down."""
        try:
            now = self._sync_clock()
            since = self._last_ts + self.tf_ms if self._last_ts is not None else now - 2 * self.tf_ms
            rows = self.gateway.fetch_ohlcv(self.symbol, self.timeframe, since, MAX_CATCH_UP)
        except (VenueUnavailable, VenueError) as exc:
            if self.unreachable_since_s is None:
                self.unreachable_since_s = time.monotonic()
                log.warning("market data for %s unavailable: %s", self.symbol, exc)
            return []
        self.unreachable_since_s = None
        fresh = [c for c in rows if c.ts_ms + self.tf_ms <= now and (self._last_ts is None or c.ts_ms > self._last_ts)]
        if fresh:
            self._last_ts = fresh[-1].ts_ms
            self.newest_close_ms = fresh[-1].ts_ms + self.tf_ms
        return fresh


HOUR_MS = 3_600_000


def holds_an_hour(start_ms: int, end_ms: int) -> bool:
    """True when ``[start_ms, end_ms)`` contains an hour boundary (ms UTC): only such a
    candle can hold a funding time."""
    return -(-start_ms // HOUR_MS) * HOUR_MS < end_ms


class CcxtFundingRates:
    """The funding rates of one perpetual as the venue publishes them, for a dry-run's
    simulated futures account: the runner asks :meth:`due` for each candle it holds a
    position through (the same question :class:`engine.futures.FundingRates` answers from a
    file in backtests and paper).

    Funding times fall on the hour (Binance: every 8 hours, a few ms after it; some markets
    every 4 or 1), so only a candle that contains an hour boundary asks the venue.

    Args:
        gateway: the connected gateway (public endpoints suffice); symbol: e.g. ``BTC/USDT``.
    """

    books_payments = False

    def __init__(self, gateway: CcxtGateway, symbol: str):
        self.gateway = gateway
        self.symbol = symbol

    def due(self, start_ms: int, end_ms: int):
        """The rate (``Decimal``, a fraction of the notional) of the funding times in
        ``[start_ms, end_ms)``, summed when several; None when there is none.

        Raises:
            VenueError, VenueUnavailable: the venue did not answer: the candle is not finished
                and the daemon restarts from its store, so no funding time is skipped.
        """
        if not holds_an_hour(start_ms, end_ms):
            return None
        rates = self.gateway.fetch_funding_rates(self.symbol, start_ms, end_ms)
        if not rates:
            return None
        return sum((rate for _, rate in rates[1:]), rates[0][1])


class CcxtFundingPayments:
    """The funding a live futures account paid or received on one perpetual, as the venue
    booked it (``fetch_funding_history``): the runner books these amounts instead of
    computing them from a rate (:attr:`books_payments`). Only a candle that contains an hour
    boundary asks the venue (funding times fall on the hour).

    Args:
        gateway: the connected :class:`~gateways.ccxt_futures.CcxtFuturesGateway`; symbol: e.g. ``BTC/USDT``.
    """

    books_payments = True

    def __init__(self, gateway, symbol: str):
        self.gateway = gateway
        self.symbol = symbol

    def paid(self, start_ms: int, end_ms: int):
        """Funding the account paid in ``[start_ms, end_ms)``, quote (``Decimal``; negative
        when received), None when the venue booked none.

        Raises:
            VenueError, VenueUnavailable: the venue did not answer: the candle is not finished
                and the daemon restarts from its store, so no payment is skipped.
        """
        if not holds_an_hour(start_ms, end_ms):
            return None
        payments = self.gateway.fetch_funding_payments(self.symbol, start_ms, end_ms)
        if not payments:
            return None
        return -sum((amount for _, amount in payments[1:]), payments[0][1])
