"""Tells the service manager and ``quantd health`` the truth about the engine loop.

The daemon's main thread calls :meth:`LoopSupervisor.tick` a few times a second. The engine
loop runs in a scheduler thread and stamps ``engine.heartbeat_s`` whenever it makes progress.
While that stamp is younger than ``stall_secs`` the loop is healthy: the supervisor sends
``WATCHDOG=1`` (at a third of systemd's ``WatchdogSec``) with a ``STATUS=`` line. When the loop
hangs the pings stop, so systemd kills and restarts the daemon, and the heartbeat row says
``stalled`` so a Docker ``HEALTHCHECK`` fails too.
"""

from __future__ import annotations

import logging
import os
import socket
import time

from bot.sdnotify import Notifier
from engine.store.base import Store
from engine.store.heartbeat import Heartbeat, write_heartbeat

log = logging.getLogger("quantd.supervisor")

HEARTBEAT_SECS = 5.0
"""How often the heartbeat row is rewritten (``quantd health`` allows a few misses)."""


class LoopSupervisor:
    """Watchdog pings, status lines and the heartbeat row for one daemon run.

    Args:
        engine: the running engine (``heartbeat_s``, ``heartbeat_ms``, ``status_line()``,
            ``last_reconciliation``).
        store: where the heartbeat row is written.
        notifier: the systemd notifier (a no-op outside systemd).
        stall_secs: the loop is stalled when it made no progress for this long.
        restarts: unclean stops before this start (recorded in the heartbeat row).
        pinger: the dead-man's switch (``monitoring.heartbeat_url``), requested while healthy.
    """

    def __init__(self, engine, store: Store, notifier: Notifier, stall_secs: float, restarts: int = 0,
                 started_ms: int | None = None, pinger=None):
        self.pinger = pinger
        """A :class:`bot.deadman.HeartbeatPinger` told of each tick's health (None: no monitor)."""
        self.engine = engine
        self.store = store
        self.notifier = notifier
        self.stall_secs = stall_secs
        self.restarts = restarts
        self.started_ms = started_ms or int(time.time() * 1000)
        wd = notifier.watchdog_secs
        self.ping_secs = None if wd is None else max(wd / 3, 0.05)
        self._last_ping = float("-inf")
        self._last_row = float("-inf")
        self._stalled = False
        self._row_failed = False
        self.state = "starting"
        self._last_status = "starting"

    def healthy(self) -> bool:
        """True while the engine loop made progress within ``stall_secs``."""
        return time.monotonic() - self.engine.heartbeat_s <= self.stall_secs

    def ready(self) -> None:
        """Start-up is done (the engine reconciled and warmed up): ``READY=1``."""
        self.state = "running"
        line = self._status()
        self.notifier.notify(READY="1", STATUS=line, MAINPID=str(os.getpid()))
        self._last_ping = time.monotonic()
        self._write(line, force=True)
        log.info("ready: %s", line)

    def tick(self) -> None:
        """Ping the watchdog if the loop is healthy and a ping is due; rewrite the heartbeat row
        when due; log a stall once when it begins and once when it ends. Never raises: a
        supervision bug must not stop trading (the pings would stop, and systemd restarts)."""
        try:
            self._tick()
        except Exception:
            log.exception("supervisor tick failed")

    def _status(self) -> str:
        """The engine's status line; read from another thread, so a concurrent change can make
        it fail: then the last good line."""
        try:
            self._last_status = self.engine.status_line()
        except Exception:  # e.g. "dictionary changed size during iteration" while a step books a fill
            pass
        return self._last_status

    def _tick(self) -> None:
        now = time.monotonic()
        healthy = self.healthy()
        if healthy and self._stalled:
            self._stalled, self.state = False, "running"
            log.warning("engine loop is making progress again: watchdog pings resume")
        elif not healthy and not self._stalled:
            self._stalled, self.state = True, "stalled"
            age = now - self.engine.heartbeat_s
            log.error("engine loop stalled: no progress for %.0f s (limit %.0f s); watchdog pings stop so the "
                      "supervisor restarts the daemon", age, self.stall_secs)
            self.notifier.notify(STATUS=f"stalled: engine loop made no progress for {age:.0f} s")
            self._write(f"stalled: no progress for {age:.0f} s", force=True)
        if self.pinger is not None:
            self.pinger.tick(healthy)  # the dead-man's switch outside the box: same condition as the watchdog
        if healthy and self.ping_secs is not None and now - self._last_ping >= self.ping_secs:
            self._last_ping = now
            self.notifier.notify(WATCHDOG="1", STATUS=self._status())
        if now - self._last_row >= HEARTBEAT_SECS:
            self._write(self._status() if healthy else "stalled")

    def stopping(self, reason: str) -> None:
        """Shutdown has begun: ``STOPPING=1``."""
        self.state = "stopping"
        self.notifier.notify(STOPPING="1", STATUS=f"stopping: {reason}")
        self._write(f"stopping: {reason}", force=True)

    def stopped(self, reason: str) -> None:
        """The engine recorded its stop: last heartbeat row."""
        self.state = "stopped"
        self._write(f"stopped: {reason}", force=True)
        self.notifier.close()

    def _write(self, status: str, force: bool = False) -> None:
        self._last_row = time.monotonic()
        last = getattr(self.engine, "last_reconciliation", None)
        beat = Heartbeat(os.getpid(), socket.gethostname(), self.started_ms, self.engine.heartbeat_ms or self.started_ms,
                         int(time.time() * 1000), last[0] if last else None, self.restarts, self.state, status)
        try:
            write_heartbeat(self.store, beat)
            self._row_failed = False
        except Exception as exc:  # a locked or full disk must not stop the watchdog logic
            if force or not self._row_failed:
                log.warning("cannot write the heartbeat row: %s", exc)
            self._row_failed = True
