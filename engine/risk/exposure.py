"""Portfolio level: gross exposure as a share of equity (and the shared share-of-equity check)."""

from __future__ import annotations

from engine.money import above_pct, percent, quote_float, quote_raw, ratio_pct, share_of
from engine.risk.base import REJECT, Proposal, RiskRule, RiskView, RuleName, Verdict, headroom_verdict


class ShareOfEquityRule(RiskRule):
    """Base: what is held (``held``) plus the entry may not exceed ``pct`` percent of equity;
    resized to the headroom (rounded down to 1e-20 quote), or rejected when there is none.
    Decided exactly on fixed-point amounts."""

    def __init__(self, pct: float):
        self.pct = float(pct)
        self._pct = percent(pct)

    def held(self, proposal: Proposal, view: RiskView) -> int:
        """Raw quote value the limit measures before the entry."""
        raise NotImplementedError

    def label(self, proposal: Proposal) -> str:
        """What the message calls the measured amount."""
        raise NotImplementedError

    def check(self, proposal: Proposal, view: RiskView) -> Verdict | None:
        equity = view.equity_raw
        if equity <= 0:
            return Verdict(self.name, REJECT, "equity is not positive", quote_float(equity), 0.0)
        held = self.held(proposal, view)
        after = held + quote_raw(proposal.notional_quote)
        if not above_pct(after, equity, self._pct):
            return None
        share = ratio_pct(after, equity)
        return headroom_verdict(self.name, f"{self.label(proposal)} would be {share:.1f}% of equity > {self.pct}%",
                                share, self.pct, share_of(equity, self._pct) - held)

    def describe(self) -> str:
        return f"{self.name} {self.pct}%"


class MaxGrossExposure(ShareOfEquityRule):
    """Sum of all position values plus the entry, as a share of equity."""

    name = RuleName.MAX_GROSS_EXPOSURE

    def held(self, proposal: Proposal, view: RiskView) -> int:
        return view.gross_exposure

    def label(self, proposal: Proposal) -> str:
        return "exposure"
