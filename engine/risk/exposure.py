"""Portfolio level: gross exposure as a share of equity."""

from __future__ import annotations

from decimal import Decimal

from engine.risk.base import REJECT, RESIZE, Proposal, RiskRule, RiskView, Verdict, exceeds


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
        headroom = limit - view.gross_exposure
        text = f"exposure would be {after / view.equity * 100:.1f}% of equity > {self.pct}%"
        if headroom <= 0:
            return Verdict(self.name, REJECT, text, after / view.equity * 100, self.pct)
        return Verdict(self.name, RESIZE, text, after / view.equity * 100, self.pct, Decimal(repr(headroom)))

    def describe(self) -> str:
        return f"{self.name} {self.pct}%"
