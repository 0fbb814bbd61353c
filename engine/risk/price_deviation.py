"""Position level: the fat-finger check."""

from __future__ import annotations

from engine.money import above_pct, percent, price_from_float, ratio_pct
from engine.risk.base import REJECT, Proposal, RiskRule, RiskView, RuleName, Verdict


class MaxPriceDeviation(RiskRule):
    """Reject any order (entries and exits) whose price is more than ``pct`` percent away
    from the symbol's last close, compared exactly on fixed-point prices. Market orders
    carry the last close as their price, so this bites on limit prices and on stale references."""

    name = RuleName.MAX_PRICE_DEVIATION
    applies_to_exits = True

    def __init__(self, pct: float):
        self.pct = float(pct)
        self._pct = percent(pct)

    def check(self, proposal: Proposal, view: RiskView) -> Verdict | None:
        last = view.marks.close.get(proposal.symbol)
        if not last:
            return None
        ref, price = price_from_float(last), price_from_float(proposal.price)
        if not above_pct(abs(price - ref), ref, self._pct):
            return None
        deviation = ratio_pct(abs(price - ref), ref)
        return Verdict(self.name, REJECT, f"price {proposal.price} is {deviation:.2f}% from last close {last}",
                       deviation, self.pct)

    def describe(self) -> str:
        return f"{self.name} {self.pct}%"
