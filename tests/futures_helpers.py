"""The window of real data the dry-run and live futures tests share: Binance's two real
BTCUSDT funding rates of 2019-10-09 (``tests/fixtures/futures``), with the real BTC/USDT spot
1h candles around them standing in for the perpetual's price."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

HOUR = 3_600_000
FUNDING_1 = 1570608000000  # 2019-10-09T08:00Z, rate -0.0375
FUNDING_2 = 1570636800000  # 2019-10-09T16:00Z, rate 0.0001
START = FUNDING_1 - 36 * HOUR
END = FUNDING_2 + 12 * HOUR
STRATEGY = {"symbol": "BTC/USDT", "timeframe": "1h", "params": {"fast": 5, "slow": 12, "allow_short": True},
            "stake": "200"}


def btc_1h_frame(data_dir: Path) -> pd.DataFrame:
    """The real BTC/USDT 1h spot candles."""
    return pd.read_csv(data_dir / "binance/BTC_USDT-1h.csv.gz")
