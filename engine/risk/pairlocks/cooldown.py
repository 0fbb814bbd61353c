"""Cooldown: no entry on a symbol for the next N candles after any exit of it."""

from __future__ import annotations

from dataclasses import dataclass

from engine.risk.base import RuleName
from engine.risk.pairlocks.base import ClosedTrade, LockRule, PairLock


@dataclass(frozen=True)
class Cooldown(LockRule):
    """``risk.cooldown_candles``: lock every exited symbol for ``candles`` candles."""

    candles: int
    name = RuleName.COOLDOWN

    def on_exit(self, trade: ClosedTrade, history: list[ClosedTrade], tf_ms: int) -> PairLock | None:
        return PairLock(trade.symbol, trade.exit_ms + self.candles * tf_ms, self.name,
                        f"cooldown of {self.candles} candle(s) after an exit")

    def describe(self) -> str:
        return f"cooldown {self.candles} candles"
