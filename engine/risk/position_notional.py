"""Position level: cap the value of the position in one symbol."""

from __future__ import annotations

from decimal import Decimal

from engine.money import quote_decimal, quote_raw
from engine.risk.base import Proposal, RiskRule, RiskView, RuleName, Verdict, headroom_verdict


class MaxPositionNotional(RiskRule):
    """Position value (at the last close) plus the entry may not exceed ``limit`` quote:
    the entry is resized to the headroom, or rejected when there is none."""

    name = RuleName.MAX_POSITION_NOTIONAL

    def __init__(self, limit: Decimal):
        self.limit = Decimal(limit)
        self._limit_raw = quote_raw(self.limit)

    def check(self, proposal: Proposal, view: RiskView) -> Verdict | None:
        held = view.exposure(proposal.symbol)
        after = held + quote_raw(proposal.notional_quote)
        if after <= self._limit_raw:
            return None
        text = f"position {proposal.symbol} would be {quote_decimal(after):.2f} > limit {self.limit}"
        return headroom_verdict(self.name, text, float(quote_decimal(after)), float(self.limit),
                                self._limit_raw - held)

    def describe(self) -> str:
        return f"{self.name} {self.limit} quote per symbol"
