"""Portfolio level: how many symbols may be held at once."""

from __future__ import annotations

from engine.risk.base import REJECT, Proposal, RiskRule, RiskView, RuleName, Verdict


class MaxOpenPositions(RiskRule):
    """Reject an entry into a new symbol when ``limit`` positions are already open."""

    name = RuleName.MAX_OPEN_POSITIONS

    def __init__(self, limit: int):
        self.limit = int(limit)

    def check(self, proposal: Proposal, view: RiskView) -> Verdict | None:
        if view.exposure(proposal.symbol) > 0 or view.open_positions < self.limit:
            return None
        return Verdict(self.name, REJECT, f"{view.open_positions} positions open, limit {self.limit}",
                       view.open_positions, self.limit)

    def describe(self) -> str:
        return f"{self.name} {self.limit}"
