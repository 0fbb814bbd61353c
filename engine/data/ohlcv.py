"""Read OHLCV files into a typed DataFrame, naming the file and line of any bad value.

File format (the one of the project's shared data and of freqtrade's CSV export): a header
``timestamp,open,high,low,close,volume``; ``timestamp`` is the candle open time in integer
ms since the epoch, UTC; prices in quote currency; volume in base currency. ``.csv`` and
``.csv.gz`` are read with pandas; ``.parquet`` needs pyarrow (``pip install quantd[parquet]``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from engine.data.validate import DataReport, clean_ohlcv
from engine.errors import DataError
from engine.timeframes import timeframe_to_ms

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
_NAME = re.compile(r"(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)(?:_[A-Z0-9]+)?-(?P<tf>\d+(?:m|h|d|w|Mo|M))")


def symbol_timeframe_from_name(path: str | Path) -> tuple[str | None, str | None]:
    """Guess (symbol, timeframe) from a freqtrade-style file name such as ``BTC_USDT-1h.csv.gz``
    (a perpetual's ``XRP_USDT_USDT-5m-futures.csv.gz`` gives ``XRP/USDT``: the engine's name).

    Returns ``(None, None)`` parts when the name does not follow the pattern. ``1Mo`` maps to "1M".
    """
    match = _NAME.search(Path(path).name)
    if not match:
        return None, None
    tf = match.group("tf").replace("Mo", "M")
    return f"{match.group('base')}/{match.group('quote')}", tf


def read_ohlcv_file(path: str | Path) -> pd.DataFrame:
    """Read a file as-is (no sorting or de-duplication) into the six typed columns.

    Returns:
        DataFrame with int64 ``timestamp`` and float64 OHLCV columns, in file order, plus a
        ``line`` column (1-based line number in the file, header = 1; row number + 1 for Parquet).

    Raises:
        DataError: unreadable file, missing columns, or a value that is not a finite number
            (naming the file, the line and the column).
    """
    p = Path(path)
    if not p.exists():
        raise DataError("no such file", str(path))
    try:
        if p.suffix == ".parquet":
            try:
                raw = pd.read_parquet(p)
            except ImportError as exc:
                raise DataError("reading Parquet needs pyarrow: pip install 'quantd[parquet]'", str(path)) from exc
            raw = raw.astype(str)
        else:
            raw = pd.read_csv(p, dtype=str, keep_default_na=False)
    except DataError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types for unreadable files
        raise DataError(f"cannot read file ({type(exc).__name__}: {exc})", str(path)) from exc
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}; expected header {','.join(COLUMNS)}", str(path))
    if raw.empty:
        raise DataError("no candles in file", str(path))
    out = pd.DataFrame({"line": np.arange(2, len(raw) + 2, dtype=np.int64)})
    for col in COLUMNS:
        values = pd.to_numeric(raw[col].str.strip(), errors="coerce")
        bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"column {col!r} has {raw[col].iloc[i]!r}, not a finite number", str(path), i + 2)
        out[col] = values.to_numpy(dtype=np.float64)
    ts = out["timestamp"].to_numpy()
    frac = ts != np.floor(ts)
    if frac.any():
        i = int(np.flatnonzero(frac)[0])
        raise DataError(f"timestamp {raw['timestamp'].iloc[i]!r} is not whole milliseconds", str(path), i + 2)
    out["timestamp"] = ts.astype(np.int64)
    return out


def load_ohlcv(
    path: str | Path,
    timeframe: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> tuple[pd.DataFrame, DataReport]:
    """Load, validate and clean an OHLCV file.

    Args:
        path: CSV, CSV.gz or Parquet file.
        timeframe: e.g. "1h"; taken from the file name, else inferred from the most common
            step, when not given.
        start_ms, end_ms: keep candles with ``start_ms <= timestamp < end_ms`` (ms UTC),
            applied after validation so the report covers the whole file.

    Returns:
        ``(df, report)``: df has columns ``timestamp, open, high, low, close, volume`` sorted
        by timestamp with exact duplicates dropped, index 0..n-1; report lists what was
        cleaned and flagged (see :class:`DataReport`).

    Raises:
        DataError: unreadable file or bad value (file and line named), conflicting duplicate
            timestamps, impossible OHLC, or nothing left in the requested range.
    """
    raw = read_ohlcv_file(path)
    if timeframe is None:
        timeframe = symbol_timeframe_from_name(path)[1] or _infer_timeframe(raw)
    tf_ms = timeframe_to_ms(timeframe)
    df, report = clean_ohlcv(raw, tf_ms, source=str(path))
    report.timeframe = timeframe
    if start_ms is not None or end_ms is not None:
        lo = start_ms if start_ms is not None else np.iinfo(np.int64).min
        hi = end_ms if end_ms is not None else np.iinfo(np.int64).max
        df = df[(df["timestamp"] >= lo) & (df["timestamp"] < hi)].reset_index(drop=True)
        if df.empty:
            raise DataError("no candles in the requested time range", str(path))
    return df, report


def _infer_timeframe(raw: pd.DataFrame) -> str:
    from engine.timeframes import ms_to_timeframe

    steps = np.diff(np.sort(raw["timestamp"].to_numpy()))
    steps = steps[steps > 0]
    if steps.size == 0:
        raise DataError("cannot infer the timeframe from fewer than two candles; pass --timeframe")
    values, counts = np.unique(steps, return_counts=True)
    return ms_to_timeframe(int(values[np.argmax(counts)]))
