"""A second alert channel: the same alerts to any number of apprise URLs (Discord, Slack,
ntfy, email, Pushover, generic JSON webhooks ...), so a Telegram outage or a blocked bot
still reaches the user.

It shares the outbox with Telegram (:mod:`engine.store.outbox`): the engine thread only
queues rows (channel ``apprise:<n>`` for the n-th URL of ``notify.channels``), and a sender
thread of its own delivers each channel's rows in id order. A failed delivery is retried with
exponential backoff (1 s doubling to ``notify.max_backoff_secs``) from the same row, so a
channel gets every alert once and in order, also across an outage and a restart (the rows
wait in the store). Each channel has its own type filter; the URLs are secrets (they carry
webhook tokens): never logged.
"""

from __future__ import annotations

import logging
import threading
import time

from bot.alerts import format_event
from bot.logs import redact
from bot.telegram.alerting import alert_type, title
from engine.events import Event
from engine.live import wall_ms
from engine.store.base import Store
from engine.store.outbox import OutboxMessage, due, enqueue, mark_sent
from engine.store.reports import unclean_run
from engine.timeframes import iso_utc

log = logging.getLogger("quantd.notify")

DRAIN_SECS = 5.0
"""How long a stopping daemon lets the channels deliver what is due."""


def channel_name(index: int) -> str:
    """The outbox channel of the ``index``-th URL of ``notify.channels``."""
    return f"apprise:{index}"


class AppriseChannels:
    """Event-bus handler and sender for ``notify.channels`` (a no-op without channels).

    Args:
        settings: the ``notify`` section (:class:`bot.config_sections.NotifySettings`).
    """

    def __init__(self, settings):
        self.settings = settings
        self.channels = list(settings.channels)
        self.store: Store | None = None
        self.delivered = [0] * len(self.channels)
        self.last_error = [""] * len(self.channels)
        self._targets: list = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._retry_at = [0.0] * len(self.channels)
        self._backoff = [0.0] * len(self.channels)
        if self.channels:
            import apprise

            logging.getLogger("apprise").setLevel(logging.CRITICAL)  # its messages name the URL's host and path
            for channel in self.channels:
                url = channel.url.get_secret_value()
                redact(url, "<notify url>")
                target = apprise.Apprise()
                target.add(url)
                self._targets.append(target)

    @property
    def enabled(self) -> bool:
        """True with at least one channel."""
        return bool(self.channels)

    def subscribers(self, store: Store) -> list:
        """Event-bus handlers for :func:`bot.app.build_engine` (before the engine starts);
        reports a restart after an unclean stop, as Telegram does."""
        if not self.enabled:
            return []
        self.store = store
        crashed = unclean_run(store)
        if crashed is not None:
            self.send("crash_restart", f"quantd restarted after an unclean stop (the run started at "
                                       f"{iso_utc(crashed[1])} never stopped cleanly); state recovered from the store")
        return [self]

    def __call__(self, event: Event) -> None:
        kind, text = alert_type(event), format_event(event)
        if kind is not None and text is not None:
            self.send(kind, text)

    def send(self, kind: str, text: str) -> None:
        """Queue an alert of type ``kind`` for every channel whose filter takes it."""
        if self.store is None:
            return
        window_ms = int(self.settings.dedupe_secs * 1000)
        for i, channel in enumerate(self.channels):
            if not channel.types or kind in channel.types:
                enqueue(self.store, kind, text, [(0, None)], False, wall_ms(), window_ms, channel=channel_name(i))

    def start(self) -> None:
        """Start the sender thread."""
        if not self.enabled or self.store is None:
            return
        self._thread = threading.Thread(target=self._run, name="notify-sender", daemon=True)
        self._thread.start()

    def stop(self, drain_secs: float = DRAIN_SECS) -> None:
        """Deliver what is due for up to ``drain_secs``, then stop the sender."""
        if self._thread is None:
            return
        end = time.monotonic() + drain_secs
        while time.monotonic() < end and any(due(self.store, wall_ms(), 1, channel_name(i))
                                             for i in range(len(self.channels))):
            time.sleep(0.1)
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for i in range(len(self.channels)):
                    self.deliver_due(i)
            except Exception:  # the sender must outlive any surprise; trading does not depend on it
                log.exception("notify: alert delivery failed unexpectedly; retrying")
            self._stop.wait(0.2)

    def deliver_due(self, index: int) -> int:
        """Send channel ``index``'s due rows in order, stopping at the first failure (retried
        after the backoff); returns how many went out."""
        if time.monotonic() < self._retry_at[index]:
            return 0
        sent = 0
        for msg in due(self.store, wall_ms(), 50, channel_name(index)):
            if not self._notify(index, msg):
                self._backoff[index] = min(self.settings.max_backoff_secs, max(1.0, self._backoff[index] * 2))
                self._retry_at[index] = time.monotonic() + self._backoff[index]
                log.warning("notify: channel %d (%s) did not take alert %d; it stays queued, next try in %.0fs",
                            index, self.channels[index].name or "unnamed", msg.id, self._backoff[index])
                self.last_error[index] = "delivery failed"
                return sent
            mark_sent(self.store, msg.id, wall_ms())
            self._backoff[index], self.last_error[index] = 0.0, ""
            self.delivered[index] += 1
            sent += 1
        return sent

    def _notify(self, index: int, msg: OutboxMessage) -> bool:
        heading = title(msg.kind) + (f" (x{msg.count})" if msg.count > 1 else "")
        try:
            return bool(self._targets[index].notify(body=msg.text, title=f"quantd: {heading}"))
        except Exception as exc:  # a plugin's own error: retried like a refusal
            log.warning("notify: channel %d raised %s", index, type(exc).__name__)
            return False
