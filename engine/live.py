"""LiveEngine: runs one or more :class:`~engine.runner.StrategyRunner` on candles as they close.

Each market the daemon trades is a :class:`Lane` (runner + its candle source + its cursor
and stale-data state). The lanes share one OMS, portfolio and risk manager. Lifecycle:
:meth:`start` (resolve orders that were persisted but never acknowledged, reconcile, warm
the strategies up on already-processed candles, announce), :meth:`step` (called by the
scheduler: process every newly closed candle of every lane, in close-time order),
:meth:`stop`. The engine knows only ports: paper and live differ by the gateway and market
data plugged in.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from engine.commands import BREAKER_VERBS, RECONCILE_VERBS, TRADE_VERBS, Verb, parse_command, unknown_command
from engine.events import Backfill, EngineStarted, EngineStopped, EventBus, EventKind, StaleData, StaleDataRecovered
from engine.manual import trade_command
from engine.models import ZERO, Candle, Side
from engine.money import quote_raw
from engine.ports import MarketData
from engine.reconcile_ops import reconcile_command
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


@dataclass(eq=False)
class Lane:
    """One market of the daemon: a runner and the candles it is fed.

    Attributes:
        runner: strategy + symbol + timeframe (OMS, portfolio and risk are shared by all lanes).
        market: closed candles of ``runner.symbol`` / ``runner.timeframe``.
        last_processed_ms: open time (ms UTC) of the last processed candle, the stored
            cursor of ``runner.key``; candles at or before it are never processed again.
        stale_after_ms: live only: no closed candle newer than this (venue clock), or the venue
            unreachable for the engine's ``unreachable_after_secs``, stops entries on the
            symbol until its data is fresh again; None: not checked (replay).
        stale_since_ms: when the current stale-data episode began (engine clock), None when fresh.
        last_candle: the last candle processed or warmed up on (prices an operator's flatten).
    """

    runner: StrategyRunner
    market: MarketData
    last_processed_ms: int | None = None
    stale_after_ms: int | None = None
    stale_since_ms: int | None = None
    buffered: deque = field(default_factory=deque)
    last_candle: Candle | None = None

    @property
    def symbol(self) -> str:
        return self.runner.symbol

    def next_close_ms(self) -> int:
        """Close time (ms UTC) of the oldest buffered candle."""
        return self.buffered[0].ts_ms + self.runner.tf_ms


class LiveEngine:
    """Drives the lanes from their market data sources, persisting every step.

    Candles of all lanes are processed one at a time in close-time order (ties in lane
    order), so every lane sees the same clock: the marks other lanes contribute to equity
    and risk are never from the future of the candle being processed.

    Args:
        lanes: one per traded market (see :class:`Lane`); all runners share one OMS and one
            risk manager.
        journal: the SQL journal (start/stop events).
        bus: where persisted events are published (alerts, logs).
        mode: "paper" or "live".
        reconciler: live only: runs at start-up before any order, then every ``reconcile_secs``.
        unreachable_after_secs: a lane whose venue has not answered for this long is stale
            (lanes with ``stale_after_ms`` set only).
        trade_backfill: see the attribute.
    """

    def __init__(self, lanes: list[Lane], journal: SqlJournal, bus: EventBus, mode: str, reconciler=None,
                 reconcile_secs: float = 60.0, unreachable_after_secs: float = 60.0, trade_backfill: bool = True):
        if not lanes:
            raise ValueError("LiveEngine needs at least one lane")
        self.lanes = lanes
        self.oms = lanes[0].runner.oms
        self.risk = lanes[0].runner.risk
        self.marks = lanes[0].runner.marks
        """The last closes of every market (shared by the lanes' runners and the risk rules)."""
        self.journal = journal
        self.bus = bus
        self.mode = mode
        self.candles_processed = 0
        self.heartbeat_ms = 0
        """Wall time (ms UTC) the loop last made progress: a step began or a candle was processed."""
        self.heartbeat_s = time.monotonic()
        """The same instant on the monotonic clock (s), for stall checks immune to clock steps."""
        self.stop_requested = False
        """Set from a signal handler: the running step returns after its current candle."""
        self.reconciler = reconciler
        self.reconcile_secs = reconcile_secs
        self._last_reconcile_s = 0.0
        self.last_reconciliation: tuple[int, int, bool] | None = None
        """(wall time ms UTC, issues found, complete) of the last reconciliation run."""
        self.unreachable_after_secs = unreachable_after_secs
        self.trade_backfill = trade_backfill
        self.reloader = None
        """Called with the requester for an operator ``reload`` (the bot's config reload), on
        this thread between candles; returns the result in words. None: reload unavailable."""
        """False (live): a candle that closed more than its lane's ``stale_after_ms`` ago (one
        fetched after downtime) updates indicators and may exit, but never enters: a real order
        would fill at today's price on yesterday's signal. True (dry-run): the simulated venue
        fills in candle time, so such a candle is processed at its own close time and the
        backfill trades exactly as a replay of the same candles would."""

    @property
    def exhausted(self) -> bool:
        """True when every lane's source says it has no more candles (a finished replay)."""
        return all(getattr(lane.market, "exhausted", False) and not lane.buffered for lane in self.lanes)

    def start(self, resumed: bool, fills: list | None = None, peak_equity: Decimal = ZERO) -> None:
        """Recover unacknowledged orders, restore the risk view, reconcile (live), warm up
        every strategy, apply queued operator commands, record and publish the start.

        Args:
            fills: every stored fill, oldest first (rebuilds trade-rate and losing-streak state).
            peak_equity: highest stored equity since the breaker last changed (drawdown peak), quote.
        """
        oms = self.oms
        oms.recover(self._now())
        self._restore_risk(fills or [], peak_equity)
        if self.reconciler is not None:
            self.reconcile()
        for lane in self.lanes:
            runner = lane.runner
            history = lane.market.history(max(runner.strategy.warmup, 1) * WARMUP_FACTOR)
            runner.warmup(history)
            lane.last_candle = history[-1] if history else None
        self.risk.view.equity_raw = oms.portfolio.equity_raw(self.marks.raw)  # marked at the warm-up closes
        backfills = [e for lane in self.lanes if (e := self._missed(lane)) is not None]
        for lane in self.lanes:
            runner = lane.runner
            runner.exits.verify(self._now(lane))
            pos = oms.portfolio.position(runner.symbol)
            log.info("started %s mode, %s on %s %s; %s; position %s %s, %d open order(s)",
                     self.mode, runner.strategy.describe(), runner.symbol, runner.timeframe,
                     f"resuming after candle {iso_utc(lane.last_processed_ms)}" if lane.last_processed_ms
                     else "fresh store", pos.qty, runner.instrument.base, len(oms.open_orders(runner.symbol)))
        log.info("account: cash %s %s, %d market(s)", oms.portfolio.cash, oms.portfolio.quote, len(self.lanes))
        breaker = self.risk.breaker
        if not breaker.allows_entries:
            log.warning("circuit breaker is %s since %s: %s; no new entries until an operator resumes",
                        breaker.state.value.upper(), iso_utc(breaker.since_ms) if breaker.since_ms else "?", breaker.reason)
        self._announce([EngineStarted(wall_ms(), self.mode, resumed)] + backfills + oms.take_events())
        self.apply_operator_commands()

    def _missed(self, lane: Lane) -> Backfill | None:
        """The backfill a real-time lane needs after downtime: candles closed (venue clock)
        after its cursor; None when none or the lane is a replay."""
        if lane.stale_after_ms is None or lane.last_processed_ms is None:
            return None
        now, tf = lane.market.now_ms(), lane.runner.tf_ms
        missed = (now - tf - lane.last_processed_ms) // tf if now else 0
        if missed <= 0:
            return None
        first = lane.last_processed_ms + tf
        log.warning("backfill %s %s: %d candle(s) closed while quantd was down (%s to %s); they are processed "
                    "before trading on fresh candles%s", lane.symbol, lane.runner.timeframe, missed, iso_utc(first),
                    iso_utc(first + (missed - 1) * tf), "" if self.trade_backfill else " (exits only, no entries)")
        return Backfill(now, lane.symbol, lane.runner.timeframe, int(missed), first, first + (missed - 1) * tf)

    def step(self) -> int:
        """Process every candle that closed since the last step, all lanes merged by close
        time; returns how many."""
        self._beat()
        self.apply_operator_commands()
        approvals = self.lanes[0].runner.approvals
        if approvals is not None and approvals.pending:
            skipped = approvals.expire(self._now())
            if skipped:
                self.journal.record_events(skipped)
                self.bus.publish(skipped)
        done = 0
        group_close = None  # candles of one close time share one commit of their cursors
        try:
            while not self.stop_requested:
                for lane in self.lanes:
                    if not lane.buffered:
                        lane.buffered.extend(c for c in lane.market.poll()
                                             if lane.last_processed_ms is None or c.ts_ms > lane.last_processed_ms)
                ready = [lane for lane in self.lanes if lane.buffered]
                if not ready:
                    break
                lane = min(ready, key=Lane.next_close_ms)  # min() keeps the first of equals: lane order
                if lane.next_close_ms() != group_close:
                    self.journal.end_candle_group()
                    self.journal.begin_candle_group()
                    group_close = lane.next_close_ms()
                if lane.stale_after_ms is not None:
                    self.check_stale(lane)
                self._process(lane, lane.buffered.popleft())
                done += 1
        finally:
            self.journal.end_candle_group()
        for lane in self.lanes:
            if lane.stale_after_ms is not None:
                self.check_stale(lane)
        if self.reconciler is not None and time.monotonic() - self._last_reconcile_s >= self.reconcile_secs:
            self.reconcile()
        return done

    def reconcile(self, everything: bool = False) -> None:
        """Run reconciliation now and publish what it found (``everything``: report findings
        already reported too, for an operator's /reconcile)."""
        self._last_reconcile_s = time.monotonic()
        report = self.reconciler.run(self._now(), everything)
        self.last_reconciliation = (wall_ms(), len(report.issues), report.complete)
        if report.issues or not report.complete:
            log.warning("reconciliation: %d issue(s)%s", len(report.issues),
                        "" if report.complete else "; the exchange did not answer everything")
        self.bus.publish(self.oms.take_events())

    def check_stale(self, lane: Lane) -> None:
        """Start or end a stale-data episode for ``lane``'s symbol (events persisted, published)."""
        market, runner = lane.market, lane.runner
        now = self._now(lane)
        newest = getattr(market, "newest_close_ms", 0)
        down_since = getattr(market, "unreachable_since_s", None)
        reason = None
        if down_since is not None and time.monotonic() - down_since > self.unreachable_after_secs:
            reason = f"exchange unreachable for {time.monotonic() - down_since:.0f}s"
        elif newest and now - newest > lane.stale_after_ms:
            reason = f"newest closed candle ended {iso_utc(newest)}, {(now - newest) / 1000:.0f}s ago"
        if reason and lane.stale_since_ms is None:
            lane.stale_since_ms = now
            runner.entries_blocked = f"stale data: {reason}"
            events = [StaleData(now, runner.symbol, reason)]
        elif reason is None and lane.stale_since_ms is not None:
            events = [StaleDataRecovered(now, runner.symbol, (now - lane.stale_since_ms) / 1000)]
            lane.stale_since_ms, runner.entries_blocked = None, None
        else:
            return
        log.warning("%s %s: %s", events[0].kind, runner.symbol, reason or "fresh candles again")
        self.journal.record_events(events)
        self.bus.publish(events)

    def apply_operator_commands(self) -> None:
        """Apply the operator commands queued in the store (by the CLI or the bot), oldest
        first: ``pause``, ``resume``, ``kill`` act on the shared breaker, so on every lane
        (``kill`` also closes every position at market at once, priced at the last candle);
        ``flatten <symbol|all>`` closes positions at market now (the breaker is untouched);
        ``cancel <client order id|all>`` cancels working orders; ``buy``, ``sell`` and
        ``limit_sell`` are the operator's own trades (:mod:`engine.manual`). The result, in
        words, is stored with the command."""
        for command_id, command, by in self.journal.pending_commands():
            now = self._now()
            verb, arg = parse_command(command)
            events = []
            if verb is None:
                text = unknown_command(command)
            elif verb is Verb.FLATTEN:
                text = self._flatten(arg or "all", by, now)
            elif verb is Verb.KILL:  # halt, then close every position now, not at a next candle that may never come
                text, events = self.risk.operator(verb, by, now)
                text = f"{text}; {self._flatten('all', by, now, f'flatten: {self.risk.breaker.reason}')}"
            elif verb in BREAKER_VERBS:
                text, events = self.risk.operator(verb, by, now)
            elif verb is Verb.CANCEL:
                text = self._cancel(arg or "all", by, now)
            elif verb in TRADE_VERBS:
                text = trade_command(self, verb, arg, by, now)
            elif verb in RECONCILE_VERBS:
                text, events = reconcile_command(self, verb, arg, by, now)
            elif verb is Verb.UNLOCK:
                text = self._unlock(arg or "all", by, now)
            else:  # Verb.RELOAD
                text = self.reloader(by) if self.reloader is not None else "reload is not available in this process"
            self.journal.command_applied(command_id, text, now, self.risk.breaker, events)
            log.warning("operator %s by %s: %s", command, by, text)
            if not self.risk.breaker.allows_entries:
                self.oms.cancel_entries(f"operator {command}", now)
            self.bus.publish(events + self.oms.take_events())

    def _flatten(self, target: str, by: str, now: int, intent: str | None = None) -> str:
        lanes = [lane for lane in self.lanes if target in ("all", lane.symbol)]
        if not lanes:
            return f"not flattened: {target} is not traded (symbols: {', '.join(la.symbol for la in self.lanes)})"
        done = []
        for lane in lanes:
            runner = lane.runner
            exit_side = Side.BUY if self.oms.portfolio.position(lane.symbol).qty < 0 else Side.SELL  # a short buys back
            if any(o.side is exit_side and not o.is_protective_stop for o in self.oms.open_orders(lane.symbol)):
                done.append(f"{lane.symbol}: an exit is already working")
                continue
            if lane.last_candle is None:
                done.append(f"{lane.symbol}: no candle yet to price the exit")
                continue
            key = self.oms.free_signal_ts(runner.strategy.name, lane.symbol, exit_side, now)  # each flatten is new
            decision = runner.close_position(lane.last_candle, now, intent or f"flatten by {by}", key)
            text = "flat already" if decision is None else \
                f"{exit_side.value} {decision.action} {decision.client_order_id or ''}".strip()
            if decision is not None and decision.client_order_id and getattr(lane.market, "exhausted", False):
                text += " (it fills at the next candle's open, and the replay has ended: no candle will come)"
            done.append(f"{lane.symbol}: {text}")
        return "; ".join(done)

    def _unlock(self, target: str, by: str, now: int) -> str:
        locks = self.risk.pair_locks
        live = [s for s in locks.locks if locks.active(s, now) is not None and target in ("all", s)]
        ended = locks.unlock(target)
        if ended:
            self.journal.locks_ended(ended, by, now)
        if not live:
            return "no active lock" if target == "all" else f"no active lock on {target}"
        return f"unlocked: {', '.join(live)}"

    def _cancel(self, target: str, by: str, now: int, keep_stops: bool = False) -> str:
        orders = [o for o in self.oms.open_orders() if target in ("all", o.client_order_id)
                  and not (keep_stops and o.is_protective_stop)]
        if not orders:
            return "no working order" if target == "all" else f"no working order {target}"
        results = []
        for order in orders:
            self.oms.cancel(order, f"canceled by {by}", now)
            results.append(f"{order.client_order_id} {order.status.value}")
        return "; ".join(results)

    def cancel_all_orders(self, by: str) -> str:
        """Cancel every working order now (a clean shutdown that must leave nothing working),
        except the stops resting on the exchange (``risk.stop_on_exchange``), whose purpose is
        to outlive the process; returns what was done, in words. Events are persisted and
        published."""
        text = self._cancel("all", by, self._now(), keep_stops=True)
        self.bus.publish(self.oms.take_events())
        return text

    def stop(self, reason: str) -> None:
        """Record and publish the shutdown."""
        self._announce([EngineStopped(wall_ms(), self.mode, reason)])
        log.info("stopped (%s) after %d candle(s) this run", reason, self.candles_processed)

    def _process(self, lane: Lane, candle: Candle) -> None:
        runner = lane.runner
        now, closed = self._now(lane), candle.ts_ms + runner.tf_ms
        blocked = runner.entries_blocked
        if lane.stale_after_ms is not None and now - closed > lane.stale_after_ms:  # a backfilled candle
            if self.trade_backfill:
                now = closed  # a simulated venue replays it in its own time, as a replay would
            elif blocked is None:
                runner.entries_blocked = f"backfill: candle closed {(now - closed) / 1000:.0f}s ago"
        try:
            decision = runner.on_candle(candle, now)
        finally:
            runner.entries_blocked = blocked
        runner.finish_candle(candle)
        lane.last_processed_ms, lane.last_candle = candle.ts_ms, candle
        self.candles_processed += 1
        self._beat()
        if decision is not None and log.isEnabledFor(logging.DEBUG):
            log.debug("%s candle %s: %r -> %s", runner.symbol, iso_utc(candle.ts_ms), decision.signal, decision.action)
        self.bus.publish(self.oms.take_events())

    def _beat(self) -> None:
        self.heartbeat_ms, self.heartbeat_s = wall_ms(), time.monotonic()

    def status_line(self) -> str:
        """One line of state for the service manager and ``quantd health``, e.g. ``paper
        BTC/USDT 5m: 390 candles, last 2021-01-03T00:00Z; breaker running; 1 position, 0 orders``."""
        oms = self.oms
        markets = ", ".join(f"{la.symbol} {la.runner.timeframe}" for la in self.lanes)
        last = max((la.last_processed_ms for la in self.lanes if la.last_processed_ms is not None), default=None)
        held = sum(1 for la in self.lanes if oms.portfolio.position(la.symbol).qty > 0)
        return (f"{self.mode} {markets}: {self.candles_processed} candles this run"
                f"{', last ' + iso_utc(last) if last is not None else ''}; breaker {self.risk.breaker.state.value}; "
                f"{held} position(s), {len(oms.open_orders())} working order(s)")

    def _now(self, lane: Lane | None = None) -> int:
        """The engine clock, ms UTC: ``lane``'s source clock (a replay's is the close of the
        candle it released last); without a lane, the latest of all sources; wall time before any."""
        if lane is not None:
            return lane.market.now_ms() or wall_ms()
        return max(lane.market.now_ms() for lane in self.lanes) or wall_ms()

    def _restore_risk(self, fills: list, peak_equity: Decimal) -> None:
        risk = self.risk
        breaker = risk.breaker
        if breaker.allows_entries and breaker.reason.startswith("resumed"):
            risk.view.streak_since_ms = breaker.since_ms  # losses before the operator's resume do not count
        held: dict = {}
        for fill in fills:
            held[fill.symbol] = held.get(fill.symbol, 0) + (fill.qty if fill.side is Side.BUY else -fill.qty)
            risk.on_fill(fill, held[fill.symbol])
        risk.view.peak_raw = quote_raw(peak_equity)

    def _announce(self, events: list) -> None:
        kept = (EventKind.STARTUP, EventKind.SHUTDOWN, EventKind.BACKFILL)
        self.journal.record_events([e for e in events if e.kind in kept])
        self.bus.publish(events)
