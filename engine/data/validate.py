"""Validation and cleaning of OHLCV frames, with a report of everything done or found.

Cleaning is limited to what is provably safe: sorting by time and dropping rows that are
exact duplicates. Everything else is either refused (an error naming the row) or flagged
in the report and kept as the exchange published it:

* refused: two rows with the same timestamp and different values (which one is right is
  unknowable); impossible OHLC (``high < max(open, close)``, ``low > min(open, close)``,
  negative price or volume).
* flagged: gaps (missing candle open times), zero-volume candles (Binance emits them in
  maintenance windows), candles off the timeframe grid (Binance's 2018-02-09..11 hourly
  candles open at hh:28:14.789).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.errors import DataError

_DAY_MS = 86_400_000
_MONTH_MS = 30 * _DAY_MS


@dataclass(frozen=True)
class Gap:
    """Consecutive candles further apart than one timeframe.

    Attributes:
        after_ms: open time of the last candle before the gap (ms UTC).
        next_ms: open time of the first candle after it.
        missing: candle open times absent inside the gap: ``ceil((next - after) / tf) - 1``.
    """

    after_ms: int
    next_ms: int
    missing: int


@dataclass
class DataReport:
    """What :func:`clean_ohlcv` did and found. Times are ms UTC.

    Attributes:
        rows_read: rows in the file; rows: rows kept.
        unsorted: True when the file was not in time order (it was sorted).
        duplicates_dropped: exact duplicate rows removed.
        gaps: every gap, in time order; ``missing_candles`` sums their ``missing``.
        zero_volume_ts: open times of candles with volume 0 (kept).
        off_grid_ts: open times not on the timeframe grid (kept; checked for timeframes
            that divide a day).
    """

    source: str
    timeframe: str = ""
    rows_read: int = 0
    rows: int = 0
    first_ms: int = 0
    last_ms: int = 0
    unsorted: bool = False
    duplicates_dropped: int = 0
    gaps: list[Gap] = field(default_factory=list)
    zero_volume_ts: list[int] = field(default_factory=list)
    off_grid_ts: list[int] = field(default_factory=list)

    @property
    def missing_candles(self) -> int:
        """Sum of missing candles over all gaps."""
        return sum(g.missing for g in self.gaps)

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (
            f"{self.source}: {self.rows} candles ({self.timeframe}), {self.duplicates_dropped} duplicate(s) dropped"
            f"{', re-sorted' if self.unsorted else ''}, {len(self.gaps)} gap(s) / {self.missing_candles} missing, "
            f"{len(self.zero_volume_ts)} zero-volume, {len(self.off_grid_ts)} off-grid"
        )


def clean_ohlcv(raw: pd.DataFrame, tf_ms: int, source: str = "<frame>") -> tuple[pd.DataFrame, DataReport]:
    """Sort, de-duplicate and check a frame from :func:`engine.data.read_ohlcv_file`.

    Args:
        raw: columns ``timestamp, open, high, low, close, volume`` and optionally ``line``
            (1-based file line, used in error messages).
        tf_ms: candle length in ms.
        source: name used in messages (the file path).

    Returns:
        ``(df, report)`` with df sorted, exact duplicates dropped, index 0..n-1, no ``line``.

    Raises:
        DataError: conflicting duplicates (naming the timestamp and both lines) or impossible
            OHLC values (naming the line).
    """
    report = DataReport(source=source, rows_read=len(raw))
    lines = raw["line"].to_numpy() if "line" in raw else np.arange(2, len(raw) + 2)
    _check_ohlc(raw, lines, source)
    ts = raw["timestamp"].to_numpy()
    report.unsorted = bool(np.any(np.diff(ts) < 0))
    order = np.argsort(ts, kind="stable")
    df = raw.iloc[order].reset_index(drop=True)
    lines = lines[order]
    cols = ["timestamp", "open", "high", "low", "close", "volume"]
    exact = df.duplicated(subset=cols, keep="first").to_numpy()
    report.duplicates_dropped = int(exact.sum())
    df, lines = df[~exact].reset_index(drop=True), lines[~exact]
    same_ts = df["timestamp"].duplicated(keep=False).to_numpy()
    if same_ts.any():
        first = int(np.flatnonzero(same_ts)[0])
        t = int(df["timestamp"].iloc[first])
        where = ", ".join(str(int(x)) for x in lines[df["timestamp"].to_numpy() == t])
        raise DataError(
            f"conflicting candles for timestamp {t} ({pd.Timestamp(t, unit='ms', tz='UTC').isoformat()}) "
            f"on lines {where}: same time, different values; fix or remove one",
            source,
        )
    df = df[cols]
    ts = df["timestamp"].to_numpy()
    steps = np.diff(ts)
    # Calendar months (ccxt "1M", stored as 30 days) have no fixed length: no gap check.
    gap_steps = steps > tf_ms if tf_ms < _MONTH_MS else np.zeros(len(steps), dtype=bool)
    for i in np.flatnonzero(gap_steps):
        missing = int(-(-int(steps[i]) // tf_ms) - 1)
        report.gaps.append(Gap(int(ts[i]), int(ts[i + 1]), missing))
    report.zero_volume_ts = [int(t) for t in ts[df["volume"].to_numpy() == 0]]
    if tf_ms <= _DAY_MS and _DAY_MS % tf_ms == 0:
        report.off_grid_ts = [int(t) for t in ts[ts % tf_ms != 0]]
    report.rows = len(df)
    report.first_ms, report.last_ms = int(ts[0]), int(ts[-1])
    return df, report


def _check_ohlc(raw: pd.DataFrame, lines: np.ndarray, source: str) -> None:
    o, h, l, c, v = (raw[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    checks = (
        (h < np.maximum(o, c), "high {h} is below max(open {o}, close {c})"),
        (l > np.minimum(o, c), "low {l} is above min(open {o}, close {c})"),
        (np.minimum.reduce([o, h, l, c]) <= 0, "non-positive price (open {o}, high {h}, low {l}, close {c})"),
        (v < 0, "negative volume {v}"),
    )
    for bad, text in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            msg = text.format(o=o[i], h=h[i], l=l[i], c=c[i], v=v[i])
            raise DataError(f"impossible candle: {msg}", source, int(lines[i]))
