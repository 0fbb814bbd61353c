"""Position level (futures): refuse an entry whose liquidation price is too close to its price."""

from __future__ import annotations

from decimal import Decimal

from engine.futures import liquidation_price
from engine.models import Side
from engine.risk.base import REJECT, Proposal, RiskRule, RiskView, RuleName, Verdict


class MinLiquidationDistance(RiskRule):
    """Entries on a futures account whose isolated liquidation price
    (:func:`~engine.futures.liquidation_price`, margin ``notional / leverage`` at the proposal's
    price and the maintenance tier of its notional) lies within ``min_pct`` percent of that
    price are rejected. Spot (``view.leverage`` None) has no liquidation: the rule passes."""

    name = RuleName.MIN_LIQUIDATION_DISTANCE

    def __init__(self, min_pct: float):
        self.min_pct = Decimal(repr(min_pct))

    def check(self, proposal: Proposal, view: RiskView) -> Verdict | None:
        if view.leverage is None or view.maintenance is None or proposal.notional_quote <= 0 or proposal.price <= 0:
            return None
        price = Decimal(repr(proposal.price))
        qty = proposal.notional_quote / price
        signed = qty if proposal.side is Side.BUY else -qty
        rate, amount = view.maintenance(proposal.notional_quote, proposal.symbol)
        lp = liquidation_price(signed, price, proposal.notional_quote / view.leverage, rate, amount)
        distance = abs(price - lp) / price * 100
        if distance >= self.min_pct:
            return None
        return Verdict(self.name, REJECT, f"liquidation price {lp:.8f} is {distance:.2f}% from the entry price "
                       f"{price} at {view.leverage}x, under {self.min_pct}%", float(distance), float(self.min_pct))

    def describe(self) -> str:
        return f"{self.name} {self.min_pct}%"
