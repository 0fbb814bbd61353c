"""Low-profit pairs: a symbol whose recent trades made less than a minimum is locked."""

from __future__ import annotations

from dataclasses import dataclass

from engine.risk.base import RuleName
from engine.risk.pairlocks.base import ClosedTrade, LockRule, PairLock


@dataclass(frozen=True)
class LowProfitPairs(LockRule):
    """At least ``trades`` closed trades of one symbol within the last ``window_candles``
    candles whose summed net return is below ``min_profit_pct`` lock it for
    ``lock_candles`` candles (freqtrade's LowProfitPairs)."""

    trades: int
    window_candles: int
    min_profit_pct: float
    lock_candles: int
    name = RuleName.LOW_PROFIT_PAIRS

    def on_exit(self, trade: ClosedTrade, history: list[ClosedTrade], tf_ms: int) -> PairLock | None:
        since = trade.exit_ms - self.window_candles * tf_ms
        recent = [t for t in history if t.exit_ms >= since]
        if len(recent) < self.trades:
            return None
        profit_pct = sum(t.ratio for t in recent) * 100
        if profit_pct >= self.min_profit_pct:
            return None
        return PairLock(trade.symbol, trade.exit_ms + self.lock_candles * tf_ms, self.name,
                        f"{len(recent)} trades within {self.window_candles} candles made {profit_pct:+.2f}% "
                        f"(minimum {self.min_profit_pct:+.2f}%)")

    def describe(self) -> str:
        return f"low_profit_pairs < {self.min_profit_pct:+g}% over {self.trades} trades: lock {self.lock_candles}"
