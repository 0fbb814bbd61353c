"""Position level: entry validation against the venue's market state (spread, trading status)."""

from __future__ import annotations

from engine.risk.base import REJECT, Proposal, RiskRule, RiskView, RuleName, Verdict


class MaxSpread(RiskRule):
    """Reject entries while the bid/ask spread exceeds ``bps`` basis points (when a ticker is known)."""

    name = RuleName.MAX_SPREAD

    def __init__(self, bps: float):
        self.bps = float(bps)

    def check(self, proposal: Proposal, view: RiskView) -> Verdict | None:
        spread = view.spread_bps.get(proposal.symbol)
        if spread is None or spread <= self.bps:  # market data (the ticker's bid and ask), not money
            return None
        return Verdict(self.name, REJECT, f"spread {spread:.1f} bps > {self.bps} bps", spread, self.bps)

    def describe(self) -> str:
        return f"{self.name} {self.bps} bps"


class MarketClosed(RiskRule):
    """Reject entries while the venue reports the market closed (maintenance, halted symbol)."""

    name = RuleName.MARKET_CLOSED

    def check(self, proposal: Proposal, view: RiskView) -> Verdict | None:
        if view.market_open.get(proposal.symbol, True):
            return None
        return Verdict(self.name, REJECT, f"{proposal.symbol} is not trading on the venue", 0.0, 0.0)
