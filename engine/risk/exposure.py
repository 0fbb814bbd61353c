"""Portfolio level: gross exposure as a share of equity."""

from __future__ import annotations

from decimal import Decimal

from engine.risk.base import REJECT, Proposal, RiskRule, RiskView, Verdict, exceeds, headroom_verdict


class MaxGrossExposure(RiskRule):
    """Sum of position values plus the entry may not exceed ``pct`` percent of equity:
    the entry is resized to the headroom, or rejected when there is none."""

    name = "max_gross_exposure"

    def __init__(self, pct: float):
        self.pct = float(pct)

    def check(self, proposal: Proposal, view: RiskView) -> Verdict | None:
        if view.equity <= 0:
            return Verdict(self.name, REJECT, "equity is not positive", view.equity, 0.0)
        limit = view.equity * self.pct / 100.0
        after = view.gross_exposure + float(proposal.notional_quote)
        if not exceeds(after, limit):
            return None
        text = f"exposure would be {after / view.equity * 100:.1f}% of equity > {self.pct}%"
        return headroom_verdict(self.name, text, after / view.equity * 100, self.pct,
                                Decimal(repr(limit - view.gross_exposure)))

    def describe(self) -> str:
        return f"{self.name} {self.pct}%"
