"""Position level: no entries on stale market data."""

from __future__ import annotations

from engine.risk.base import REJECT, Proposal, RiskRule, RiskView, RuleName, Verdict


class StaleData(RiskRule):
    """Reject entries when the newest candle closed more than ``max_age_ms`` before the decision."""

    name = RuleName.STALE_DATA

    def __init__(self, max_age_ms: int):
        self.max_age_ms = int(max_age_ms)

    def check(self, proposal: Proposal, view: RiskView) -> Verdict | None:
        age = proposal.ts_ms - proposal.candle_close_ms
        if age <= self.max_age_ms:
            return None
        return Verdict(self.name, REJECT, f"newest candle closed {age / 1000:.0f}s ago > {self.max_age_ms / 1000:.0f}s",
                       age / 1000, self.max_age_ms / 1000)

    def describe(self) -> str:
        return f"{self.name} {self.max_age_ms // 1000}s"
