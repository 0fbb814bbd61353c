"""Per-pair locks after exits (cooldown, stop-loss guard, low-profit pairs); see :mod:`.base`."""

from engine.risk.pairlocks.base import ClosedTrade, LockRule, PairLock, PairLocks
from engine.risk.pairlocks.cooldown import Cooldown
from engine.risk.pairlocks.low_profit import LowProfitPairs
from engine.risk.pairlocks.stoploss_guard import StoplossGuard

__all__ = ["ClosedTrade", "Cooldown", "LockRule", "LowProfitPairs", "PairLock", "PairLocks", "StoplossGuard"]
