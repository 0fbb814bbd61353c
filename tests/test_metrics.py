"""Prometheus metrics: scraped during a paper run, every value agrees with the store and the
engine at that moment; the daemon serves them on 127.0.0.1 when ``monitoring.metrics_port``
is set."""

from __future__ import annotations

import signal
import socket
import subprocess
import urllib.request
from decimal import Decimal

from prometheus_client.parser import text_string_to_metric_families

from bot.app import build_engine
from bot.config import load_settings
from bot.metrics import serve_metrics
from engine.store.outbox import pending_count
from engine.store.state import status_summary
from tests.cli_helpers import clean_env, quantd_cmd, read_until, short_sample
from tests.db_helpers import rows


def _scrape(port: int) -> dict[str, dict[tuple, float]]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def test_scraped_metrics_agree_with_the_store_during_a_paper_run(tmp_path):
    settings = load_settings(store={"url": f"sqlite:///{tmp_path / 'q.sqlite'}"}, replay={"speed": 1.0})
    engine, store = build_engine(settings)
    clock = {"t": 0.0}
    engine.lanes[0].market.feed._clock = lambda: clock["t"]
    server = serve_metrics(engine, store, "127.0.0.1", 0)
    try:
        for _ in range(3):
            for _ in range(150):  # 150 candles, then a scrape with the engine at rest
                clock["t"] += 1.0
                engine.step()
            got = _scrape(server.server_port)
            summary = status_summary(store)
            fills = rows(tmp_path / "q.sqlite", "SELECT count(*) FROM fills")[0][0]
            assert got["quantd_fills_total"][()] == fills
            assert abs(got["quantd_equity_quote"][()] - float(Decimal(summary["equity"]))) < 1e-6
            assert got["quantd_cash_quote"][()] == float(Decimal(summary["cash"]))
            assert got["quantd_open_orders"][()] == len(summary["open_orders"])
            assert got["quantd_positions"][()] == len(summary["positions"])
            assert got["quantd_alert_queue_depth"][()] == pending_count(store)
            assert got["quantd_breaker_state"][(("state", "running"),)] == 1.0
            assert got["quantd_breaker_state"][(("state", "halted"),)] == 0.0
            assert got["quantd_data_age_seconds"][(("symbol", "BTC/USDT"), ("timeframe", "5m"))] > 0
            assert got["quantd_engine_step_age_seconds"][()] >= 0
        assert fills > 2, "the run traded"
        refused = rows(tmp_path / "q.sqlite", "SELECT count(*) FROM events WHERE kind='rejection' OR "
                                              "(kind='risk_decision' AND json_extract(payload, '$.action')='reject')")
        assert got["quantd_rejections_total"][()] == refused[0][0]
        assert "quantd_exchange_latency_ms" not in got, "paper has no exchange"
    finally:
        server.shutdown()
        engine.stop("test")
        store.close()


def test_the_daemon_serves_metrics_on_loopback_when_asked(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = clean_env(QUANTD_MONITORING__METRICS_PORT=str(port), QUANTD_REPLAY__DATA=str(short_sample(tmp_path, 3000)))
    proc = subprocess.Popen(quantd_cmd() + ["run", "--speed", "50"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        out = read_until(proc, "ready:")
        assert f"metrics for Prometheus on http://127.0.0.1:{port}/metrics" in out
        read_until(proc, "FILL")  # candles processed: every family has samples
        got = _scrape(port)
        for name in ("quantd_equity_quote", "quantd_cash_quote", "quantd_positions", "quantd_open_orders",
                     "quantd_fills_total", "quantd_rejections_total", "quantd_breaker_state",
                     "quantd_engine_step_age_seconds", "quantd_data_age_seconds", "quantd_alert_queue_depth"):
            assert name in got, name
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0


def test_the_grafana_dashboard_draws_every_metric_the_daemon_serves():
    import json
    from pathlib import Path

    import bot.metrics

    dashboard = json.loads((Path(__file__).parents[1] / "deploy/grafana-dashboard.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    served = [line.split("``")[1].split("{")[0] for line in bot.metrics.__doc__.splitlines() if line.startswith("``quantd_")]
    assert len(served) == 11
    for name in served:
        assert name in exprs, f"{name} is served but not drawn"
