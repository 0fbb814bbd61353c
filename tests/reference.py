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


def sma_cross_long_short_trades(df: pd.DataFrame, fast: int, slow: int, wallet: float, fee: float, leverage: float,
                                stake: float, funding: pd.DataFrame | None, tf_ms: int) -> tuple[pd.DataFrame, float]:
    """The rules of ``sma_cross`` with ``allow_short`` on market futures, written apart from the
    engine: a cross above wants long, a cross below wants short (signal at candle i's close).
    Flat: enter that side at candle i+1's open with margin ``min(stake, wallet / (1 + fee x
    leverage))`` and notional ``margin x leverage`` (``qty = notional / open``). Holding the other
    side: close it at i+1's open, then enter the wanted side at the open after the first
    candle seen flat (i+2), unless a newer signal came first. Fee on every fill's notional.
    Funding: for each funding time in a candle ``[ts, ts + tf)``, the position after that
    candle's open fills pays ``signed qty x open x rate``. An open position is closed at the
    last close. Returns the trades (entry_ts, exit_ts, short, entry_price, exit_price, qty,
    fees, funding, pnl, end_of_data) and the final wallet."""
    close = df["close"]
    f, s = close.rolling(fast).mean(), close.rolling(slow).mean()
    up = ((f > s) & (f.shift() <= s.shift())).to_numpy()
    down = ((f < s) & (f.shift() >= s.shift())).to_numpy()
    want = np.where(up, 1, np.where(down, -1, 0))
    opens, closes, ts = df["open"].to_numpy(), close.to_numpy(), df["timestamp"].to_numpy()
    n = len(df)
    rate = np.zeros(n)
    if funding is not None:
        at = np.searchsorted(ts, funding["timestamp"].to_numpy(), side="right") - 1  # the candle holding each time
        inside = (at >= 0) & (funding["timestamp"].to_numpy() < ts[np.maximum(at, 0)] + tf_ms)
        np.add.at(rate, at[inside], funding["funding_rate"].astype(float).to_numpy()[inside])
    rows: list = []
    pos = None  # [side, qty, entry_ts, entry_price, entry_fee, funding]
    enter_at = exit_at = None  # (candle index, side) of the orders to fill at an open
    reverse_to = 0
    for i in range(n):
        if exit_at == i:
            side, qty, t0, p0, fee0, paid = pos
            fee1 = qty * opens[i] * fee
            pnl = side * qty * (opens[i] - p0) - fee0 - fee1 - paid
            wallet += side * qty * (opens[i] - p0) - fee1
            rows.append((t0, ts[i], side < 0, p0, opens[i], qty, fee0 + fee1, paid, pnl, False))
            pos, exit_at = None, None
        if enter_at is not None and enter_at[0] == i:
            margin = min(stake, wallet / (1 + fee * leverage))
            qty = margin * leverage / opens[i]
            fee0 = qty * opens[i] * fee
            wallet -= fee0
            pos, enter_at = [enter_at[1], qty, ts[i], opens[i], fee0, 0.0], None
        if pos is not None and rate[i]:
            paid = pos[0] * pos[1] * opens[i] * rate[i]
            wallet -= paid
            pos[5] += paid
        if i + 1 >= n:
            break
        signal = int(want[i])
        if signal == 0:
            if reverse_to and pos is None:
                enter_at, reverse_to = (i + 1, reverse_to), 0
            continue
        reverse_to = 0
        if pos is None:
            enter_at = (i + 1, signal)
        elif pos[0] != signal:
            exit_at, reverse_to = i + 1, signal
    if pos is not None:
        side, qty, t0, p0, fee0, paid = pos
        fee1 = qty * closes[-1] * fee
        wallet += side * qty * (closes[-1] - p0) - fee1
        rows.append((t0, ts[-1], side < 0, p0, closes[-1], qty, fee0 + fee1, paid,
                     side * qty * (closes[-1] - p0) - fee0 - fee1 - paid, True))
    return pd.DataFrame(rows, columns=["entry_ts", "exit_ts", "short", "entry_price", "exit_price", "qty", "fees",
                                       "funding", "pnl", "end_of_data"]), wallet
