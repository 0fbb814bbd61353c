"""A dead-man's switch outside the box: a push URL requested only while the engine loop lives.

systemd's watchdog restarts a hung daemon, but nothing on the VPS can report that the VPS
itself, its network or its power is gone. A push monitor can: Healthchecks.io, Uptime Kuma
("push" monitors) and Better Stack ("heartbeats") each give a URL and alert the user when it
is not requested for a grace period. quantd requests ``monitoring.heartbeat_url`` every
``heartbeat_secs`` under the same condition as the systemd watchdog ping (the engine loop
made progress within ``daemon.stall_secs``), so a hung loop, a dead process, a dead machine
and a cut network all look the same from outside: silence.

Requests run in a thread of their own, one at a time, so a slow monitor never delays the
supervisor; failures are logged once until the next success, and never stop trading.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request

from engine import __version__

log = logging.getLogger("quantd.heartbeat")

DEFAULT_TIMEOUT_SECS = 10.0
"""How long one heartbeat request may take before it counts as failed."""


class HeartbeatPinger:
    """Requests a push-monitor URL at most every ``every_secs`` while the loop is healthy.

    Args:
        url: the monitor's push URL (http or https); a secret: never logged.
        every_secs: seconds between requests while healthy.
        timeout_secs: timeout of one request.

    Attributes:
        sent: requests that got a 2xx answer.
        last_ok_s: monotonic time of the last 2xx answer, None before any.
        last_error: why the last request failed ('' after a success).
    """

    def __init__(self, url: str, every_secs: float, timeout_secs: float = DEFAULT_TIMEOUT_SECS):
        self.url = url
        self.every_secs = every_secs
        self.timeout_secs = timeout_secs
        self.sent = 0
        self.last_ok_s: float | None = None
        self.last_error = ""
        self._last_start = float("-inf")
        self._busy = threading.Lock()
        self._failing = False

    def tick(self, healthy: bool) -> None:
        """Start a request in the background when the loop is healthy and one is due (and
        none is in flight). Never blocks, never raises."""
        now = time.monotonic()
        if not healthy or now - self._last_start < self.every_secs or self._busy.locked():
            return
        self._last_start = now
        threading.Thread(target=self._background, name="heartbeat-ping", daemon=True).start()

    def _background(self) -> None:
        with self._busy:
            ok, detail = self.ping_once()
        if ok:
            if self._failing:
                log.warning("heartbeat monitor reachable again")
            self._failing = False
        elif not self._failing:
            self._failing = True
            log.warning("heartbeat monitor request failed: %s (trading goes on; the monitor will alert if this "
                        "lasts past its grace period)", detail)

    def ping_once(self) -> tuple[bool, str]:
        """Request the URL now; returns (2xx answered, what happened in words)."""
        request = urllib.request.Request(self.url, headers={"User-Agent": f"quantd/{__version__}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_secs) as answer:  # noqa: S310 (http/https only)
                status = answer.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            self.last_error = f"{type(exc).__name__}: {reason}"
            return False, self.last_error
        if 200 <= status < 300:
            self.sent += 1
            self.last_ok_s, self.last_error = time.monotonic(), ""
            return True, f"HTTP {status}"
        self.last_error = f"HTTP {status}"
        return False, self.last_error
