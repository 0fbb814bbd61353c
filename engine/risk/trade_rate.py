"""Strategy level: the runaway-loop guard."""

from __future__ import annotations

from engine.risk.base import REJECT, Proposal, RiskRule, RiskView, RuleName, Verdict


class MaxTradesPerWindow(RiskRule):
    """Reject an entry when ``max_trades`` entries were filled in the last ``window_ms``."""

    name = RuleName.MAX_TRADES_PER_WINDOW

    def __init__(self, max_trades: int, window_ms: int):
        self.max_trades = int(max_trades)
        self.window_ms = int(window_ms)

    def check(self, proposal: Proposal, view: RiskView) -> Verdict | None:
        recent = sum(1 for t in view.entry_times if t > proposal.ts_ms - self.window_ms)
        if recent < self.max_trades:
            return None
        return Verdict(self.name, REJECT,
                       f"{recent} entries in the last {self.window_ms / 3_600_000:g}h, limit {self.max_trades}",
                       recent, self.max_trades)

    def describe(self) -> str:
        return f"{self.name} {self.max_trades} per {self.window_ms / 3_600_000:g}h"
