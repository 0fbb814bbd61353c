"""LiveEngine: runs a :class:`~engine.runner.StrategyRunner` on candles as they close.

Lifecycle: :meth:`start` (resolve orders that were persisted but never acknowledged, warm
the strategy up on already-processed candles, announce), :meth:`step` (called by the
scheduler: process every newly closed candle), :meth:`stop`. The engine knows only ports:
paper and live differ by the gateway and market data plugged in.
"""

from __future__ import annotations

import logging
import time

from engine.events import EngineStarted, EngineStopped, EventBus, StaleData, StaleDataRecovered
from engine.models import Candle, Side
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
        reconciler: live only: runs at start-up before any order, then every ``reconcile_secs``.
        stale_after_ms: live only: no closed candle newer than this (venue clock), or the venue
            unreachable for ``unreachable_after_secs``, stops entries until data is fresh again.
    """

    def __init__(self, runner: StrategyRunner, market: MarketData, journal: SqlJournal, bus: EventBus,
                 mode: str, last_processed_ms: int | None, reconciler=None, reconcile_secs: float = 60.0,
                 stale_after_ms: int | None = None, unreachable_after_secs: float = 60.0):
        self.runner = runner
        self.market = market
        self.journal = journal
        self.bus = bus
        self.mode = mode
        self.last_processed_ms = last_processed_ms
        self.candles_processed = 0
        self.heartbeat_ms = 0
        self.stop_requested = False
        """Set from a signal handler: the running step returns after its current candle."""
        self.reconciler = reconciler
        self.reconcile_secs = reconcile_secs
        self._last_reconcile_s = 0.0
        self.stale_after_ms = stale_after_ms
        self.unreachable_after_secs = unreachable_after_secs
        self.stale_since_ms: int | None = None

    def start(self, resumed: bool, fills: list | None = None, peak_equity: float = 0.0) -> None:
        """Recover unacknowledged orders, restore the risk view, warm up the strategy,
        apply queued operator commands, record and publish the start.

        Args:
            fills: every stored fill, oldest first (rebuilds trade-rate and losing-streak state).
            peak_equity: highest stored equity since the breaker last changed (drawdown peak).
        """
        oms = self.runner.oms
        oms.recover(self._now())
        self._restore_risk(fills or [], peak_equity)
        if self.reconciler is not None:
            self.reconcile()
        history = self.market.history(max(self.runner.strategy.warmup, 1) * WARMUP_FACTOR)
        self.runner.warmup(history)
        self.runner.verify_protection(self._now())
        pos = oms.portfolio.position(self.runner.symbol)
        log.info("started %s mode, %s on %s %s; %s; position %s %s, cash %s %s, %d open order(s)",
                 self.mode, self.runner.strategy.describe(), self.runner.symbol, self.runner.timeframe,
                 f"resuming after candle {iso_utc(self.last_processed_ms)}" if self.last_processed_ms else "fresh store",
                 pos.qty, self.runner.symbol.split("/")[0], oms.portfolio.cash, oms.portfolio.quote,
                 len(oms.open_orders()))
        breaker = self.runner.risk.breaker
        if not breaker.allows_entries:
            log.warning("circuit breaker is %s since %s: %s; no new entries until an operator resumes",
                        breaker.state.value.upper(), iso_utc(breaker.since_ms) if breaker.since_ms else "?", breaker.reason)
        self._announce([EngineStarted(wall_ms(), self.mode, resumed)] + oms.take_events())
        self.apply_operator_commands()

    def step(self) -> int:
        """Process every candle that closed since the last step; returns how many."""
        self.heartbeat_ms = wall_ms()
        self.apply_operator_commands()
        done = 0
        while not self.stop_requested and (batch := self.market.poll()):
            for candle in batch:
                if self.last_processed_ms is not None and candle.ts_ms <= self.last_processed_ms:
                    continue
                if self.stale_after_ms is not None:
                    self.check_stale()
                self._process(candle)
                done += 1
        if self.stale_after_ms is not None:
            self.check_stale()
        if self.reconciler is not None and time.monotonic() - self._last_reconcile_s >= self.reconcile_secs:
            self.reconcile()
        return done

    def reconcile(self) -> None:
        """Run reconciliation now and publish what it found."""
        self._last_reconcile_s = time.monotonic()
        report = self.reconciler.run(self._now())
        if report.issues or not report.complete:
            log.warning("reconciliation: %d issue(s)%s", len(report.issues),
                        "" if report.complete else "; the exchange did not answer everything")
        self.bus.publish(self.runner.oms.take_events())

    def check_stale(self) -> None:
        """Start or end a stale-data episode for the runner's symbol (events persisted, published)."""
        market, runner = self.market, self.runner
        now = self._now()
        newest = getattr(market, "newest_close_ms", 0)
        down_since = getattr(market, "unreachable_since_s", None)
        reason = None
        if down_since is not None and time.monotonic() - down_since > self.unreachable_after_secs:
            reason = f"exchange unreachable for {time.monotonic() - down_since:.0f}s"
        elif newest and now - newest > self.stale_after_ms:
            reason = f"newest closed candle ended {iso_utc(newest)}, {(now - newest) / 1000:.0f}s ago"
        if reason and self.stale_since_ms is None:
            self.stale_since_ms = now
            runner.entries_blocked = f"stale data: {reason}"
            events = [StaleData(now, runner.symbol, reason)]
        elif reason is None and self.stale_since_ms is not None:
            events = [StaleDataRecovered(now, runner.symbol, (now - self.stale_since_ms) / 1000)]
            self.stale_since_ms, runner.entries_blocked = None, None
        else:
            return
        log.warning("%s %s: %s", events[0].kind, runner.symbol, reason or "fresh candles again")
        self.journal.record_events(events)
        self.bus.publish(events)

    def apply_operator_commands(self) -> None:
        """Apply pause/resume commands queued in the store (by the CLI or the bot)."""
        for command_id, command, by in self.journal.pending_commands():
            now = self._now()
            text, events = self.runner.risk.operator(command, by, now)
            self.journal.command_applied(command_id, text, now, self.runner.risk.breaker, events)
            log.warning("operator %s by %s: %s", command, by, text)
            if not self.runner.risk.breaker.allows_entries:
                self.runner.cancel_entries(f"operator {command}", now)
                events = events + self.runner.oms.take_events()
            self.bus.publish(events)

    def stop(self, reason: str) -> None:
        """Record and publish the shutdown."""
        self._announce([EngineStopped(wall_ms(), self.mode, reason)])
        log.info("stopped (%s) after %d candle(s) this run", reason, self.candles_processed)

    def _process(self, candle: Candle) -> None:
        runner = self.runner
        decision = runner.on_candle(candle, self._now())
        runner.finish_candle(candle)
        self.last_processed_ms = candle.ts_ms
        self.candles_processed += 1
        if decision is not None and log.isEnabledFor(logging.DEBUG):
            log.debug("candle %s: %r -> %s", iso_utc(candle.ts_ms), decision.signal, decision.action)
        self.bus.publish(runner.oms.take_events())

    def _now(self) -> int:
        return self.market.now_ms() or wall_ms()

    def _restore_risk(self, fills: list, peak_equity: float) -> None:
        risk = self.runner.risk
        breaker = risk.breaker
        if breaker.allows_entries and breaker.reason.startswith("resumed"):
            risk.view.streak_since_ms = breaker.since_ms  # losses before the operator's resume do not count
        held: dict = {}
        for fill in fills:
            held[fill.symbol] = held.get(fill.symbol, 0) + (fill.qty if fill.side is Side.BUY else -fill.qty)
            risk.on_fill(fill, held[fill.symbol])
        risk.view.peak_equity = peak_equity

    def _announce(self, events: list) -> None:
        self.journal.record_events([e for e in events if e.kind in ("startup", "shutdown")])
        self.bus.publish(events)
