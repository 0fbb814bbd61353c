"""``quantd health``: is the running daemon alive and trading on fresh data? Exit 0 or 1.

Read from the store by a separate process (a Docker ``HEALTHCHECK``, a monitoring probe), so it
works however the daemon is supervised. Every check is one :class:`Check`; the daemon is
unhealthy when any check with ``fails=True`` is not ok. Warnings (breaker halted, alerts piling
up) are reported but do not fail: a restart cannot fix them, an operator must.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass

from sqlalchemy import select

from bot.config import Settings
from bot.supervisor import HEARTBEAT_SECS
from engine.errors import QuantdError
from engine.store import open_store
from engine.store.base import MetaRow, Store
from engine.store.heartbeat import read_heartbeat
from engine.store.ledger import BreakerRow, CandleCursorRow
from engine.store.outbox import pending_count
from engine.timeframes import iso_utc, timeframe_to_ms

OUTBOX_WARN = 100
"""Undelivered alerts above this are a warning (Telegram down or rate-limited for long)."""


@dataclass(frozen=True)
class Check:
    """One line of the health report. ``ok`` False with ``fails`` True makes the daemon unhealthy."""

    name: str
    ok: bool
    detail: str
    fails: bool = True


def health_checks(settings: Settings, now_ms: int | None = None) -> list[Check]:
    """Every check against the store of ``settings`` (never raises: a problem is a failed check)."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    try:
        store = open_store(settings.store.url, create=False)
    except QuantdError as exc:
        return [Check("store", False, str(exc))]
    try:
        return _checks(settings, store, now)
    except Exception as exc:  # a locked or corrupt store is a failed check, not a traceback
        return [Check("store", False, f"cannot read the store: {type(exc).__name__}: {exc}")]
    finally:
        store.close()


def _checks(settings: Settings, store: Store, now: int) -> list[Check]:
    checks = []
    beat = read_heartbeat(store)
    if beat is None:
        return [Check("heartbeat", False, "no daemon has run on this store yet")]
    written_age, loop_age = (now - beat.written_ms) / 1000, (now - beat.heartbeat_ms) / 1000
    limit = settings.daemon.health_max_age_secs
    checks.append(Check("daemon", beat.state == "running",
                        beat.status if beat.status.startswith(beat.state) else f"{beat.state}: {beat.status}"))
    checks.append(Check("heartbeat", written_age <= limit,
                        f"written {written_age:.1f} s ago by pid {beat.pid} on {beat.host} (limit {limit:.0f} s)"))
    stall = settings.daemon.stall_secs + HEARTBEAT_SECS  # the row is rewritten every HEARTBEAT_SECS
    checks.append(Check("engine loop", loop_age <= stall and beat.state != "stalled",
                        f"last progress {loop_age:.1f} s ago (limit {stall:.0f} s)"))
    if beat.host == socket.gethostname():
        alive = _alive(beat.pid)
        checks.append(Check("process", alive, f"pid {beat.pid} {'alive' if alive else 'gone'}"))
    checks.append(Check("restarts", beat.restarts <= 2, f"{beat.restarts} unclean stop(s) in the 24 h before the "
                        "last start", fails=False))
    checks.extend(_freshness(settings, store, now))
    if settings.mode == "live":
        age = None if beat.last_reconcile_ms is None else (now - beat.last_reconcile_ms) / 1000
        allowed = 3 * settings.exchange.reconcile_secs
        checks.append(Check("reconciliation", age is not None and age <= allowed,
                            "never ran" if age is None else f"{age:.0f} s ago (limit {allowed:.0f} s)"))
    with store.read() as s:
        breaker = s.get(BreakerRow, 1)
    if breaker is not None:
        since = f" since {iso_utc(breaker.since_ms)}: {breaker.reason}" if breaker.since_ms else ""
        checks.append(Check("breaker", breaker.state == "running", f"{breaker.state}{since}", fails=False))
    depth = pending_count(store)
    checks.append(Check("alert outbox", depth <= OUTBOX_WARN, f"{depth} undelivered", fails=False))
    checks.append(_writable(store))
    return checks


def _freshness(settings: Settings, store: Store, now: int) -> list[Check]:
    with store.read() as s:
        cursors = {row.key: row.last_ts_ms for row in s.scalars(select(CandleCursorRow))}
    out = []
    for market in settings.markets():
        tf_ms = timeframe_to_ms(market.timeframe)
        last = next((ts for key, ts in cursors.items() if key.endswith(f"|{market.symbol}|{market.timeframe}")), None)
        name = f"data {market.symbol} {market.timeframe}"
        if last is None:
            out.append(Check(name, settings.mode == "paper", "no candle processed yet"))
        elif settings.mode == "paper":
            out.append(Check(name, True, f"replay at {iso_utc(last + tf_ms)} (historical data)", fails=False))
        else:
            age = (now - last - tf_ms) / 1000
            limit = settings.exchange.stale_after_candles * tf_ms / 1000 + tf_ms / 1000
            out.append(Check(name, age <= limit, f"last closed candle ended {age:.0f} s ago (limit {limit:.0f} s)"))
    return out


def _writable(store: Store) -> Check:
    try:
        with store.transaction() as s:
            row = s.get(MetaRow, "health_probe_ms") or MetaRow(key="health_probe_ms")
            row.value = str(int(time.time() * 1000))
            s.add(row)
        return Check("store writable", True, "a write transaction committed")
    except Exception as exc:
        return Check("store writable", False, f"{type(exc).__name__}: {exc}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def print_health(settings: Settings, as_json: bool = False) -> int:
    """Print the checks; returns 0 when healthy, else 1 (never 2: Docker reserves it)."""
    checks = health_checks(settings)
    healthy = all(c.ok or not c.fails for c in checks)
    if as_json:
        print(json.dumps({"healthy": healthy, "checks": [asdict(c) for c in checks]}))
    else:
        for c in checks:
            mark = "ok  " if c.ok else ("FAIL" if c.fails else "warn")
            print(f"{mark} {c.name:<18} {c.detail}")
        print("healthy" if healthy else "UNHEALTHY")
    return 0 if healthy else 1
