"""From engine events to queued alerts: which type an event is, whether the operator wants
it (on, silent, off), and who receives it. Runs on the engine's thread as an event-bus
handler and only writes to the store's outbox, so it never waits for Telegram."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter

from bot.alerts import format_event
from bot.config_sections import ALERT_DEFAULTS, ALERT_TYPES, TelegramSettings
from engine.events import Event, EventKind
from engine.live import wall_ms
from engine.risk.base import RuleName
from engine.store.base import MetaRow, Store
from engine.store.outbox import enqueue, queued_since

log = logging.getLogger("quantd.telegram")

_META_KEY = "telegram.alert_modes"

_TYPE_OF_KIND = {
    EventKind.FILL: "fill", EventKind.REJECTION: "rejection", EventKind.STALE_DATA: "stale_data",
    EventKind.STALE_DATA_RECOVERED: "stale_data_recovered", EventKind.BREAKER_TRIPPED: "breaker_tripped",
    EventKind.BREAKER_CHANGED: "breaker_tripped", EventKind.RECONCILIATION_DRIFT: "reconciliation_drift",
    EventKind.EXTERNAL_ORDER: "external_order", EventKind.STARTUP: "startup", EventKind.SHUTDOWN: "shutdown",
    EventKind.UNPROTECTED_POSITION: "error", EventKind.BACKFILL: "backfill",
    EventKind.LIQUIDATION_WARNING: "liquidation_warning", EventKind.FUNDING: "funding",
}
"""Event kind -> alert type (:data:`bot.config_sections.ALERT_TYPES`); a kind not here is not an alert."""

_TITLES = {"fill": "Fill", "rejection": "Rejected", "stale_data": "Stale data", "stale_data_recovered": "Data back",
           "breaker_tripped": "Circuit breaker", "reconciliation_drift": "Reconciliation",
           "external_order": "External order", "startup": "Started", "shutdown": "Stopped",
           "crash_restart": "Restarted after a crash", "daily_summary": "Daily summary", "error": "Error",
           "backfill": "Backfill after downtime", "liquidation_warning": "Liquidation near",
           "funding": "Funding"}


def alert_type(event: Event) -> str | None:
    """The alert type of an event (see :data:`bot.config_sections.ALERT_TYPES`), None when it is not
    an alert. A risk rejection is a ``rejection`` unless it is the signal sanity filter
    (repeated signals are routine)."""
    if event.kind == EventKind.RISK_DECISION:
        p = event.payload()
        return "rejection" if p["action"] == "reject" and p["rule"] != RuleName.SIGNAL_SANITY else None
    return _TYPE_OF_KIND.get(event.kind)


def title(kind: str) -> str:
    """Short heading of an alert type."""
    return _TITLES.get(kind, kind)


class AlertPolicy:
    """Per-type mode (on, silent, off): configured defaults, overridden by ``/alerts`` and
    persisted in the store's ``meta`` so they survive a restart. Thread-safe (the bot thread
    writes, the engine thread reads)."""

    def __init__(self, store: Store, configured: dict[str, str]):
        self.store = store
        self._lock = threading.Lock()
        self._modes = dict(ALERT_DEFAULTS) | dict(configured)
        with store.read() as s:
            row = s.get(MetaRow, _META_KEY)
            if row is not None:
                self._modes.update({k: v for k, v in json.loads(row.value).items() if k in ALERT_TYPES})

    def reconfigure(self, configured: dict[str, str]) -> None:
        """New configured modes (a config reload); the choices made with /alerts, kept in the
        store, still win over them."""
        with self.store.read() as s:
            row = s.get(MetaRow, _META_KEY)
        chosen = json.loads(row.value) if row is not None else {}
        with self._lock:
            self._modes = dict(ALERT_DEFAULTS) | dict(configured) | \
                {k: v for k, v in chosen.items() if k in ALERT_TYPES}

    def mode(self, kind: str) -> str:
        """``on``, ``silent`` or ``off`` for an alert type."""
        with self._lock:
            return self._modes.get(kind, "on")

    def modes(self) -> dict[str, str]:
        """Every type's mode."""
        with self._lock:
            return dict(self._modes)

    def set(self, mode: str, kind: str | None = None) -> None:
        """Set one type's mode, or every type's when ``kind`` is None; persisted.

        Raises:
            ValueError: an unknown mode or type.
        """
        if mode not in ("on", "silent", "off"):
            raise ValueError(f"unknown mode {mode!r}: use on, silent or off")
        if kind is not None and kind not in ALERT_TYPES:
            raise ValueError(f"unknown alert type {kind!r}: one of {', '.join(ALERT_TYPES)}")
        kinds = [kind] if kind else list(ALERT_TYPES)
        with self._lock:
            for k in kinds:
                self._modes[k] = mode
        with self.store.transaction() as s:  # only the operator's choices: a reload's configured modes stay below them
            row = s.get(MetaRow, _META_KEY)
            chosen = json.loads(row.value) if row is not None else {}
            chosen.update({k: mode for k in kinds})
            s.merge(MetaRow(key=_META_KEY, value=json.dumps(chosen)))


class AlertRouter:
    """Event-bus handler: queue each wanted alert in the outbox for every recipient chat.

    Args:
        store: where the outbox lives.
        settings: the ``telegram`` section (recipients, dedupe window).
        policy: the per-type modes.
    """

    def __init__(self, store: Store, settings: TelegramSettings, policy: AlertPolicy):
        self.store, self.settings, self.policy = store, settings, policy

    def recipients(self) -> list[tuple[int, int | None]]:
        """Admins' private chats, then the configured group chats (with the alert topic)."""
        chats: list[tuple[int, int | None]] = [(a, None) for a in self.settings.admins]
        chats += [(c, self.settings.alert_thread_id) for c in self.settings.chats]
        return list(dict.fromkeys(chats))

    def __call__(self, event: Event) -> None:
        kind = alert_type(event)
        text = format_event(event)
        if kind is None or text is None:
            return
        self.send(kind, text)  # wall clock: a replayed event's time is the candle's, not now

    def catch_up(self, events: list, since_ms: int) -> int:
        """Queue the alerts of ``events`` (stored events of an interrupted run) that never
        reached the outbox: a crash between an event's commit and its queueing loses no alert.
        ``since_ms``: when that run started (its queued rows are compared). Returns how many
        were queued now."""
        wanted = Counter()
        for event in events:
            kind, text = alert_type(event), format_event(event)
            if kind is not None and text is not None and self.policy.mode(kind) != "off":
                wanted[(kind, text)] += 1
        per_chat = Counter(queued_since(self.store, since_ms))
        have = Counter()
        for (kind, text, _chat), n in per_chat.items():
            have[(kind, text)] = max(have[(kind, text)], n)
        missing = 0
        for (kind, text), n in wanted.items():
            for _ in range(n - have[(kind, text)]):
                self.send(kind, text)
                missing += 1
        return missing

    def send(self, kind: str, text: str, now_ms: int | None = None, dedupe_key: str | None = None) -> None:
        """Queue an alert of type ``kind`` unless the operator turned it off."""
        mode = self.policy.mode(kind)
        if mode == "off":
            return
        enqueue(self.store, kind, text, self.recipients(), mode == "silent", now_ms or wall_ms(),
                int(self.settings.dedupe_secs * 1000), dedupe_key)
