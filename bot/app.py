"""Composition root of the daemon: builds store, gateway, engine; runs until a signal.

Threads: the main thread owns signals and the stop event; an APScheduler background job
runs :meth:`LiveEngine.step` (never two at once). On SIGINT/SIGTERM the scheduler is shut
down waiting for the running step, so the in-flight transaction completes before exit.
"""

from __future__ import annotations

import logging
import signal
import threading
from decimal import Decimal

from apscheduler.schedulers.background import BackgroundScheduler

from bot.alerts import log_alert
from bot.config import Settings
from engine.backtest.simulator import FillModel
from engine.data import load_ohlcv
from engine.errors import ConfigError
from engine.events import EventBus
from engine.live import LiveEngine, wall_ms
from engine.oms import OrderManager
from engine.reconcile import Reconciler
from engine.risk.manager import RiskManager
from engine.risk.sizing import parse_stake
from engine.runner import StrategyRunner
from engine.store import SqlJournal, Store, load_state, open_store
from engine.store.state import init_account
from engine.strategy import create
from engine.timeframes import timeframe_to_ms
from gateways import sample_path
from gateways.ccxt_gateway import CcxtGateway
from gateways.ccxt_market import CcxtMarketData
from gateways.paper import PaperGateway
from gateways.replay import ReplayMarketData
from vault import exchange_credentials

log = logging.getLogger("quantd")

TICK_SECS = 0.1
"""How often the scheduler asks market data for newly closed candles (replay)."""


def build_engine(settings: Settings) -> tuple[LiveEngine, object, Store]:
    """Wire the daemon from settings and the stored state; returns (engine, market, store).

    Paper: the replay source and the paper venue. Live: the ccxt gateway (keys from the
    vault), its candles, and a reconciler that runs before any order.

    Raises:
        ConfigError (VaultError): the store belongs to another mode, the data file does not
            fit, keys are missing or loose, the exchange has no such market.
        StoreError, DataError, VenueError: store, data or exchange unusable.
    """
    store = open_store(settings.store.url)
    try:
        return _build(settings, store)
    except BaseException:
        store.close()
        raise


def _build(settings: Settings, store: Store) -> tuple[LiveEngine, object, Store]:
    state = load_state(store)
    resumed = state is not None
    if state is not None and state.mode != settings.mode:
        raise ConfigError(f"the store {settings.store.url} holds {state.mode} state; mode is {settings.mode}: use another store.url")
    strat = settings.strategy
    tf_ms = timeframe_to_ms(strat.timeframe)
    live = settings.mode == "live"
    gateway = connect_exchange(settings) if live else None
    instrument = gateway.instrument(strat.symbol) if live else settings.instrument()
    if state is None:
        if live:
            cash, baseline = _live_account(settings, gateway, instrument)
        else:
            cash, baseline = settings.paper.cash, None
        init_account(store, settings.mode, cash, instrument.quote, wall_ms(), baseline)
        state = load_state(store)
    journal = SqlJournal(store)
    if not live:
        gateway = PaperGateway([instrument], FillModel(settings.paper.fee, settings.paper.slippage_bps), state.orders)
    oms = OrderManager(gateway, journal, state.portfolio, state.orders)
    oms.mark_fills_seen(state.trade_ids)
    risk = RiskManager(settings.risk.build(tf_ms), state.breaker, settings.risk.protection(), state.protections,
                       settings.risk.flatten_on_halt, settings.risk.day_start_hour_utc)
    runner = StrategyRunner(create(strat.name, strat.params), strat.symbol, strat.timeframe, oms,
                            parse_stake(strat.stake, settings.paper.fee), journal, risk, instrument)
    cursor = state.cursors.get(runner.key)
    bus = EventBus()
    bus.subscribe(log_alert)
    log.info("risk: %s", ", ".join(r.describe() for r in risk.rules) or "no limits")
    if live:
        ex = settings.exchange
        market = CcxtMarketData(gateway, strat.symbol, strat.timeframe, cursor)
        reconciler = Reconciler(oms, gateway, journal, risk, [strat.symbol], state.baseline, state.fills,
                                ex.balance_tolerance_pct,
                                {instrument.base: instrument.amount_step or Decimal(0), instrument.quote: Decimal("0.01")},
                                state.reported_external)
        engine = LiveEngine(runner, market, journal, bus, settings.mode, cursor, reconciler, ex.reconcile_secs,
                            int(ex.stale_after_candles * tf_ms), ex.unreachable_after_secs)
    else:
        df, report = load_ohlcv(settings.replay.data or sample_path(), timeframe=strat.timeframe)
        log.info("market data: %s", report.summary())
        market = ReplayMarketData(df, tf_ms, settings.replay.speed, start_after_ms=cursor)
        engine = LiveEngine(runner, market, journal, bus, settings.mode, cursor)
    engine.start(resumed, state.fills, state.peak_equity)
    return engine, market, store


def connect_exchange(settings: Settings) -> CcxtGateway:
    """The ccxt gateway with keys from the vault, markets loaded.

    Raises:
        VaultError: no keys, or a key file others can read.
        VenueError, VenueUnavailable: the exchange refused or cannot be reached.
    """
    ex = settings.exchange
    creds = exchange_credentials(ex.id, settings.vault.dir, ex.api_key, ex.secret)
    gateway = CcxtGateway(ex.id, api_key=creds.api_key.get_secret_value(), secret=creds.secret.get_secret_value(),
                          sandbox=ex.sandbox, api_url=ex.api_url, timeout_ms=ex.timeout_ms)
    try:
        gateway.load_markets()
    except BaseException:
        gateway.close()
        raise
    log.info("exchange %s%s connected (keys from %s)", ex.id, " testnet" if ex.sandbox else "", creds.source)
    return gateway


def _live_account(settings: Settings, gateway: CcxtGateway, instrument) -> tuple[Decimal, dict[str, Decimal]]:
    """First live start: the capital the daemon may use and the balances it starts from."""
    balances = gateway.fetch_balances()
    quote_balance = balances.get(instrument.quote, Decimal(0))
    capital = settings.exchange.capital or quote_balance
    if capital > quote_balance:
        raise ConfigError(f"invalid setting exchange.capital (QUANTD_EXCHANGE__CAPITAL): {capital} "
                          f"{instrument.quote} is more than the account holds ({quote_balance})")
    baseline = {instrument.quote: quote_balance, instrument.base: balances.get(instrument.base, Decimal(0))}
    log.info("live account created: capital %s %s; exchange balances at start %s", capital, instrument.quote, baseline)
    return capital, baseline


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
    tick = settings.exchange.poll_secs if settings.mode == "live" else TICK_SECS
    scheduler.add_job(step, "interval", seconds=tick, max_instances=1, coalesce=True,
                      id="candles", misfire_grace_time=None)
    scheduler.start()
    announced_end = False
    try:
        while not stop.wait(0.2):
            if getattr(market, "exhausted", False) and not announced_end:
                announced_end = True
                log.info("replay finished: every candle of the data file was processed")
                if settings.replay.exit_when_done:
                    reason["text"] = "replay finished"
                    break
    finally:
        scheduler.shutdown(wait=True)
        engine.stop("error" if failed.is_set() else reason["text"])
        store.close()
        gateway = engine.runner.oms.gateway
        if isinstance(gateway, CcxtGateway):
            gateway.close()
    return 1 if failed.is_set() else 0
