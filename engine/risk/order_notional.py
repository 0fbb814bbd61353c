"""Position level: cap the notional of one order."""

from __future__ import annotations

from decimal import Decimal

from engine.risk.base import RESIZE, Proposal, RiskRule, RiskView, RuleName, Verdict


class MaxOrderNotional(RiskRule):
    """Entries above ``limit`` quote are resized down to it."""

    name = RuleName.MAX_ORDER_NOTIONAL

    def __init__(self, limit: Decimal):
        self.limit = Decimal(limit)

    def check(self, proposal: Proposal, view: RiskView) -> Verdict | None:
        if proposal.notional_quote <= self.limit:
            return None
        return Verdict(self.name, RESIZE, f"order notional {proposal.notional_quote:.2f} > limit {self.limit}",
                       float(proposal.notional_quote), float(self.limit), self.limit)

    def describe(self) -> str:
        return f"{self.name} {self.limit} quote"
