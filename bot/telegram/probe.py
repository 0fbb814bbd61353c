"""What the bot may read from the running engine (same process, another thread): the risk
snapshot and health facts. Reads only; every change goes through the store's operator
commands, which the engine applies on its own thread."""

from __future__ import annotations

import time

from engine.live import LiveEngine, wall_ms
from engine.timeframes import iso_utc


class DaemonProbe:
    """Read-only view of ``engine`` for /risk and /health."""

    def __init__(self, engine: LiveEngine):
        self.engine = engine
        self.started = time.monotonic()

    def uptime_secs(self) -> float:
        """Seconds since the daemon started."""
        return time.monotonic() - self.started

    def risk_snapshot(self) -> dict:
        """Limits, utilisation and breaker (see ``RiskManager.snapshot``)."""
        return self.engine.risk.snapshot()

    def locks(self) -> list:
        """The per-pair locks stopping entries now (engine clock), by symbol."""
        engine = self.engine
        now = engine._now()
        locks = engine.risk.pair_locks
        return [lock for symbol in sorted(locks.locks) if (lock := locks.active(symbol, now)) is not None]

    def quote(self) -> str:
        """The account's quote currency."""
        return self.engine.oms.portfolio.quote

    def symbols(self) -> list[str]:
        """The symbols the daemon trades, in lane order."""
        return [lane.symbol for lane in self.engine.lanes]

    def marks(self) -> dict[str, float]:
        """Last processed close per symbol (quote per base)."""
        return dict(self.engine.marks.close)

    def health(self) -> dict:
        """Process, data freshness per market, reconciliation and exchange facts."""
        engine = self.engine
        now = wall_ms()
        markets = []
        for lane in engine.lanes:
            candle = (iso_utc(lane.last_processed_ms + lane.runner.tf_ms) if lane.last_processed_ms is not None
                      else "none yet")
            markets.append({"symbol": lane.symbol, "timeframe": lane.runner.timeframe, "candle": candle,
                            "stale": lane.stale_since_ms is not None})
        rec = engine.last_reconciliation
        if engine.reconciler is None:
            reconciliation = "not used (paper)"
        elif rec is None:
            reconciliation = "not run yet"
        else:
            reconciliation = (f"{(now - rec[0]) / 1000:.0f}s ago, {rec[1]} issue(s)"
                              + ("" if rec[2] else ", incomplete: the exchange did not answer everything"))
        latency = getattr(engine.oms.gateway, "last_latency_ms", None)
        exchange = ("paper (simulated fills)" if engine.mode == "paper" else
                    "dry-run: live candles, simulated fills" if engine.mode == "dry_run" else
                    f"last call took {latency:.0f} ms" if latency is not None else "no call answered yet")
        return {"uptime_secs": self.uptime_secs(),
                "step_age_secs": (now - engine.heartbeat_ms) / 1000 if engine.heartbeat_ms else float("nan"),
                "markets": markets, "reconciliation": reconciliation, "exchange": exchange}
