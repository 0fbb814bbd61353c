"""Metrics for Prometheus and Grafana (opt-in: ``monitoring.metrics_port``).

``prometheus_client`` serves ``/metrics`` on ``monitoring.metrics_host`` (127.0.0.1 by
default: put a reverse proxy or an SSH tunnel in front to reach it from elsewhere). Each
scrape reads the engine and the store at that moment (a custom collector; nothing is kept
in between). Names carry their unit (``_quote`` is the account's quote currency):

==========================================  =====================================================
``quantd_equity_quote``                     cash plus positions at the last closes
``quantd_cash_quote``                       free quote cash of the account
``quantd_positions``                        symbols held (more than dust)
``quantd_open_orders``                      working orders (a stop on the exchange included)
``quantd_fills_total``                      fills booked since the store was created
``quantd_rejections_total``                 orders refused by the venue or the risk manager
``quantd_breaker_state{state}``             1 for the circuit breaker's current state, else 0
``quantd_engine_step_age_seconds``          since the engine loop last made progress
``quantd_data_age_seconds{symbol,timeframe}``  since the last processed candle closed (wall clock)
``quantd_exchange_latency_ms``              the last exchange call (live; absent otherwise)
``quantd_alert_queue_depth``                alerts not yet delivered (every channel)
==========================================  =====================================================

``deploy/grafana-dashboard.json`` draws them.
"""

from __future__ import annotations

import logging
import time

from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select

from engine.events import EventKind
from engine.risk.breaker import BreakerState
from engine.store.base import Store
from engine.store.ledger import EventRow
from engine.store.orders import FillRow
from engine.store.outbox import pending_count

log = logging.getLogger("quantd.metrics")


class EngineCollector:
    """A Prometheus collector reading ``engine`` (a running :class:`engine.live.LiveEngine`)
    and ``store`` at each scrape. Reads from the HTTP thread never block the engine; a value
    the engine is changing at that instant is skipped for that scrape."""

    def __init__(self, engine, store: Store):
        self.engine, self.store = engine, store

    def collect(self):
        engine = self.engine
        now_s = time.time()
        quote = engine.oms.portfolio.quote
        try:
            marks = dict(engine.marks.close)
            portfolio = engine.oms.portfolio
            yield _gauge("quantd_equity_quote", f"equity in {quote}: cash plus positions at the last closes",
                         float(portfolio.equity(marks)))
            yield _gauge("quantd_cash_quote", f"free cash, {quote}", float(portfolio.cash))
            held = sum(1 for lane in engine.lanes
                       if lane.runner.sellable(portfolio.position(lane.symbol), marks.get(lane.symbol, 1e12)) > 0)
            yield _gauge("quantd_positions", "symbols held (more than dust)", held)
            yield _gauge("quantd_open_orders", "working orders", len(engine.oms.open_orders()))
        except RuntimeError:  # "dictionary changed size during iteration": the engine was booking a fill
            log.debug("metrics: engine state changed during the scrape; skipped")
        with self.store.read() as s:
            fills = s.scalar(select(func.count(FillRow.id)))
            rejections = s.scalar(select(func.count(EventRow.id)).where(EventRow.kind == EventKind.REJECTION.value))
            risk_rejects = s.scalar(select(func.count(EventRow.id)).where(
                EventRow.kind == EventKind.RISK_DECISION.value, EventRow.payload["action"].as_string() == "reject"))
        yield _counter("quantd_fills", "fills booked since the store was created", fills)
        yield _counter("quantd_rejections", "orders refused by the venue or the risk manager", rejections + risk_rejects)
        state = GaugeMetricFamily("quantd_breaker_state", "1 for the circuit breaker's current state",
                                  labels=["state"])
        for s_ in BreakerState:
            state.add_metric([s_.value], 1.0 if engine.risk.breaker.state is s_ else 0.0)
        yield state
        yield _gauge("quantd_engine_step_age_seconds", "since the engine loop last made progress",
                     time.monotonic() - engine.heartbeat_s)
        age = GaugeMetricFamily("quantd_data_age_seconds", "since the last processed candle closed (wall clock)",
                                labels=["symbol", "timeframe"])
        for lane in engine.lanes:
            if lane.last_processed_ms is not None:
                closed_s = (lane.last_processed_ms + lane.runner.tf_ms) / 1000
                age.add_metric([lane.symbol, lane.runner.timeframe], now_s - closed_s)
        yield age
        latency = getattr(engine.oms.gateway, "last_latency_ms", None)
        if latency is not None:
            yield _gauge("quantd_exchange_latency_ms", "the last exchange call", latency)
        yield _gauge("quantd_alert_queue_depth", "alerts not yet delivered", pending_count(self.store))


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, value=value)


def _counter(name: str, text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, text, value=value)


def serve_metrics(engine, store: Store, host: str, port: int):
    """Serve ``/metrics`` on ``host:port`` in a daemon thread; returns the server (its
    ``shutdown()`` stops it).

    Raises:
        OSError: the port cannot be bound.
    """
    from prometheus_client import start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(engine, store))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    log.info("metrics for Prometheus on http://%s:%d/metrics", host, server.server_port)
    return server
