"""The bench's data: the real BTC/USDT 1m file and a longer series built from real candles.

``synthetic(n)`` is deterministic (no random numbers) and is made like this:

1. Load these real files with :func:`engine.data.load_ohlcv` (cleaned, sorted), in this
   order: BTC_USDT-1m, ETH_USDT-1m, ETH_BTC-1m, then the 5m files of BTC_USDT, ETH_USDT,
   ADA_USDT, SOL_USDT, XRP_USDT and ETH_BTC (about 495,000 candles in all).
2. Express each candle relative to the previous close of its own file (open/prev, high/prev,
   low/prev, close/prev; the first candle of a file relative to its own open), so every
   candle keeps its real shape and every close-to-close move is a real one, except for the
   file's average drift, divided out (a factor within 1 +/- 4.1e-5 per candle) so that each
   file ends at the level it began and the chained price stays in a real range.
3. Chain these relative candles, cycling through the list until ``n`` candles, from the
   first real BTC/USDT close, and round prices to 0.01 (the BTC/USDT tick; it keeps the
   equal-price stretches real data has). Volumes are the real ones.
4. Time stamps are consecutive minutes from the first real BTC/USDT candle, with no gaps.

So the series is as trade-heavy as real minute data (crossings, flat stretches, ties)
while being as long as the bench needs.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from engine.data import load_ohlcv

SOURCES = ["BTC_USDT-1m", "ETH_USDT-1m", "ETH_BTC-1m", "BTC_USDT-5m", "ETH_USDT-5m", "ADA_USDT-5m",
           "SOL_USDT-5m", "XRP_USDT-5m", "ETH_BTC-5m"]
REAL = "BTC_USDT-1m"
MINUTE_MS = 60_000


def shared_data() -> Path:
    """The shared real data: ``../shared/data`` beside the repository, or ``QUANTD_TEST_DATA``.
    (The same rule as ``tests/conftest.py``, without importing pytest.)"""
    repo = Path(__file__).resolve().parents[1]
    return Path(os.environ.get("QUANTD_TEST_DATA", repo.parent / "shared" / "data"))


def data_dir() -> Path:
    """The real Binance OHLCV files of :func:`shared_data`."""
    return shared_data() / "binance"


@lru_cache(maxsize=None)
def real(name: str = REAL) -> pd.DataFrame:
    """A real file, loaded and validated as ``quantd backtest`` loads it."""
    df, _ = load_ohlcv(data_dir() / f"{name}.csv.gz")
    return df


def synthetic(n: int) -> pd.DataFrame:
    """``n`` one-minute candles chained from real ones (module docstring); columns
    timestamp (ms UTC), open, high, low, close, volume."""
    parts = []
    for name in SOURCES:
        if parts and sum(len(p) for p in parts) >= n:
            break  # enough real candles: the rest of the list is not read
        df = real(name)
        o, h, low, c = (df[k].to_numpy(dtype=float) for k in ("open", "high", "low", "close"))
        prev = np.concatenate(([o[0]], c[:-1]))
        drift = (c[-1] / o[0]) ** (1.0 / len(c))  # taken out so each file ends where it began
        parts.append(np.column_stack((o / prev, h / prev / drift, low / prev / drift, c / prev / drift,
                                      df["volume"].to_numpy(float))))
    rel = np.concatenate(parts)
    rel = np.tile(rel, (-(-n // len(rel)), 1))[:n]
    first = real(REAL)
    close = float(first["open"].iloc[0]) * np.cumprod(rel[:, 3])
    prev = np.concatenate(([float(first["open"].iloc[0])], close[:-1]))
    o, c = np.round(prev * rel[:, 0], 2), np.round(close, 2)
    out = pd.DataFrame({
        "timestamp": int(first["timestamp"].iloc[0]) + MINUTE_MS * np.arange(n, dtype=np.int64),
        "open": o, "high": np.maximum(np.round(prev * rel[:, 1], 2), np.maximum(o, c)),
        "low": np.minimum(np.round(prev * rel[:, 2], 2), np.minimum(o, c)), "close": c, "volume": rel[:, 4],
    })
    return out


SERIES_DIR_ENV = "QUANTD_BENCH_SERIES"
"""A folder of prepared ``synth-N.npy`` files (set by ``python -m bench`` for its workers)."""


def dataset(name: str) -> pd.DataFrame:
    """``real`` (the 42,915-candle BTC/USDT 1m file) or ``synth-N`` (N synthetic candles).

    A synthetic series is read from :data:`SERIES_DIR_ENV`'s folder when it was prepared
    there (:func:`prepare`), so a worker's memory figure is the backtest's and the data's,
    not the transient cost of building the series from the real files."""
    if name == "real":
        return real(REAL)
    if name.startswith("synth-"):
        folder = os.environ.get(SERIES_DIR_ENV)
        if folder and (Path(folder) / f"{name}.npy").exists():
            return _from_array(np.load(Path(folder) / f"{name}.npy"))
        return synthetic(int(name.removeprefix("synth-")))
    raise ValueError(f"unknown dataset {name!r}: real or synth-N")


COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


def prepare(name: str, folder: Path) -> None:
    """Build a ``synth-N`` series once and store it in ``folder`` for :func:`dataset`."""
    if name.startswith("synth-"):
        df = synthetic(int(name.removeprefix("synth-")))
        np.save(folder / f"{name}.npy", df[list(COLUMNS)].to_numpy(dtype=float))


def _from_array(arr: np.ndarray) -> pd.DataFrame:
    out = pd.DataFrame({k: arr[:, i] for i, k in enumerate(COLUMNS)})
    out["timestamp"] = out["timestamp"].astype(np.int64)
    return out
