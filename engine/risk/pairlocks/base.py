"""Per-pair locks (freqtrade's protections): after an exit a rule may lock its symbol for new
entries until a time; exits are never locked. Each rule is a small class returning a
:class:`PairLock` or None; :class:`PairLocks` holds the active locks (persisted by the journal,
so they survive restarts) and answers the risk manager's "is this symbol locked now?".

Times are ms UTC. A lock "for N candles" after an exit filled at ``exit_ms`` covers the next
N candle closes: entries are refused while ``now <= exit_ms + N x timeframe``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from engine.risk.base import RuleName


@dataclass(frozen=True)
class ClosedTrade:
    """A round trip as the lock rules see it: symbol, exit fill time (ms UTC), net return
    (0.01 = +1%, fees included) and whether a stop-loss ended it."""

    symbol: str
    exit_ms: int
    ratio: float
    stop_loss: bool


@dataclass(frozen=True)
class PairLock:
    """No entries on ``symbol`` while ``now <= until_ms`` (ms UTC); ``rule`` and ``reason`` say why."""

    symbol: str
    until_ms: int
    rule: str
    reason: str
    created_ms: int = 0


class LockRule:
    """One protection: looks at the closed trades of a symbol after each exit."""

    name: ClassVar[RuleName]

    def on_exit(self, trade: ClosedTrade, history: list[ClosedTrade], tf_ms: int) -> PairLock | None:
        """A lock for ``trade.symbol`` after ``trade`` (``history``: that symbol's closed trades,
        oldest first, ``trade`` last), or None."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for the start-up log and /risk."""
        return self.name


@dataclass
class PairLocks:
    """The lock rules and the locks they made.

    Args:
        rules: the configured rules (none: nothing is ever locked).
        locks: active locks loaded from the store.
    """

    rules: list[LockRule] = field(default_factory=list)
    locks: dict[str, PairLock] = field(default_factory=dict)
    history: dict[str, list[ClosedTrade]] = field(default_factory=dict)

    def active(self, symbol: str, now_ms: int) -> PairLock | None:
        """The lock that stops entries on ``symbol`` now, or None."""
        lock = self.locks.get(symbol)
        return lock if lock is not None and now_ms <= lock.until_ms else None

    def on_exit(self, trade: ClosedTrade, tf_ms: int) -> PairLock | None:
        """Record a closed trade and return the new lock it causes (the longest of the rules'),
        or None when no rule locks or an existing lock already lasts longer."""
        trades = self.history.setdefault(trade.symbol, [])
        trades.append(trade)
        del trades[:-200]  # the rules look back a bounded window
        found = [lock for rule in self.rules if (lock := rule.on_exit(trade, trades, tf_ms)) is not None]
        if not found:
            return None
        lock = max(found, key=lambda x: x.until_ms)
        current = self.locks.get(trade.symbol)
        if current is not None and current.until_ms >= lock.until_ms:
            return None
        lock = PairLock(lock.symbol, lock.until_ms, lock.rule, lock.reason, trade.exit_ms)
        self.locks[trade.symbol] = lock
        return lock

    def unlock(self, target: str) -> list[str]:
        """End the lock of ``target`` (a symbol) or of every symbol (``all``); returns the symbols."""
        ended = [s for s in self.locks if target in ("all", s)]
        for symbol in ended:
            del self.locks[symbol]
        return ended
