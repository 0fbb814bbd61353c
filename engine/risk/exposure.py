"""Portfolio level: gross exposure as a share of equity (and the shared share-of-equity check)."""

from __future__ import annotations

from decimal import Decimal

from engine.risk.base import REJECT, Proposal, RiskRule, RiskView, Verdict, exceeds, headroom_verdict


class ShareOfEquityRule(RiskRule):
    """Base: what is held (``held``) plus the entry may not exceed ``pct`` percent of equity;
    resized to the headroom, or rejected when there is none."""

    def __init__(self, pct: float):
        self.pct = float(pct)

    def held(self, proposal: Proposal, view: RiskView) -> float:
        """Quote value the limit measures before the entry."""
        raise NotImplementedError

    def label(self, proposal: Proposal) -> str:
        """What the message calls the measured amount."""
        raise NotImplementedError

    def check(self, proposal: Proposal, view: RiskView) -> Verdict | None:
        if view.equity <= 0:
            return Verdict(self.name, REJECT, "equity is not positive", view.equity, 0.0)
        held = self.held(proposal, view)
        limit = view.equity * self.pct / 100.0
        after = held + float(proposal.notional_quote)
        if not exceeds(after, limit):
            return None
        share = after / view.equity * 100
        return headroom_verdict(self.name, f"{self.label(proposal)} would be {share:.1f}% of equity > {self.pct}%",
                                share, self.pct, Decimal(repr(limit - held)))

    def describe(self) -> str:
        return f"{self.name} {self.pct}%"


class MaxGrossExposure(ShareOfEquityRule):
    """Sum of all position values plus the entry, as a share of equity."""

    name = "max_gross_exposure"

    def held(self, proposal: Proposal, view: RiskView) -> float:
        return view.gross_exposure

    def label(self, proposal: Proposal) -> str:
        return "exposure"
