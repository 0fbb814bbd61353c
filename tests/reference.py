"""An independent, vectorised re-implementation of the backtest rules for sma_cross.

Written with pandas only (no engine code), so the tests compare two implementations of the
same documented rules: signal at candle i's close, fill at candle i+1's open worsened by
slippage, ``qty = cash / (price * (1 + fee))``, fee on each fill, an open position closed at
the last close (with slippage and fee), a signal on the last candle ignored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def sma_cross_trades(df: pd.DataFrame, fast: int, slow: int, cash: float, fee: float, slip_bps: float,
                     stake: float | None = None) -> pd.DataFrame:
    """Trades as a frame: entry_ts, entry_price, exit_ts, exit_price, qty, fees, pnl, end_of_data."""
    close = df["close"]
    f, s = close.rolling(fast).mean(), close.rolling(slow).mean()
    buy = ((f > s) & (f.shift() <= s.shift())).to_numpy()
    sell = ((f < s) & (f.shift() >= s.shift())).to_numpy()
    opens, closes, ts = df["open"].to_numpy(), close.to_numpy(), df["timestamp"].to_numpy()
    n, slip = len(df), slip_bps / 10_000
    rows, held = [], None
    for i in np.flatnonzero(buy | sell):
        if i + 1 >= n:
            break
        if buy[i] and held is None:
            price = opens[i + 1] * (1 + slip)
            notional = cash / (1 + fee) if stake is None else min(stake, cash / (1 + fee))
            qty = notional / price
            held = (ts[i + 1], price, qty, qty * price * fee)
            cash -= qty * price + held[3]
        elif sell[i] and held is not None:
            cash = _close(rows, held, ts[i + 1], opens[i + 1] * (1 - slip), fee, cash, False)
            held = None
    if held is not None:
        _close(rows, held, ts[-1], closes[-1] * (1 - slip), fee, cash, True)
    return pd.DataFrame(rows, columns=["entry_ts", "entry_price", "exit_ts", "exit_price", "qty", "fees", "pnl",
                                       "end_of_data"])


def _close(rows, held, ts, price, fee, cash, end):
    entry_ts, entry_price, qty, entry_fee = held
    exit_fee = qty * price * fee
    rows.append((entry_ts, entry_price, ts, price, qty, entry_fee + exit_fee,
                 qty * (price - entry_price) - entry_fee - exit_fee, end))
    return cash + qty * price - exit_fee
