"""Composition root of the daemon: builds store, gateway, engine; runs until a signal.

Threads: the main thread owns signals and the stop event; an APScheduler background job
runs :meth:`LiveEngine.step` (never two at once). On SIGINT/SIGTERM the scheduler is shut
down waiting for the running step, so the in-flight transaction completes before exit.
"""

from __future__ import annotations

import logging
import signal
import threading

from apscheduler.schedulers.background import BackgroundScheduler

from bot.alerts import log_alert
from bot.config import Settings
from engine.backtest.simulator import FillModel
from engine.data import load_ohlcv
from engine.errors import ConfigError
from engine.events import EventBus
from engine.live import LiveEngine, wall_ms
from engine.oms import OrderManager
from engine.risk.manager import RiskManager
from engine.risk.sizing import parse_stake
from engine.runner import StrategyRunner
from engine.store import SqlJournal, Store, load_state, open_store
from engine.store.state import init_account
from engine.strategy import create
from engine.timeframes import timeframe_to_ms
from gateways import sample_path
from gateways.paper import PaperGateway
from gateways.replay import ReplayMarketData

log = logging.getLogger("quantd")

TICK_SECS = 0.1
"""How often the scheduler asks market data for newly closed candles (replay)."""


def build_engine(settings: Settings) -> tuple[LiveEngine, ReplayMarketData, Store]:
    """Wire the paper daemon from settings and the stored state; returns (engine, market, store).

    Raises:
        ConfigError: the store belongs to another mode, or the data file does not fit.
        StoreError, DataError: store or data unusable.
    """
    store = open_store(settings.store.url)
    state = load_state(store)
    resumed = state is not None
    if state is None:
        inst = settings.instrument()
        init_account(store, settings.mode, settings.paper.cash, inst.quote, wall_ms())
        state = load_state(store)
    elif state.mode != settings.mode:
        raise ConfigError(f"the store {settings.store.url} holds {state.mode} state; mode is {settings.mode}: use another store.url")
    journal = SqlJournal(store)
    model = FillModel(settings.paper.fee, settings.paper.slippage_bps)
    gateway = PaperGateway([settings.instrument()], model, state.orders)
    oms = OrderManager(gateway, journal, state.portfolio, state.orders)
    oms.mark_fills_seen(state.trade_ids)
    strat = settings.strategy
    tf_ms = timeframe_to_ms(strat.timeframe)
    risk = RiskManager(settings.risk.build(tf_ms), state.breaker, settings.risk.protection(), state.protections,
                       settings.risk.flatten_on_halt, settings.risk.day_start_hour_utc)
    runner = StrategyRunner(create(strat.name, strat.params), strat.symbol, strat.timeframe, oms,
                            parse_stake(strat.stake, settings.paper.fee), journal, risk)
    data_path = settings.replay.data or sample_path()
    df, report = load_ohlcv(data_path, timeframe=strat.timeframe)
    log.info("market data: %s", report.summary())
    cursor = state.cursors.get(runner.key)
    market = ReplayMarketData(df, tf_ms, settings.replay.speed, start_after_ms=cursor)
    bus = EventBus()
    bus.subscribe(log_alert)
    engine = LiveEngine(runner, market, journal, bus, settings.mode, cursor)
    log.info("risk: %s", ", ".join(r.describe() for r in risk.rules) or "no limits")
    engine.start(resumed, state.fills, state.peak_equity)
    return engine, market, store


def run(settings: Settings) -> int:
    """Run the daemon until SIGINT/SIGTERM (or the replay ends with ``exit_when_done``).

    Returns:
        0 after a clean stop, 1 when a step failed (the error is logged with its traceback;
        the store holds everything committed before it).
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
    engine, market, store = build_engine(settings)
    built.append(engine)

    def step() -> None:
        try:
            engine.step()
        except Exception:
            log.exception("engine step failed: stopping so a supervisor can restart from the store")
            failed.set()
            stop.set()

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(step, "interval", seconds=TICK_SECS, max_instances=1, coalesce=True,
                      id="candles", misfire_grace_time=None)
    scheduler.start()
    announced_end = False
    try:
        while not stop.wait(0.2):
            if market.exhausted and not announced_end:
                announced_end = True
                log.info("replay finished: every candle of the data file was processed")
                if settings.replay.exit_when_done:
                    reason["text"] = "replay finished"
                    break
    finally:
        scheduler.shutdown(wait=True)
        engine.stop("error" if failed.is_set() else reason["text"])
        store.close()
    return 1 if failed.is_set() else 0
