"""Strategy level: the daily loss limit (the day starts at a configurable UTC hour)."""

from __future__ import annotations

from engine.money import at_least_pct, percent, quote_float, quote_raw, ratio_pct
from engine.risk.base import REJECT, Proposal, RiskRule, RiskView, RuleName, Verdict


class DailyLossLimit(RiskRule):
    """Reject entries for the rest of the day once equity fell ``pct`` percent, or ``quote``
    currency, below its value at the day's first candle, decided exactly on fixed-point
    equity. Clears by itself when the next day starts (see ``RiskLimits.day_start_hour_utc``)."""

    name = RuleName.DAILY_LOSS_LIMIT

    def __init__(self, pct: float | None = None, quote: float | None = None):
        if pct is None and quote is None:
            raise ValueError("DailyLossLimit needs pct or quote")
        self.pct = None if pct is None else float(pct)
        self.quote = None if quote is None else float(quote)
        self._pct = None if pct is None else percent(pct)
        self._quote_raw = None if quote is None else quote_raw(quote)

    def check(self, proposal: Proposal, view: RiskView) -> Verdict | None:
        start = view.day_start_raw
        if start <= 0:
            return None
        loss = start - view.equity_raw
        if self._quote_raw is not None and loss >= self._quote_raw:
            return Verdict(self.name, REJECT, f"down {quote_float(loss):.2f} quote today, limit {self.quote}",
                           quote_float(loss), self.quote)
        if self._pct is not None and at_least_pct(loss, start, self._pct):
            loss_pct = ratio_pct(loss, start)
            return Verdict(self.name, REJECT, f"down {loss_pct:.2f}% today, limit {self.pct}%", loss_pct, self.pct)
        return None

    def describe(self) -> str:
        parts = ([f"{self.pct}%"] if self.pct is not None else []) + ([f"{self.quote} quote"] if self.quote else [])
        return f"{self.name} {' or '.join(parts)}"
