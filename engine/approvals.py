"""Approve each entry (``telegram.approve_entries``): a strategy's entry, once the risk
manager approved it, waits for an operator's Approve instead of going to the venue; no
answer by its deadline means it is skipped (fail safe). Exits are never held.

An approved entry is submitted at that moment, at market, through the risk manager again
(the account may have changed); a skipped or expired one leaves nothing behind. Waiting
entries live in memory: a restart skips them, which is the safe reading of "no answer".
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal

from engine.events import EntryAwaitingApproval, EntrySkipped


@dataclass(frozen=True)
class PendingEntry:
    """An entry waiting for approval: ``notional`` quote at market on ``symbol``, asked at
    ``created_ms``, skipped after ``deadline_ms`` (ms UTC, the engine's clock)."""

    id: str
    symbol: str
    notional: Decimal
    intent: str
    created_ms: int
    deadline_ms: int


class EntryApprovals:
    """The entries waiting for an operator.

    Args:
        wait_ms: how long an entry waits before it is skipped, ms.
    """

    def __init__(self, wait_ms: int):
        self.wait_ms = wait_ms
        self.pending: dict[str, PendingEntry] = {}
        self._ids = itertools.count(1)

    def hold(self, symbol: str, notional: Decimal, intent: str, now_ms: int) -> tuple[PendingEntry, list]:
        """Park an entry (one per symbol: a newer one replaces a waiting one); returns it and
        the event that asks the operator."""
        for key in [k for k, p in self.pending.items() if p.symbol == symbol]:
            del self.pending[key]
        entry = PendingEntry(f"e{next(self._ids)}", symbol, notional, intent, now_ms, now_ms + self.wait_ms)
        self.pending[entry.id] = entry
        return entry, [EntryAwaitingApproval(now_ms, entry.id, symbol, str(notional), entry.deadline_ms, intent)]

    def take(self, entry_id: str, now_ms: int) -> tuple[PendingEntry | None, str]:
        """The entry an operator answered, removed; None and why when it cannot be acted on."""
        entry = self.pending.pop(entry_id, None)
        if entry is None:
            return None, f"entry {entry_id} is not waiting (answered, replaced or expired)"
        if now_ms > entry.deadline_ms:
            return None, f"entry {entry_id} expired at its deadline: skipped"
        return entry, ""

    def expire(self, now_ms: int) -> list:
        """Skip every entry past its deadline; returns the events saying so."""
        gone = [p for p in self.pending.values() if now_ms > p.deadline_ms]
        for entry in gone:
            del self.pending[entry.id]
        return [EntrySkipped(now_ms, e.id, e.symbol, "no answer before the deadline") for e in gone]
