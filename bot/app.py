"""Composition root of the daemon: builds store, gateway, engine; runs until a signal.

Threads: the main thread owns signals, the stop event and supervision (systemd watchdog,
heartbeat row, see :mod:`bot.supervisor`); an APScheduler background job runs
:meth:`LiveEngine.step` (never two at once). On SIGINT/SIGTERM new entries stop, the
scheduler is shut down waiting for the running step (it returns after its current candle),
so the in-flight transaction completes before exit; working orders are canceled if
``daemon.cancel_orders_on_stop``; the Telegram outbox gets a few seconds to drain. SIGHUP
queues a config reload (:mod:`bot.reload`), applied by the engine between candles.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import DatabaseError

from bot.alerts import log_alert
from bot.config import Settings
from bot.deadman import HeartbeatPinger
from bot.exchange_setup import connect_exchange, extend_baseline, futures_terms, live_account, venue_tiers
from bot.notify import AppriseChannels
from bot.reload import Reloader
from bot.sdnotify import Notifier
from bot.supervisor import LoopSupervisor
from bot.telegram.daemon import DaemonTelegram
from engine.approvals import EntryApprovals
from engine.commands import Verb
from engine.core import MarketSpec, Resumed, build_core
from engine.data import load_ohlcv
from engine.errors import ConfigError
from engine.events import EventBus
from engine.live import Lane, LiveEngine, wall_ms
from engine.reconcile import Reconciler
from engine.simulator import FillModel
from engine.store import SqlJournal, Store, load_state, open_store
from engine.store.base import corrupt_store, is_corruption, verify_integrity
from engine.store.journal import queue_command
from engine.store.lock import StoreLock, acquire_store_lock
from engine.store.reports import unclean_stops
from engine.store.state import init_account, instance_tag
from engine.strategy import create
from gateways.paper import PaperGateway
from gateways.replay import ReplayFeed

if TYPE_CHECKING:  # ccxt (about 70 MB resident) is imported by live mode only
    from gateways.ccxt_gateway import CcxtGateway

log = logging.getLogger("quantd")

TICK_SECS = 0.1
"""How often the scheduler asks market data for newly closed candles (replay)."""


def build_engine(settings: Settings, subscribers: Callable[[Store], list] | None = None) -> tuple[LiveEngine, Store]:
    """Wire the daemon from settings and the stored state; returns (engine, store).

    One lane per configured market; the lanes share one OMS, portfolio and risk manager.
    Paper: a replay source per market and the paper venue. Live: the ccxt gateway (keys from
    the vault), its candles, and a reconciler that runs before any order.

    Args:
        subscribers: given the opened store, returns extra event-bus handlers (the Telegram
            alert router); they are subscribed before the engine starts, so they see its
            start-up events too.

    Raises:
        ConfigError (VaultError): the store belongs to another mode, a data file does not
            fit, keys are missing or loose, the exchange has no such market.
        StoreCorrupt: the store's file is damaged (``PRAGMA quick_check``).
        StoreError, DataError, VenueError: store, data or exchange unusable.
    """
    store = open_store(settings.store.url)
    try:
        verify_integrity(store, settings.store.url)
        return _build(settings, store, subscribers(store) if subscribers else []), store
    except DatabaseError as exc:
        store.close()
        if is_corruption(exc.orig or exc):
            raise corrupt_store(settings.store.url, str(exc.orig or exc)) from None
        raise
    except BaseException:
        store.close()
        raise


def _build(settings: Settings, store: Store, handlers: list) -> LiveEngine:
    state = load_state(store)
    resumed = state is not None
    if state is not None and state.mode != settings.mode:
        raise ConfigError(f"the store {settings.store.url} holds {state.mode} state; mode is {settings.mode}: use another store.url")
    markets = settings.markets()
    live = settings.mode == "live"
    gateway = connect_exchange(settings, keys=live) if settings.mode in REALTIME_MODES else None
    try:
        instruments = [gateway.instrument(m.symbol) if gateway else settings.instrument(m) for m in markets]
        if state is not None and state.portfolio.quote != instruments[0].quote:
            raise ConfigError(f"the store {settings.store.url} keeps its cash in {state.portfolio.quote}; "
                              f"the markets are quoted in {instruments[0].quote}: use another store.url")
        if state is not None and state.market != settings.market:
            raise ConfigError(f"the store {settings.store.url} holds a {state.market} account; market is "
                              f"{settings.market}: use another store.url")
        if state is None:
            if live:
                cash, baseline = live_account(settings, gateway, instruments)
            else:
                cash, baseline = settings.paper.cash, None
            init_account(store, settings.mode, cash, instruments[0].quote, wall_ms(), baseline, settings.market,
                         settings.futures.leverage)
            state = load_state(store)
        elif live:
            extend_baseline(store, state, gateway, instruments)
        return _wire(settings, store, state, resumed, markets, instruments, gateway, handlers)
    except BaseException:
        if gateway is not None:
            gateway.close()
        raise


REALTIME_MODES = ("dry_run", "live")
"""Modes whose candles come from the exchange as they close (ccxt); paper replays a file."""


def _wire(settings: Settings, store: Store, state, resumed: bool, markets: list, instruments: list,
          exchange: CcxtGateway | None, handlers: list) -> LiveEngine:
    """Paper: replayed files, simulated fills. Dry-run: the exchange's candles (public
    endpoints), simulated fills. Live: the exchange's candles and orders, reconciliation."""
    live = settings.mode == "live"
    journal = SqlJournal(store)
    if live:
        venue = exchange
    else:
        venue = PaperGateway(instruments, FillModel(settings.paper.fee, settings.paper.slippage_bps), state.orders)
    if settings.market == "futures":
        futures_terms(settings, store, state.portfolio, markets)
        if live:  # one-way, isolated, the account's leverage: set on the exchange before any order
            exchange.configure([m.symbol for m in markets], state.portfolio.leverage)
            venue_tiers(exchange, state.portfolio, markets)
    specs = [MarketSpec(create(m.name, m.params), m.symbol, m.timeframe, m.stake, instrument)
             for m, instrument in zip(markets, instruments)]
    core = build_core(specs, venue, journal, state.portfolio, settings.risk, settings.paper.fee,
                      Resumed(state.orders, state.breaker, state.protections, state.locks),
                      id_prefix=f"qd-{instance_tag(store)}")
    oms, risk = core.oms, core.risk
    oms.mark_fills_seen(state.trade_ids)
    lanes = []
    approvals = EntryApprovals(int(settings.telegram.approve_secs * 1000)) if settings.telegram.approve_entries else None
    feed = None if exchange else ReplayFeed(settings.replay.speed)
    ex = settings.exchange
    for m, runner in zip(markets, core.runners):
        runner.approvals = approvals
        if settings.market == "futures" and runner.futures is not None:
            futures = runner.futures
            if live:  # what the exchange charged the account
                from gateways.ccxt_market import CcxtFundingPayments

                futures.funding = CcxtFundingPayments(exchange, m.symbol)
            elif exchange:  # dry-run: the rates the exchange publishes, as they are published
                from gateways.ccxt_market import CcxtFundingRates

                futures.funding = CcxtFundingRates(exchange, m.symbol)
            else:
                futures.funding = settings.funding_rates(m)
            futures.funded_through_ms = state.funded_through.get(m.symbol, 0)
            futures.liquidation_alert_pct = settings.futures.liquidation_alert_pct
        cursor = state.cursors.get(runner.key)
        if exchange:
            from gateways.ccxt_market import CcxtMarketData

            lane = Lane(runner, CcxtMarketData(exchange, m.symbol, m.timeframe, cursor), cursor)
            lane.stale_after_ms = int(ex.stale_after_candles * runner.tf_ms)
        else:
            df, report = load_ohlcv(settings.replay_file(m), timeframe=m.timeframe)
            log.info("market data %s %s: %s", m.symbol, m.timeframe, report.summary())
            lane = Lane(runner, feed.market(df, runner.tf_ms, start_after_ms=cursor), cursor)
        lanes.append(lane)
    bus = EventBus()
    bus.subscribe(log_alert)
    for handler in handlers:
        bus.subscribe(handler)
    log.info("risk: %s", ", ".join(r.describe() for r in risk.rules) or "no limits")
    if live:
        min_abs = {i.base: i.amount_step or Decimal(0) for i in instruments}
        min_abs[instruments[0].quote] = Decimal("0.01")
        kind = Reconciler
        if settings.market == "futures":
            from engine.reconcile_futures import FuturesReconciler, position_key

            kind = FuturesReconciler
            min_abs |= {position_key(m.symbol): i.amount_step or Decimal(0) for m, i in zip(markets, instruments)}
        reconciler = kind(oms, exchange, journal, risk, [m.symbol for m in markets], state.baseline, state.fills,
                          ex.balance_tolerance_pct, min_abs, state.reported_external, ex.adopt_external_orders)
        engine = LiveEngine(lanes, journal, bus, settings.mode, reconciler, ex.reconcile_secs,
                            ex.unreachable_after_secs, trade_backfill=False)
    elif exchange:  # dry-run: nothing is on the exchange, so nothing to reconcile
        engine = LiveEngine(lanes, journal, bus, settings.mode, None, ex.reconcile_secs, ex.unreachable_after_secs)
    else:
        engine = LiveEngine(lanes, journal, bus, settings.mode)
    engine.start(resumed, state.fills, state.peak_equity)
    return engine

def _ccxt_gateways(engine: LiveEngine) -> list:
    """The ccxt gateways the engine's market data and orders use (to close at shutdown)."""
    found = [getattr(lane.market, "gateway", None) for lane in engine.lanes] + [engine.oms.gateway]
    return [g for g in found if g is not None and hasattr(g, "exchange_id")]


def _backup_job(store: Store, folder, keep: int, alert: Callable[[str, str], None]) -> Callable[[], None]:
    """The scheduled backup: a failure is logged and alerted, never raised (trading goes on)."""
    from engine.store.backup import backup_store

    def job() -> None:
        try:
            path, deleted = backup_store(store, folder, keep)
            log.info("backup written: %s (%d older copies deleted)", path, len(deleted))
        except Exception as exc:
            log.exception("backup to %s failed", folder)
            alert("error", f"backup of the store to {folder} failed: {type(exc).__name__}: {exc}")

    return job


def run(settings: Settings, early_signals: list[int] | None = None) -> int:
    """Run the daemon until SIGINT/SIGTERM (or the replay ends with ``exit_when_done``).

    Args:
        early_signals: signals received before this function installed its handlers (while
            the program was importing); any of them stops the daemon before it starts.

    Returns:
        0 after a clean stop, 1 when a step failed (the error is logged with its traceback;
        the store holds everything committed before it).

    Raises:
        StoreLocked: another live daemon holds the store (nothing was read or written).
    """
    stop = threading.Event()
    reason = {"text": "stopped by signal"}
    failed = threading.Event()
    built: list[LiveEngine] = []

    def on_signal(signum: int, _frame) -> None:
        reason["text"] = f"received {signal.Signals(signum).name}"
        stop.set()
        for engine in built:
            engine.stop_requested = True

    for sig in (signal.SIGINT, signal.SIGTERM):  # before start-up work, so an early signal is clean too
        signal.signal(sig, on_signal)
    reload_asked = threading.Event()
    signal.signal(signal.SIGHUP, lambda _signum, _frame: reload_asked.set())  # applied by the main loop
    if early_signals:
        log.info("received %s during start-up: stopped before trading", signal.Signals(early_signals[-1]).name)
        return 0
    lock = acquire_store_lock(settings.store.url)  # before anything reads or writes the store
    if lock.took_over is not None:
        log.warning("took over the store lock of %s: that process is gone (crash, kill or power loss)",
                    lock.took_over.describe())
    try:
        return _run_locked(settings, stop, reason, failed, built, reload_asked, lock)
    finally:
        lock.release()


LOCK_CHECK_SECS = 5.0
"""How often the daemon checks that it still holds its store's lock."""


def _lost_lock(lock: StoreLock, alert) -> bool:
    """Check the store lock (:meth:`StoreLock.check`): True when another process holds the
    store now, after an error log and an alert; a lock taken again is logged."""
    before = lock.retaken
    try:
        lost = lock.check()
    except Exception as exc:  # a check must not crash the daemon; a failing one is a lost lock
        lost = f"the store lock cannot be checked: {type(exc).__name__}: {exc}"
    if lost is None:
        if lock.retaken != before:
            log.warning("the store lock was lost (database restart, dropped connection or deleted lock file) "
                        "and taken again: nobody else holds the store")
        return False
    log.error("lost the store lock: %s; stopping now so two daemons never trade one account", lost)
    alert("error", f"lost the store lock: {lost}. quantd stops trading now (one daemon per store).")
    return True


def _run_locked(settings: Settings, stop: threading.Event, reason: dict, failed: threading.Event,
                built: list, reload_asked: threading.Event, lock: StoreLock | None = None) -> int:
    notifier = Notifier.from_env()
    started_ms = wall_ms()
    telegram = DaemonTelegram(settings)  # a bad token stops here, before any trading
    channels = AppriseChannels(settings.notify)
    restarts = {"n": 0}

    def alert(kind: str, text: str) -> None:
        telegram.alert(kind, text)
        channels.send(kind, text)

    def before_start(store: Store) -> list:
        restarts["n"] = unclean_stops(store, started_ms - 86_400_000)  # before this run records its start
        if restarts["n"]:
            log.warning("%d unclean stop(s) in the last 24 h (crash, kill or power loss); state is recovered from "
                        "the store%s", restarts["n"], "; a crash loop?" if restarts["n"] > 2 else "")
        return telegram.subscribers(store) + channels.subscribers(store)

    notifier.notify(STATUS="starting: reconciling and warming up")
    engine, store = build_engine(settings, before_start)
    built.append(engine)
    engine.reloader = Reloader(settings, engine, telegram)
    mon = settings.monitoring
    pinger = None
    if mon.heartbeat_url is not None:
        pinger = HeartbeatPinger(mon.heartbeat_url.get_secret_value(), mon.heartbeat_secs, mon.heartbeat_timeout_secs)
        log.info("dead-man's switch: the heartbeat URL is requested every %g s while the engine loop runs",
                 mon.heartbeat_secs)
    supervisor = LoopSupervisor(engine, store, notifier, settings.daemon.stall_secs, restarts["n"], started_ms,
                                pinger)
    telegram.start(engine)
    channels.start()
    metrics = None
    if settings.monitoring.metrics_port is not None:
        from bot.metrics import serve_metrics

        try:
            metrics = serve_metrics(engine, store, settings.monitoring.metrics_host, settings.monitoring.metrics_port)
        except OSError as exc:  # trading does not depend on it
            log.error("metrics endpoint not started on %s:%d: %s", settings.monitoring.metrics_host,
                      settings.monitoring.metrics_port, exc)

    def step() -> None:
        try:
            engine.step()
        except Exception as exc:
            log.exception("engine step failed: stopping so a supervisor can restart from the store")
            alert("error", f"engine step failed: {type(exc).__name__}: {exc}; the daemon stops so its "
                           "supervisor restarts it from the store")
            failed.set()
            stop.set()

    scheduler = BackgroundScheduler(timezone="UTC")
    tick = settings.exchange.poll_secs if settings.mode in REALTIME_MODES else TICK_SECS
    scheduler.add_job(step, "interval", seconds=tick, max_instances=1, coalesce=True,
                      id="candles", misfire_grace_time=None)
    backup_dir = settings.backup_dir()
    if backup_dir is not None and settings.backup.every_hours > 0:
        scheduler.add_job(_backup_job(store, backup_dir, settings.backup.keep, alert), "interval",
                          hours=settings.backup.every_hours, id="backup", max_instances=1, coalesce=True)
        log.info("backups of the store every %g h to %s, %d kept", settings.backup.every_hours, backup_dir,
                 settings.backup.keep)
    if telegram.enabled:
        scheduler.add_job(telegram.daily_summary, "cron", hour=settings.telegram.daily_summary_hour_utc, minute=0,
                          id="daily_summary")
    scheduler.start()
    supervisor.ready()
    announced_end = False
    next_lock_check = time.monotonic() + LOCK_CHECK_SECS
    try:
        while not stop.wait(0.2):
            supervisor.tick()
            if lock is not None and time.monotonic() >= next_lock_check:
                next_lock_check = time.monotonic() + LOCK_CHECK_SECS
                if _lost_lock(lock, alert):
                    engine.stop_requested = True  # no new order from the step that may be running
                    failed.set()
                    break
            if reload_asked.is_set():  # SIGHUP: a reload, queued like /reload, applied between candles
                reload_asked.clear()
                queue_command(store, Verb.RELOAD, "SIGHUP", wall_ms())
                log.warning("SIGHUP: config reload queued")
            if engine.exhausted and not announced_end:
                announced_end = True
                log.info("replay finished: every candle of the data file(s) was processed")
                if settings.replay.exit_when_done:
                    reason["text"] = "replay finished"
                    break
    finally:
        final = "error" if failed.is_set() else reason["text"]
        engine.stop_requested = True  # no new entries: the running step returns after its candle
        supervisor.stopping(final)
        scheduler.shutdown(wait=True)
        if settings.daemon.cancel_orders_on_stop and not failed.is_set():
            log.warning("daemon.cancel_orders_on_stop: %s", engine.cancel_all_orders("shutdown"))
        engine.stop(final)
        supervisor.stopped(final)
        telegram.stop()
        channels.stop()
        if metrics is not None:
            metrics.shutdown()
        store.close()
        for gateway in {id(g): g for g in _ccxt_gateways(engine)}.values():
            gateway.close()
    return 1 if failed.is_set() else 0
