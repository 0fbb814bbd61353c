"""Live-loop latency in paper mode: ``python -m bench.live_latency [--steps 3000]``.

The daemon's own wiring (:func:`bot.app.build_engine`: paper venue, SQLite store with a
commit per state change, one lane per market) on the real BTC/USDT 1m candles, with 1, 10
and 50 markets (names ``M00/USDT``...; each market's ``sma_cross`` gets other periods so
their signals fall on different candles). The replay clock is stepped by hand: each
``engine.step()`` releases exactly one candle close time, i.e. one candle per market, as a
live minute boundary does.

Measured (``time.perf_counter``):

* **signal latency**: from the start of the step that received the closed candle to the
  call that hands its order to the gateway (every order, entries and exits), so the
  markets processed before it in the same step count, as they would live;
* **candle processing**: each candle's runner work and commits;
* **commit floor**: one small SQLite commit with the store's settings (WAL,
  ``synchronous=FULL``) in the same folder: the disk's fsync, which an order must wait for
  at least once before it leaves (ADR 0003), and which varies between machines and days.

Prints p50/p99/max in ms per market count, and writes ``bench/LATENCY.md`` unless ``--out -``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def measure(n_markets: int, steps: int, work: Path) -> dict:
    """Run ``steps`` close times with ``n_markets`` markets; latencies in ms."""
    from bench.series import REAL, data_dir
    from bot.app import build_engine
    from bot.config import load_settings

    strategies = [{"name": "sma_cross", "symbol": f"M{k:02d}/USDT", "timeframe": "1m", "stake": "100",
                   "params": {"fast": 3 + k % 7, "slow": 12 + k % 11}, "data": str(data_dir() / f"{REAL}.csv.gz")}
                  for k in range(n_markets)]
    config = work / f"latency-{n_markets}.yaml"
    config.write_text(json.dumps({"mode": "paper", "strategies": strategies, "paper": {"cash": 10_000_000},
                                  "replay": {"speed": 1},
                                  "store": {"url": f"sqlite:///{work}/latency-{n_markets}.sqlite"}}))
    settings = load_settings(config)
    engine, store = build_engine(settings)
    feed = engine.lanes[0].market.feed
    tick = [0.0]
    feed._clock = lambda: tick[0]  # one close time per step
    gateway = engine.oms.gateway
    create = gateway.create_order
    step_t0 = [0.0]
    signal_ms: list[float] = []
    candle_ms: list[float] = []

    def timed_create(order):
        signal_ms.append((time.perf_counter() - step_t0[0]) * 1000)
        return create(order)

    process = engine._process

    def timed_process(lane, candle):
        t = time.perf_counter()
        process(lane, candle)
        candle_ms.append((time.perf_counter() - t) * 1000)

    gateway.create_order = timed_create
    engine._process = timed_process
    try:
        for _ in range(steps):
            tick[0] += 1.0
            step_t0[0] = time.perf_counter()
            engine.step()
    finally:
        store.close()

    def pct(xs: list[float]) -> dict:
        a = np.asarray(xs)
        return {"n": int(a.size), "p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)),
                "max": float(a.max())} if a.size else {"n": 0}

    return {"markets": n_markets, "steps": steps, "signal_to_gateway_ms": pct(signal_ms),
            "candle_processing_ms": pct(candle_ms)}


def commit_floor(work: Path, commits: int = 200) -> dict:
    """p50/p99 ms of one tiny durable commit (WAL, synchronous=FULL), as the store commits."""
    import sqlite3

    con = sqlite3.connect(work / "floor.sqlite", isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    times = []
    for i in range(commits):
        t = time.perf_counter()
        con.execute("BEGIN")
        con.execute("INSERT INTO t VALUES (?)", (i,))
        con.execute("COMMIT")
        times.append((time.perf_counter() - t) * 1000)
    con.close()
    a = np.asarray(times)
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.live_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="candle close times per market count")
    parser.add_argument("--markets", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--out", default=str(HERE / "LATENCY.md"), help="markdown file, or - for none")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)  # as the daemon at its default level: warnings only reach the log
    rows = []
    with tempfile.TemporaryDirectory(prefix="quantd-latency-") as tmp:
        for n in args.markets:
            rows.append(measure(n, args.steps, Path(tmp)))
            rows[-1]["commit_floor_ms"] = commit_floor(Path(tmp))
            print(json.dumps(rows[-1]), file=sys.stderr)
    lines = ["| markets | orders | signal -> gateway p50 ms | p99 ms | max ms | candles | candle p50 ms | "
             "candle p99 ms | commit floor p50 ms |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        s, c = r["signal_to_gateway_ms"], r["candle_processing_ms"]
        lines.append(f"| {r['markets']} | {s['n']:,} | {s.get('p50', 0):.3f} | {s.get('p99', 0):.3f} | "
                     f"{s.get('max', 0):.3f} | {c['n']:,} | {c['p50']:.3f} | {c['p99']:.3f} | "
                     f"{r['commit_floor_ms']['p50']:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out != "-":
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
