"""Strategy level: the daily loss limit (day boundary 00:00 UTC)."""

from __future__ import annotations

from engine.risk.base import REJECT, Proposal, RiskRule, RiskView, Verdict, reaches


class DailyLossLimit(RiskRule):
    """Reject entries for the rest of the UTC day once equity fell ``pct`` percent below its
    value at the day's first candle. Clears by itself on the next day."""

    name = "daily_loss_limit"

    def __init__(self, pct: float):
        self.pct = float(pct)

    def check(self, proposal: Proposal, view: RiskView) -> Verdict | None:
        if view.day_start_equity <= 0:
            return None
        loss = (1.0 - view.equity / view.day_start_equity) * 100.0
        if not reaches(loss, self.pct):
            return None
        return Verdict(self.name, REJECT, f"down {loss:.2f}% today, limit {self.pct}%", loss, self.pct)

    def describe(self) -> str:
        return f"{self.name} {self.pct}%"
