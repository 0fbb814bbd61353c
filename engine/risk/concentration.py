"""Portfolio level: how much of equity one asset may be."""

from __future__ import annotations

from engine.risk.base import Proposal, RiskView, RuleName
from engine.risk.exposure import ShareOfEquityRule


class MaxAssetConcentration(ShareOfEquityRule):
    """The symbol's position value plus the entry, as a share of equity."""

    name = RuleName.MAX_ASSET_CONCENTRATION

    def held(self, proposal: Proposal, view: RiskView) -> int:
        return view.exposure(proposal.symbol)

    def label(self, proposal: Proposal) -> str:
        return proposal.symbol
