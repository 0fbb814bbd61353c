"""How the daemon uses Telegram: optional (no token: alerts are only logged), the token
checked before trading starts, the alert router on the engine's bus, the bot thread, and
the alerts the daemon raises itself (crash restart, daily summary, step failure)."""

from __future__ import annotations

import logging
from pathlib import Path

from bot.config import Settings
from bot.logs import recent_lines, redact
from bot.telegram.alerting import AlertPolicy, AlertRouter
from bot.telegram.probe import DaemonProbe
from bot.telegram.service import TelegramService, check_token
from bot.telegram.views import daily_text
from engine.errors import ConfigError
from engine.events import EventKind
from engine.live import LiveEngine, wall_ms
from engine.store.base import Store
from engine.store.reports import daily_pnl, events_after, unclean_run, unclean_stops
from engine.store.state import status_summary
from engine.timeframes import iso_utc
from vault import telegram_token

log = logging.getLogger("quantd.telegram")


class DaemonTelegram:
    """Telegram for one daemon run. Without a token every method is a no-op.

    Raises (constructor):
        ConfigError: Telegram refused the token, or the vault file is loose.
    """

    def __init__(self, settings: Settings, data_dir: Path | None = None):
        if settings.telegram.approve_entries and settings.telegram.token is None and \
                telegram_token(settings.vault.dir, None) is None:
            raise ConfigError("invalid setting telegram.approve_entries: it needs the Telegram bot (telegram.token)")
        recent_lines()  # the /logs buffer, before any secret is registered for redaction
        self.full_settings = settings
        self.settings = settings.telegram
        self.data_dir = data_dir
        token = telegram_token(settings.vault.dir, self.settings.token)
        self.token = token.get_secret_value() if token is not None else None
        self.router: AlertRouter | None = None
        self.policy: AlertPolicy | None = None
        self.service: TelegramService | None = None
        self.store: Store | None = None
        if self.token is not None:
            redact(self.token, "<telegram token>")
        if self.token is None:
            log.info("telegram: no token (telegram.token or vault/telegram.json): alerts are only logged")
            return
        if not (self.settings.admins or self.settings.chats):
            log.warning("telegram: no telegram.admins and no telegram.chats: nobody receives alerts or may command")
        check_token(self.token, self.settings.api_base_url)
        if self.settings.approve_entries and not self.settings.admins:
            raise ConfigError("invalid setting telegram.approve_entries: it needs telegram.admins to approve entries")

    @property
    def enabled(self) -> bool:
        """True with a token."""
        return self.token is not None

    def subscribers(self, store: Store) -> list:
        """Event-bus handlers for :func:`bot.app.build_engine`; also reports a restart after
        an unclean stop (before this run records its start)."""
        if not self.enabled:
            return []
        self.store = store
        self.policy = AlertPolicy(store, self.settings.alerts)
        self.router = AlertRouter(store, self.settings, self.policy)
        crashed = unclean_run(store)
        if crashed is not None:
            startup_id, crashed_run = crashed
            missed = self.router.catch_up(events_after(store, startup_id), crashed_run)
            if missed:
                log.warning("telegram: %d alert(s) of the interrupted run were never queued; queued now", missed)
            recent = unclean_stops(store, wall_ms() - 86_400_000)
            loop = f"; {recent} unclean stops in 24 h: a crash loop? see the logs" if recent > 2 else ""
            self.router.send("crash_restart", f"quantd restarted after an unclean stop (the run started at "
                                              f"{iso_utc(crashed_run)} never stopped cleanly); state recovered "
                                              f"from the store, reconciliation runs before any order{loop}")
        return [self.router, self._prompt]

    def _prompt(self, event) -> None:
        """Event-bus handler: an entry waiting for approval is put to every admin with buttons."""
        if event.kind == EventKind.ENTRY_AWAITING_APPROVAL and self.service is not None:
            self.service.prompt_entry(event)

    def start(self, engine: LiveEngine) -> None:
        """Start the bot thread (after the engine started)."""
        if not self.enabled or self.store is None:
            return
        self.service = TelegramService(self.token, self.settings, self.store, self.policy, self.router,
                                       DaemonProbe(engine), self.data_dir, self.full_settings)
        self.service.start()

    def reconfigure(self, settings: Settings) -> None:
        """A config reload: new roles, chats and configured alert modes (an operator's /alerts
        choices still win); the token and the transport stay."""
        self.full_settings, self.settings = settings, settings.telegram
        if self.policy is not None:
            self.policy.reconfigure(settings.telegram.alerts)
        if self.router is not None:
            self.router.settings = settings.telegram
        if self.service is not None:
            self.service.reconfigure(settings)

    def alert(self, kind: str, text: str) -> None:
        """Queue an alert the daemon raises itself (``error``, ...)."""
        if self.router is not None:
            self.router.send(kind, text)

    def daily_summary(self) -> None:
        """Queue the daily summary (scheduled job)."""
        if self.router is None:
            return
        summary = status_summary(self.store)
        if summary is None:
            return
        q = summary["quote"]
        text = (f"equity {float(summary['equity']):,.2f} {q}, pnl since start {float(summary['pnl']):+,.2f} {q}, "
                f"breaker {summary['breaker']['state']}, {len(summary['positions'])} position(s)\n"
                + daily_text(daily_pnl(self.store, 2), q))
        self.router.send("daily_summary", text)

    def stop(self) -> None:
        """Stop the bot (it delivers what is due first, for a few seconds at most)."""
        if self.service is not None:
            self.service.stop()
