"""Strategy level: stop after a losing streak."""

from __future__ import annotations

from engine.risk.base import HALT, RiskRule, RiskView, RuleName, Verdict


class MaxConsecutiveLosses(RiskRule):
    """Halt (circuit breaker) after ``limit`` losing round trips in a row; an operator
    resume resets the streak."""

    name = RuleName.MAX_CONSECUTIVE_LOSSES

    def __init__(self, limit: int):
        self.limit = int(limit)

    def on_state(self, view: RiskView) -> Verdict | None:
        if view.consecutive_losses < self.limit:
            return None
        return Verdict(self.name, HALT, f"{view.consecutive_losses} losing trades in a row, limit {self.limit}",
                       view.consecutive_losses, self.limit)

    def describe(self) -> str:
        return f"{self.name} {self.limit}"
