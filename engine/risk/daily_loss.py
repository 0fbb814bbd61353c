"""Strategy level: the daily loss limit (the day starts at a configurable UTC hour)."""

from __future__ import annotations

from engine.risk.base import REJECT, Proposal, RiskRule, RiskView, Verdict, reaches


class DailyLossLimit(RiskRule):
    """Reject entries for the rest of the day once equity fell ``pct`` percent, or ``quote``
    currency, below its value at the day's first candle. Clears by itself when the next day
    starts (see ``RiskLimits.day_start_hour_utc``)."""

    name = "daily_loss_limit"

    def __init__(self, pct: float | None = None, quote: float | None = None):
        if pct is None and quote is None:
            raise ValueError("DailyLossLimit needs pct or quote")
        self.pct = None if pct is None else float(pct)
        self.quote = None if quote is None else float(quote)

    def check(self, proposal: Proposal, view: RiskView) -> Verdict | None:
        if view.day_start_equity <= 0:
            return None
        loss = view.day_start_equity - view.equity
        if self.quote is not None and reaches(loss, self.quote):
            return Verdict(self.name, REJECT, f"down {loss:.2f} quote today, limit {self.quote}", loss, self.quote)
        loss_pct = loss / view.day_start_equity * 100.0
        if self.pct is not None and reaches(loss_pct, self.pct):
            return Verdict(self.name, REJECT, f"down {loss_pct:.2f}% today, limit {self.pct}%", loss_pct, self.pct)
        return None

    def describe(self) -> str:
        parts = ([f"{self.pct}%"] if self.pct is not None else []) + ([f"{self.quote} quote"] if self.quote else [])
        return f"{self.name} {' or '.join(parts)}"
