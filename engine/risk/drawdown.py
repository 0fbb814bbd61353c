"""Portfolio level: the drawdown circuit breaker."""

from __future__ import annotations

from engine.risk.base import HALT, RiskRule, RiskView, Verdict, reaches


class MaxDrawdown(RiskRule):
    """Halt when equity is ``pct`` percent or more below its peak:
    ``(peak - equity) / peak x 100 >= pct``."""

    name = "max_drawdown"

    def __init__(self, pct: float):
        self.pct = float(pct)

    def on_state(self, view: RiskView) -> Verdict | None:
        if view.peak_equity <= 0:
            return None
        dd = (1.0 - view.equity / view.peak_equity) * 100.0
        if not reaches(dd, self.pct):
            return None
        return Verdict(self.name, HALT, f"drawdown {dd:.2f}% from peak {view.peak_equity:.2f}, limit {self.pct}%",
                       dd, self.pct)

    def describe(self) -> str:
        return f"{self.name} {self.pct}%"
