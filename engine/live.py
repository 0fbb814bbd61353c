"""LiveEngine: runs a :class:`~engine.runner.StrategyRunner` on candles as they close.

Lifecycle: :meth:`start` (resolve orders that were persisted but never acknowledged, warm
the strategy up on already-processed candles, announce), :meth:`step` (called by the
scheduler: process every newly closed candle), :meth:`stop`. The engine knows only ports:
paper and live differ by the gateway and market data plugged in.
"""

from __future__ import annotations

import logging
import time

from engine.events import EngineStarted, EngineStopped, EventBus
from engine.models import Candle
from engine.ports import MarketData
from engine.runner import StrategyRunner
from engine.store.journal import SqlJournal
from engine.timeframes import iso_utc

log = logging.getLogger("quantd.engine")

WARMUP_FACTOR = 10
"""History fed to a strategy at start-up, in multiples of its ``warmup``: exact for
finite-window indicators, converged for recursive ones (Wilder RSI)."""


def wall_ms() -> int:
    """Now, ms since the epoch, UTC."""
    return int(time.time() * 1000)


class LiveEngine:
    """Drives one runner from a market data source, persisting every step.

    Args:
        runner: strategy + OMS + portfolio for one market.
        market: closed candles.
        journal: the SQL journal (start/stop events).
        bus: where persisted events are published (alerts, logs).
        mode: "paper" or "live".
        last_processed_ms: the stored candle cursor of ``runner.key``; candles at or before
            it are never processed again.
    """

    def __init__(self, runner: StrategyRunner, market: MarketData, journal: SqlJournal, bus: EventBus,
                 mode: str, last_processed_ms: int | None):
        self.runner = runner
        self.market = market
        self.journal = journal
        self.bus = bus
        self.mode = mode
        self.last_processed_ms = last_processed_ms
        self.candles_processed = 0
        self.heartbeat_ms = 0

    def start(self, resumed: bool) -> None:
        """Recover unacknowledged orders, warm up the strategy, record and publish the start."""
        oms = self.runner.oms
        oms.recover(wall_ms())
        history = self.market.history(max(self.runner.strategy.warmup, 1) * WARMUP_FACTOR)
        self.runner.warmup(history)
        pos = oms.portfolio.position(self.runner.symbol)
        log.info("started %s mode, %s on %s %s; %s; position %s %s, cash %s %s, %d open order(s)",
                 self.mode, self.runner.strategy.describe(), self.runner.symbol, self.runner.timeframe,
                 f"resuming after candle {iso_utc(self.last_processed_ms)}" if self.last_processed_ms else "fresh store",
                 pos.qty, self.runner.symbol.split("/")[0], oms.portfolio.cash, oms.portfolio.quote,
                 len(oms.open_orders()))
        self._announce([EngineStarted(wall_ms(), self.mode, resumed)] + oms.take_events())

    def step(self) -> int:
        """Process every candle that closed since the last step; returns how many."""
        self.heartbeat_ms = wall_ms()
        done = 0
        for candle in self.market.poll():
            if self.last_processed_ms is not None and candle.ts_ms <= self.last_processed_ms:
                continue
            self._process(candle)
            done += 1
        return done

    def stop(self, reason: str) -> None:
        """Record and publish the shutdown."""
        self._announce([EngineStopped(wall_ms(), self.mode, reason)])
        log.info("stopped (%s) after %d candle(s) this run", reason, self.candles_processed)

    def _process(self, candle: Candle) -> None:
        runner = self.runner
        decision = runner.on_candle(candle, wall_ms())
        portfolio = runner.oms.portfolio
        equity = float(portfolio.equity({runner.symbol: candle.close}))
        runner.finish_candle(candle, equity)
        self.last_processed_ms = candle.ts_ms
        self.candles_processed += 1
        if decision is not None:
            log.debug("candle %s: %s -> %s", iso_utc(candle.ts_ms), decision.signal.value, decision.action)
        self.bus.publish(runner.oms.take_events())

    def _announce(self, events: list) -> None:
        self.journal.record_events([e for e in events if e.kind in ("startup", "shutdown")])
        self.bus.publish(events)
