"""Portfolio level: the drawdown circuit breaker."""

from __future__ import annotations

from engine.money import at_least_pct, percent, quote_float, ratio_pct
from engine.risk.base import HALT, RiskRule, RiskView, RuleName, Verdict


class MaxDrawdown(RiskRule):
    """Halt when equity is ``pct`` percent or more below its peak:
    ``(peak - equity) / peak x 100 >= pct``, decided exactly on fixed-point equity."""

    name = RuleName.MAX_DRAWDOWN

    def __init__(self, pct: float):
        self.pct = float(pct)
        self._pct = percent(pct)

    def on_state(self, view: RiskView) -> Verdict | None:
        peak = view.peak_raw
        if peak <= 0 or not at_least_pct(peak - view.equity_raw, peak, self._pct):
            return None
        dd = ratio_pct(peak - view.equity_raw, peak)
        return Verdict(self.name, HALT, f"drawdown {dd:.2f}% from peak {quote_float(peak):.2f}, limit {self.pct}%",
                       dd, self.pct)

    def describe(self) -> str:
        return f"{self.name} {self.pct}%"
