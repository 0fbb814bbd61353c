"""Portfolio level: how much of equity one asset may be."""

from __future__ import annotations

from decimal import Decimal

from engine.risk.base import REJECT, Proposal, RiskRule, RiskView, Verdict, exceeds, headroom_verdict


class MaxAssetConcentration(RiskRule):
    """The symbol's position value plus the entry may not exceed ``pct`` percent of equity:
    resized to the headroom, or rejected when there is none."""

    name = "max_asset_concentration"

    def __init__(self, pct: float):
        self.pct = float(pct)

    def check(self, proposal: Proposal, view: RiskView) -> Verdict | None:
        if view.equity <= 0:
            return Verdict(self.name, REJECT, "equity is not positive", view.equity, 0.0)
        held = view.position_value.get(proposal.symbol, 0.0)
        limit = view.equity * self.pct / 100.0
        after = held + float(proposal.notional_quote)
        if not exceeds(after, limit):
            return None
        share = after / view.equity * 100
        return headroom_verdict(self.name, f"{proposal.symbol} would be {share:.1f}% of equity > {self.pct}%",
                                share, self.pct, Decimal(repr(limit - held)))

    def describe(self) -> str:
        return f"{self.name} {self.pct}%"
