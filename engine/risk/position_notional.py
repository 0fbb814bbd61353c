"""Position level: cap the value of the position in one symbol."""

from __future__ import annotations

from decimal import Decimal

from engine.risk.base import Proposal, RiskRule, RiskView, Verdict, headroom_verdict


class MaxPositionNotional(RiskRule):
    """Position value (at the last close) plus the entry may not exceed ``limit`` quote:
    the entry is resized to the headroom, or rejected when there is none."""

    name = "max_position_notional"

    def __init__(self, limit: Decimal):
        self.limit = Decimal(limit)

    def check(self, proposal: Proposal, view: RiskView) -> Verdict | None:
        held = Decimal(repr(view.exposure(proposal.symbol)))
        after = held + proposal.notional_quote
        if after <= self.limit:
            return None
        text = f"position {proposal.symbol} would be {after:.2f} > limit {self.limit}"
        return headroom_verdict(self.name, text, float(after), float(self.limit), self.limit - held)

    def describe(self) -> str:
        return f"{self.name} {self.limit} quote per symbol"
