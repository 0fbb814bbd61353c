"""The vectorised backtest of a futures account: long and short round trips, funding and
liquidation, with the event-driven engine's rules (:mod:`engine.futures`, ADR 0017).

Signals are the codes of ``signals(df)``: +1 BUY (enter long), -1 SELL (exit long), +2
ENTER_SHORT, -2 EXIT_SHORT. The position's state machine walks the **decision candles**
only, found with index arrays; each round trip's funding and liquidation are computed over
its holding window with numpy:

* flat, a +1 or +2 at candle *d* enters at the open of *d+1*: margin ``min(wanted, wallet /
  (1 + fee x leverage), tier cap / leverage)`` (``wanted`` from the stake: the wallet, a quote
  amount or a share of equity; the tier cap is the largest position the market's tiers allow
  at the leverage), notional ``margin x leverage``, ``qty = notional / price``;
* holding, the exit code of its side (-1 long, -2 short) exits at the next open; the other
  side's entry code does too, and then enters that side at the open after the exit's fill
  candle, unless that candle has a signal of its own (which is then acted on as when flat);
* in each candle held (from the entry's fill candle to the candle of the exit decision), the
  position is first liquidated if the low (long) or high (short) reaches the liquidation
  price of its margin so far (with the maintenance tier of its notional at entry), at that price with the fee and no slippage (the candle's signal
  is then ignored); else it pays the funding due in the candle, ``signed qty x open x rate``,
  from its margin;
* fills get ``open x (1 +/- slippage)``; a position open at the end closes at the last close.

Money is float64 (research analytics); ``tests/test_futures.py`` checks this module against
the event-driven engine trade for trade.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from engine.backtest.engine import BacktestConfig
from engine.futures import tiers_for
from engine.risk.sizing import AllCash, FixedQuote, PercentOfEquity


def _next_index(mask: np.ndarray) -> np.ndarray:
    """For each candle i, the first candle j >= i where ``mask`` holds (``mask.size`` when none)."""
    n = mask.size
    idx = np.where(mask, np.arange(n), n)
    return np.minimum.accumulate(idx[::-1])[::-1]


def _maintenance(notional: float, config: BacktestConfig) -> tuple[float, float]:
    """Maintenance rate and amount for a position of ``notional`` quote: the tier holding it
    (``config.tiers``), else ``config.maintenance_rate`` and 0."""
    tiers = tiers_for(config.tiers, config.symbol)
    if tiers is None:
        return float(config.maintenance_rate), 0.0
    # the engine's quantity is rounded down to 1e-12 base: float noise must not lift a position
    # sized at a tier's cap into the next tier
    tier = tiers.at(Decimal(repr(float(notional) * (1.0 - 1e-12))))
    return float(tier.rate), float(tier.amount)


def funding_per_candle(ts: np.ndarray, tf_ms: int, config: BacktestConfig) -> np.ndarray:
    """The funding rate due in each candle ``[ts, ts + tf)`` (summed when several; 0 when none)."""
    rate = np.zeros(ts.size)
    if config.funding is None or ts.size == 0:
        return rate
    times = np.asarray(config.funding.times, dtype=np.int64)
    at = np.searchsorted(ts, times, side="right") - 1
    inside = (at >= 0) & (times < ts[np.maximum(at, 0)] + tf_ms)
    np.add.at(rate, at[inside], np.array([float(r) for r in config.funding.rates])[inside])
    return rate


def futures_round_trips(signals: np.ndarray, ts: np.ndarray, op: np.ndarray, hi: np.ndarray, lo: np.ndarray,
                        cl: np.ndarray, sizer, config: BacktestConfig, tf_ms: int):
    """Round trips, equity at each close and the candles held, for ``signals`` on a futures
    account (module docstring).

    Returns:
        ``(columns, equity, in_position)``: ``columns`` is a dict of arrays, one row per trade
        (``entry_idx``, ``exit_idx``, ``side`` +1/-1, ``entry_price``, ``exit_price``, ``qty``,
        ``entry_fee``, ``exit_fee``, ``funding``, ``end_of_data``, ``liquidated``).
    """
    n = ts.size
    fee, lev = float(config.fee_rate), float(config.leverage)
    slip = float(config.slippage_bps) / 10_000.0
    rate = funding_per_candle(ts, tf_ms, config)
    next_entry = _next_index((signals == 1) | (signals == 2))
    next_exit = {1: _next_index((signals == -1) | (signals == 2)), -1: _next_index((signals == 1) | (signals == -2))}
    cash_cap = 1.0 + fee * lev
    tiers = tiers_for(config.tiers, config.symbol)
    cap = float(tiers.max_notional(config.leverage)) if tiers is not None else float("inf")
    fixed = float(sizer.stake) if isinstance(sizer, FixedQuote) else None
    pct = float(sizer.pct) / 100.0 if isinstance(sizer, PercentOfEquity) else None
    rows: list[tuple] = []
    delta = np.zeros(n + 1)  # wallet changes booked at each candle (index n: the end-of-data close)
    held = np.zeros(n + 1, dtype=np.int64)  # +1 from a trade's first held close, -1 after its last
    unreal: list[tuple] = []  # (first, last, side, qty, entry price) of the held closes
    wallet = float(config.cash)
    decision = 0  # the next close where a flat account may act
    pending = 0  # the side to enter at the open after `decision` (a reversal), 0 for none
    while decision < n:
        if pending and signals[decision] == 0:
            d, side = decision, pending
        else:
            d = int(next_entry[decision])
            if d >= n:
                break
            side = 1 if signals[d] == 1 else -1
        pending = 0
        e = d + 1
        if e >= n:  # no open left to fill on: the order is canceled at the end
            break
        wanted = wallet if isinstance(sizer, AllCash) else fixed if fixed is not None else wallet * pct
        margin = max(0.0, min(wanted, wallet / cash_cap, cap / lev))
        if margin <= 0:
            decision = e
            continue
        price = op[e] * (1.0 + side * slip)
        qty = margin * lev / price
        entry_fee = qty * price * fee
        margin = qty * price / lev
        wallet -= entry_fee
        delta[e] -= entry_fee
        c = int(next_exit[side][e])  # the close of the exit decision (n: none)
        last = min(c, n - 1)
        w = slice(e, last + 1)
        paid = side * qty * op[w] * rate[w]
        margin_at = margin - np.concatenate(([0.0], np.cumsum(paid)[:-1]))
        mmr, cum = _maintenance(qty * price, config)
        lp = np.maximum((margin_at + cum - side * qty * price) / (qty * (mmr - side)), 0.0)
        hit = np.flatnonzero(lo[w] <= lp if side > 0 else hi[w] >= lp)
        funding_candles = hit[0] if hit.size else last + 1 - e
        delta[e:e + funding_candles] -= paid[:funding_candles]
        funding = float(paid[:funding_candles].sum())
        if hit.size:  # liquidated on candle e + hit[0], at its price
            x = e + int(hit[0])
            exit_price, liquidated, eod, exit_at = float(lp[hit[0]]), True, False, x
            decision = x + 1
            last_held = x - 1
        elif c < n - 1:  # exit at the next open
            x = c + 1
            exit_price, liquidated, eod, exit_at = op[x] * (1.0 - side * slip), False, False, x
            decision = x
            pending = 0 if signals[c] in (-1, -2) else (1 if signals[c] == 1 else -1)
            last_held = c
        else:  # open to the end: closed at the last close
            x = n - 1
            exit_price, liquidated, eod, exit_at = cl[-1] * (1.0 - side * slip), False, True, n
            decision = n
            last_held = n - 1
        exit_fee = qty * exit_price * fee
        gain = side * qty * (exit_price - price) - exit_fee
        wallet += gain - funding
        delta[exit_at] += gain
        if last_held >= e:
            held[e] += 1
            held[last_held + 1] -= 1
            unreal.append((e, last_held, side, qty, price))
        rows.append((e, x, side, price, exit_price, qty, entry_fee, exit_fee, funding, eod, liquidated))
    wallet_curve = float(config.cash) + np.cumsum(delta)
    equity = wallet_curve[:n].copy()
    for first, last_held, side, qty, price in unreal:
        equity[first:last_held + 1] += side * qty * (cl[first:last_held + 1] - price)
    in_pos = np.cumsum(held)[:n] > 0
    if rows and rows[-1][9]:  # the end-of-data close: the last value is the wallet after it
        equity[-1] = wallet_curve[n]
    names = ("entry_idx", "exit_idx", "side", "entry_price", "exit_price", "qty", "entry_fee", "exit_fee", "funding",
             "end_of_data", "liquidated")
    columns = {k: np.array([r[i] for r in rows]) for i, k in enumerate(names)}
    return columns, equity, in_pos
