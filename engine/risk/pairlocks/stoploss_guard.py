"""Stop-loss guard: a symbol stopped out N times within a window is locked for a while."""

from __future__ import annotations

from dataclasses import dataclass

from engine.risk.base import RuleName
from engine.risk.pairlocks.base import ClosedTrade, LockRule, PairLock


@dataclass(frozen=True)
class StoplossGuard(LockRule):
    """``risk.stoploss_guard_trades`` stop-loss exits of one symbol within the last
    ``window_candles`` candles lock it for ``lock_candles`` candles (freqtrade's
    StoplossGuard, per pair)."""

    trades: int
    window_candles: int
    lock_candles: int
    name = RuleName.STOPLOSS_GUARD

    def on_exit(self, trade: ClosedTrade, history: list[ClosedTrade], tf_ms: int) -> PairLock | None:
        if not trade.stop_loss:
            return None
        since = trade.exit_ms - self.window_candles * tf_ms
        stops = sum(1 for t in history if t.stop_loss and t.exit_ms >= since)
        if stops < self.trades:
            return None
        return PairLock(trade.symbol, trade.exit_ms + self.lock_candles * tf_ms, self.name,
                        f"{stops} stop-loss exits within {self.window_candles} candles (limit {self.trades})")

    def describe(self) -> str:
        return f"stoploss_guard {self.trades} stops in {self.window_candles} candles: lock {self.lock_candles}"
