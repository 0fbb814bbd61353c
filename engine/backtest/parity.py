"""Parity of the vectorised and event-driven backtests: the same strategy, the same trades.

For each strategy that has ``signals(df)``, :func:`compare` runs the event-driven engine
(one candle at a time through ``on_candle``, sizing, risk and the simulated venue) and the
vectorised engine (``signals(df)`` and array fills) on the same candles and settings, and
matches their round trips: the same entry and exit candles and reasons, with prices,
quantities and fees equal to ``REL``. It also compares the raw signal streams candle for
candle. ``quantd validate`` prints the table; ``tests/test_parity.py`` requires 100%.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import pandas as pd

from engine.backtest.engine import BacktestConfig, run_backtest
from engine.backtest.vectorized import run_vectorized, supports_vectorized
from engine.models import Candle
from engine.strategy.base import Strategy, StrategyContext
from engine.strategy.builtin._vector import CODE
from engine.timeframes import iso_utc

REL = 1e-9
"""Relative tolerance on prices, quantities and fees (float64 there, Decimal here)."""



@dataclass
class ParityRow:
    """One strategy on one file.

    Attributes:
        strategy: ``name(k=v, ...)``; file: the data file's name; candles: rows used.
        signal_mismatches: candles where ``signals(df)`` differs from ``on_candle``.
        event_trades, vector_trades: round trips of each engine.
        matching: round trips equal in both (same candles and reason, money to ``REL``).
        first_mismatch: the earliest difference with both sides' values, or "".
    """

    strategy: str
    file: str
    candles: int
    signal_mismatches: int
    event_trades: int
    vector_trades: int
    matching: int
    first_mismatch: str = ""

    @property
    def matching_pct(self) -> float:
        """Matching round trips as a percentage of the larger trade count (100 when both are 0)."""
        most = max(self.event_trades, self.vector_trades)
        return 100.0 if most == 0 else 100.0 * self.matching / most

    @property
    def ok(self) -> bool:
        """Full parity: every signal and every trade equal."""
        return self.signal_mismatches == 0 and self.matching == self.event_trades == self.vector_trades

    def as_dict(self) -> dict:
        return {**asdict(self), "matching_pct": round(self.matching_pct, 4), "ok": self.ok}


def signal_stream(strategy: Strategy, df: pd.DataFrame, symbol: str, timeframe: str) -> np.ndarray:
    """``on_candle`` over every candle of ``df`` as int8 codes (+1 BUY, -1 SELL, 0 None), flat
    and with no working order throughout (what the signal depends on is the candles only)."""
    ctx = StrategyContext(symbol, timeframe)
    return np.array([CODE[strategy.on_candle(Candle(*row), ctx)] for row in
                     df[["timestamp", "open", "high", "low", "close", "volume"]].itertuples(index=False)],
                    dtype=np.int8)


def _trade_key(t) -> tuple:
    kind = "end" if t.exit_reason.startswith("end") else "liquidation" if t.exit_reason.startswith("liquidation") \
        else "signal"
    return (t.entry_ts_ms, t.exit_ts_ms, t.short, kind)


def _money_equal(a, b) -> str:
    for attr in ("entry_price", "exit_price", "qty", "entry_fee", "exit_fee", "funding"):
        x, y = float(getattr(a, attr)), float(getattr(b, attr))
        if abs(x - y) > REL * max(abs(x), abs(y), 1e-300):
            return f"{attr} event {x!r} vs vectorised {y!r}"
    return ""


def _describe(t) -> str:
    return (f"entry {iso_utc(t.entry_ts_ms)} @ {float(t.entry_price):.10g}, exit {iso_utc(t.exit_ts_ms)} "
            f"@ {float(t.exit_price):.10g} ({t.exit_reason})")


def compare(df: pd.DataFrame, make: Callable[[], Strategy], config: BacktestConfig, file: str = "") -> ParityRow:
    """Run both engines on ``df`` with fresh strategies from ``make`` and match the results.

    Raises:
        StrategyError: the strategy has no vectorised form.
    """
    probe = make()
    if not supports_vectorized(probe):
        from engine.errors import StrategyError

        raise StrategyError(f"{probe.name} has no signals(df): nothing to compare")
    inc = signal_stream(probe, df, config.symbol, config.timeframe)
    vec = np.asarray(make().signals(df))
    bad = np.flatnonzero(inc != vec)
    event = run_backtest(df, make(), config).trades
    vector = run_vectorized(df, make(), config).trades
    by_key = {_trade_key(t): t for t in vector}
    matching, first = 0, ""
    for t in event:
        other = by_key.get(_trade_key(t))
        problem = "no vectorised trade with these candles" if other is None else _money_equal(t, other)
        if not problem:
            matching += 1
        elif not first:
            first = f"{_describe(t)}: {problem}"
    if not first and len(vector) != len(event):
        keys = {_trade_key(t) for t in event}
        extra = next(t for t in vector if _trade_key(t) not in keys)
        first = f"vectorised only: {_describe(extra)}"
    if bad.size and not first:
        i = int(bad[0])
        first = f"signal at {iso_utc(int(df['timestamp'].iat[i]))}: on_candle {inc[i]} vs signals {vec[i]}"
    return ParityRow(probe.describe(), file, len(df), int(bad.size), len(event), len(vector), matching, first)


def markdown(rows: list[ParityRow]) -> str:
    """The parity table in Markdown."""
    lines = ["| strategy | file | candles | trades (event / vectorised) | matching | signals differing | first mismatch |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r.strategy} | {r.file} | {r.candles:,} | {r.event_trades:,} / {r.vector_trades:,} | "
                     f"{r.matching_pct:.2f}% | {r.signal_mismatches} | {r.first_mismatch or '-'} |")
    return "\n".join(lines) + "\n"
