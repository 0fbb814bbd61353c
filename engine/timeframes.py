"""Candle timeframes as ccxt/Binance spell them ("1s", "1m", "5m", "1h", "1d", "1w", "1M")."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from engine.errors import QuantdError

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "M": 2_592_000_000}
_PATTERN = re.compile(r"^(\d+)([smhdwM])$")

MS_PER_YEAR = 365 * 86_400_000
"""Milliseconds in a 365-day year: crypto trades every day, so annualisation uses 365 days."""


def timeframe_to_ms(timeframe: str) -> int:
    """Length of one candle in milliseconds ("5m" -> 300000).

    A month ("1M") is counted as 30 days; it is only used for annualisation and grid checks
    are skipped for it.

    Raises:
        QuantdError: the string is not a timeframe.
    """
    match = _PATTERN.match(timeframe or "")
    if not match or int(match.group(1)) == 0:
        raise QuantdError(f"unknown timeframe {timeframe!r}: use forms like 1m, 5m, 1h, 4h, 1d")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def ms_to_timeframe(ms: int) -> str:
    """The canonical name of a candle length in ms (300000 -> "5m").

    Raises:
        QuantdError: no whole minute/hour/day/week matches.
    """
    for unit in ("w", "d", "h", "m"):
        size = _UNIT_MS[unit]
        if ms > 0 and ms % size == 0:
            return f"{ms // size}{unit}"
    raise QuantdError(f"{ms} ms is not a whole number of minutes")


def iso_utc(ts_ms: int) -> str:
    """ms since the epoch -> ``2021-01-01T00:00:00Z`` (UTC, second resolution)."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
