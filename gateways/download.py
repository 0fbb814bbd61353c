"""Historical candles from an exchange into a local OHLCV file: paginated, resumable.

:func:`download` asks the venue (any object with ``fetch_time()`` and ``fetch_ohlcv(symbol,
timeframe, since_ms, limit)``, such as :class:`gateways.ccxt_gateway.CcxtGateway`, whose
reads retry and respect ccxt's rate limiter) for pages of candles from ``since_ms`` on:

* only **closed** candles are kept (open time + timeframe <= the venue's clock), and none at
  or after ``until_ms``;
* the next page starts one timeframe after the last candle received, so an exchange outage
  (a gap in its history) is simply skipped over, as the exchange itself skips it;
* every ``checkpoint_pages`` pages the file is rewritten whole (to ``*.part``, then renamed),
  so an interruption keeps what was fetched and the file is never half-written;
* a second run on the same file **resumes** after its last candle (``since_ms`` is ignored
  then) and never duplicates a candle: rows are merged by open time.

The finished file is then loaded by :func:`engine.data.load_ohlcv`, whose report (gaps,
duplicates, off-grid candles) is returned. :func:`download_funding` does the same for a
perpetual's funding rates. Files are CSV.gz (header ``timestamp,open,high,
low,close,volume``, the format of the shared real data) or Parquet, by suffix.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import pandas as pd

from engine.data import load_ohlcv, read_ohlcv_file
from engine.data.ohlcv import COLUMNS
from engine.data.validate import DataReport
from engine.errors import DataError
from engine.futures import FundingRates, perpetual_stem
from engine.models import Candle
from engine.timeframes import timeframe_to_ms


class CandleSource(Protocol):
    """What :func:`download` needs of a venue."""

    def fetch_time(self) -> int: ...

    def fetch_ohlcv(self, symbol: str, timeframe: str, since_ms: int | None, limit: int) -> list[Candle]: ...


@dataclass
class DownloadResult:
    """``added`` candles (or funding rates) fetched this run (``resumed_from``: open time, ms
    UTC, of the file's last row before the run, None for a new file); ``report``: the whole
    candle file's check (None for funding rates)."""

    path: Path
    added: int
    pages: int
    resumed_from: int | None
    report: DataReport | None


def file_name(symbol: str, timeframe: str, fmt: str = "csv.gz") -> str:
    """``BTC/USDT``, ``1h`` -> ``BTC_USDT-1h.csv.gz`` (the name ``quantd backtest`` reads
    the symbol and timeframe from)."""
    return f"{symbol.replace('/', '_')}-{timeframe}.{fmt}"


def download(source: CandleSource, symbol: str, timeframe: str, path: Path, since_ms: int,
             until_ms: int | None = None, page_limit: int = 1000, checkpoint_pages: int = 20,
             progress: Callable[[int, int], None] | None = None) -> DownloadResult:
    """Fetch ``symbol``/``timeframe`` candles into ``path``; see the module docstring.

    Args:
        since_ms, until_ms: open times (ms UTC) of the first candle wanted and the end
            (exclusive; default: up to the last closed candle).
        progress: called with (candles added so far, open time of the newest) after each page.

    Raises:
        DataError: ``path`` exists but is not an OHLCV file of this timeframe.
        VenueError, VenueUnavailable: from the source (what was fetched is kept).
    """
    tf = timeframe_to_ms(timeframe)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = _read_existing(path, timeframe)
    resumed_from = int(existing["timestamp"].iloc[-1]) if len(existing) else None
    start = since_ms if resumed_from is None else resumed_from + tf
    now = source.fetch_time()
    end = min(until_ms if until_ms is not None else now, now - tf + 1)  # open times of closed candles
    fetched: list[list] = []
    pages = 0
    while start < end:
        page = source.fetch_ohlcv(symbol, timeframe, start, page_limit)
        pages += 1
        rows = [[c.ts_ms, c.open, c.high, c.low, c.close, c.volume] for c in page if start <= c.ts_ms < end]
        if not rows:
            break
        fetched.extend(rows)
        start = rows[-1][0] + tf
        if progress is not None:
            progress(len(fetched), rows[-1][0])
        if pages % checkpoint_pages == 0:
            _write(path, existing, fetched)
        if len(page) < page_limit and page[-1].ts_ms + tf > end:
            break  # the venue has nothing newer that is closed
    _write(path, existing, fetched)
    _, report = load_ohlcv(path, timeframe=timeframe)
    return DownloadResult(path, len(fetched), pages, resumed_from, report)


class FundingSource(Protocol):
    """What :func:`download_funding` needs of a venue (:class:`gateways.ccxt_gateway.CcxtGateway`
    with ``market="futures"``)."""

    def fetch_time(self) -> int: ...

    def fetch_funding_rates(self, symbol: str, since_ms: int, until_ms: int,
                            limit: int | None = None) -> list[tuple[int, Decimal]]: ...


def perpetual_name(symbol: str, timeframe: str, fmt: str = "csv.gz") -> str:
    """``BTC/USDT``, ``1h`` -> ``BTC_USDT_USDT-1h-futures.csv.gz``: freqtrade's name of a linear
    perpetual's candles (the name the paper daemon looks for, :mod:`bot.config`)."""
    return f"{perpetual_stem(symbol)}-{timeframe}-futures.{fmt}"


def funding_name(symbol: str) -> str:
    """``BTC/USDT`` -> ``BTC_USDT_USDT-8h-funding_rate.csv`` (freqtrade's name)."""
    return f"{perpetual_stem(symbol)}-8h-funding_rate.csv"


def download_funding(source: FundingSource, symbol: str, path: Path, since_ms: int, until_ms: int | None = None,
                     page_limit: int = 1000) -> DownloadResult:
    """Fetch a perpetual's funding rates into ``path``, a CSV of ``timestamp,funding_rate``
    (ms UTC, the venue's rate text; :meth:`engine.futures.FundingRates.read_csv` reads it),
    paginated from ``since_ms`` to ``until_ms`` (exclusive; default: now). A second run
    resumes after the file's last rate and never repeats one. The file is written whole at
    the end (``*.part``, then renamed). ``report`` of the result is None.

    Raises:
        DataError: ``path`` exists but is not a funding file.
        VenueError, VenueUnavailable: from the source (nothing is written then).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    existing: list[tuple[int, Decimal]] = []
    if path.exists():
        rates = FundingRates.read_csv(path)
        existing = list(zip(rates.times, rates.rates))
    resumed_from = existing[-1][0] if existing else None
    start = since_ms if resumed_from is None else resumed_from + 1
    end = until_ms if until_ms is not None else source.fetch_time() + 1
    fetched: list[tuple[int, Decimal]] = []
    pages = 0
    while start < end:
        page = source.fetch_funding_rates(symbol, start, end, page_limit)
        pages += 1
        if not page:
            break
        fetched.extend(page)
        start = page[-1][0] + 1
        if len(page) < page_limit:
            break
    rows = dict(existing)
    rows.update((ts, rate) for ts, rate in fetched if ts not in rows)
    part = path.with_name(path.name + ".part")
    part.write_text("timestamp,funding_rate\n" + "".join(f"{ts},{rate}\n" for ts, rate in sorted(rows.items())))
    os.replace(part, path)
    return DownloadResult(path, len(fetched), pages, resumed_from, None)


def _read_existing(path: Path, timeframe: str) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS)
    raw = read_ohlcv_file(path).drop(columns="line")
    if len(raw) > 1:
        step = int(pd.Series(raw["timestamp"]).diff().dropna().mode().iloc[0])
        if step != timeframe_to_ms(timeframe):
            raise DataError(f"the file holds {step} ms candles, not {timeframe}: use another file", str(path))
    return raw.sort_values("timestamp", kind="stable").reset_index(drop=True)


def _write(path: Path, existing: pd.DataFrame, fetched: list[list]) -> None:
    new = pd.DataFrame(fetched, columns=COLUMNS)
    frames = [f for f in (existing, new) if len(f)]
    df = pd.concat(frames, ignore_index=True) if frames else new
    df = df.drop_duplicates("timestamp", keep="first").sort_values("timestamp", kind="stable")
    df["timestamp"] = df["timestamp"].astype("int64")
    part = path.with_name(path.name + ".part")
    if path.name.endswith(".parquet"):
        df.to_parquet(part, index=False)
    else:
        df.to_csv(part, index=False, compression={"method": "gzip", "mtime": 0})
    os.replace(part, path)
