"""The circuit breaker: running, paused (operator), halted (a limit tripped).

::

    running --pause--> paused --resume--> running
    running|paused --trip--> halted --resume (operator only)--> running

New entries are allowed only while running; exits always are. The state, its reason and
its time are persisted by the journal and survive restarts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class BreakerState(str, enum.Enum):
    """Circuit breaker states."""

    RUNNING = "running"
    PAUSED = "paused"
    HALTED = "halted"


@dataclass
class CircuitBreaker:
    """State, why, and since when (ms UTC)."""

    state: BreakerState = BreakerState.RUNNING
    reason: str = ""
    since_ms: int = 0
    flatten_pending: bool = False
    """True from a kill switch (or a halt with flatten_on_halt) until every position is closed."""

    @property
    def allows_entries(self) -> bool:
        """True only while running."""
        return self.state is BreakerState.RUNNING

    def trip(self, reason: str, ts_ms: int, flatten: bool = False) -> bool:
        """Halt (and optionally ask for positions to be closed); the first reason is kept while
        halted. Returns True when the state changed."""
        self.flatten_pending = self.flatten_pending or flatten
        if self.state is BreakerState.HALTED:
            return False
        self.state, self.reason, self.since_ms = BreakerState.HALTED, reason, ts_ms
        return True

    def pause(self, by: str, ts_ms: int) -> str:
        """Operator pause (no new entries). Returns what happened, in words."""
        if self.state is not BreakerState.RUNNING:
            return f"not paused: breaker is {self.state.value} ({self.reason})"
        self.state, self.reason, self.since_ms = BreakerState.PAUSED, f"paused by {by}", ts_ms
        return "paused: no new entries, exits still work"

    def resume(self, by: str, ts_ms: int) -> str:
        """Operator resume from paused or halted. Returns what happened, in words."""
        if self.state is BreakerState.RUNNING:
            return "already running"
        was = f"{self.state.value} ({self.reason})"
        self.state, self.reason, self.since_ms = BreakerState.RUNNING, f"resumed by {by}", ts_ms
        self.flatten_pending = False
        return f"resumed from {was}"
