"""The Telegram bot's lifecycle: a thread with its own asyncio loop running
python-telegram-bot (long polling, or a webhook server when ``telegram.webhook_url`` is set)
and the outbox sender, beside the trading engine.

Nothing here is on the engine's path: the engine writes alerts to the store and reads
operator commands from it; if Telegram is slow, down, or this thread dies, trading goes on
and alerts wait in the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from urllib.parse import urlparse

from telegram import Bot, BotCommand, Update
from telegram.error import Conflict, InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from bot.config_sections import TelegramSettings
from bot.telegram.alerting import AlertPolicy, AlertRouter
from bot.telegram.auth import Access
from bot.telegram.commands import COMMANDS, BotCommands
from bot.telegram.probe import DaemonProbe
from bot.telegram.sender import OutboxSender
from engine.errors import ConfigError
from engine.store.base import Store

log = logging.getLogger("quantd.telegram")


def check_token(token: str, base_url: str, timeout_secs: float = 10.0) -> str | None:
    """Ask Telegram who the bot is (``getMe``) before trading starts.

    Returns:
        The bot's username, or None when Telegram could not be reached (trading starts
        anyway; alerts wait in the outbox).

    Raises:
        ConfigError: Telegram refused the token.
    """
    async def who() -> str:
        async with Bot(token, base_url=base_url) as bot:  # initialize() calls getMe
            return bot.username

    try:
        return asyncio.run(asyncio.wait_for(who(), timeout_secs))
    except InvalidToken:  # its message quotes the token: never repeat it
        raise ConfigError("invalid setting telegram.token (QUANTD_TELEGRAM__TOKEN): Telegram refused it "
                          "(Unauthorized); copy the token BotFather gave you") from None
    except (NetworkError, TimeoutError, OSError) as exc:
        log.warning("telegram: cannot reach %s at start-up (%s); trading starts, alerts are queued", base_url, exc)
        return None


class TelegramService:
    """Runs the bot in a background thread.

    Args:
        token: the bot token.
        settings: the ``telegram`` section.
        store: the daemon's store.
        policy, router: alert modes and the outbox writer the engine also uses.
        probe: read-only engine facts.
        data_dir: OHLCV folder for /backtest (None: bundled samples).
    """

    def __init__(self, token: str, settings: TelegramSettings, store: Store, policy: AlertPolicy,
                 router: AlertRouter, probe: DaemonProbe, data_dir: Path | None = None, daemon_settings=None):
        self.token, self.settings, self.store = token, settings, store
        self.conflict = ""
        self.sender: OutboxSender | None = None
        self.commands = BotCommands(settings, store, Access(settings), policy, router, probe, self._sender_state,
                                    data_dir, daemon_settings)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._app = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()

    def reconfigure(self, settings) -> None:
        """New roles and chats for the commands (a config reload)."""
        self.settings = settings.telegram
        self.commands.settings = settings.telegram
        self.commands.access.settings = settings.telegram
        self.commands.daemon_settings = settings

    def prompt_entry(self, event) -> None:
        """Ask every admin to approve a held entry (from the engine thread; sent on the bot's loop)."""
        if self._loop is None or self._app is None:
            log.warning("telegram: entry %s waits for approval but the bot is not running: it will be skipped",
                        event.entry_id)
            return
        asyncio.run_coroutine_threadsafe(self.commands.prompt_entry(self._app.bot, event), self._loop)

    def _sender_state(self) -> tuple[str, str]:
        return (self.sender.last_error if self.sender else ""), self.conflict

    def start(self, wait_secs: float = 3.0) -> None:
        """Start the bot thread; waits ``wait_secs`` at most for it to poll (an unreachable
        Telegram must not delay trading)."""
        self._thread = threading.Thread(target=self._main, name="telegram", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=wait_secs)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling and the sender; waits for the thread."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except Exception:  # the bot must never take the daemon down
            log.exception("telegram: the bot stopped; trading goes on, alerts stay queued in the store")
        finally:
            self._ready.set()

    async def _run(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        app = (Application.builder().token(self.token).base_url(self.settings.api_base_url)
               .concurrent_updates(True).build())
        self._app = app
        cmds = self.commands
        app.add_handler(MessageHandler(filters.COMMAND, cmds.handle))
        app.add_handler(CallbackQueryHandler(cmds.on_button))
        app.add_error_handler(self._on_error)
        wait = 1.0
        while not self._stop.is_set():  # Telegram unreachable at start: keep trying, backing off
            try:
                await app.initialize()
                break
            except (NetworkError, TimeoutError) as exc:
                log.warning("telegram: not reachable (%s); retrying in %.0fs", exc, wait)
                try:
                    await asyncio.wait_for(self._stop.wait(), wait)
                except TimeoutError:
                    wait = min(wait * 2, 60.0)
        if self._stop.is_set():
            return
        try:
            await app.bot.set_my_commands([BotCommand(c.name, c.help[:256]) for c in COMMANDS])
        except TelegramError as exc:
            log.warning("telegram: could not publish the command list: %s", exc)
        await app.start()
        allowed = [Update.MESSAGE, Update.CALLBACK_QUERY]
        if self.settings.webhook_url:
            secret = self.settings.webhook_secret
            await app.updater.start_webhook(
                listen=self.settings.webhook_listen, port=self.settings.webhook_port,
                url_path=urlparse(self.settings.webhook_url).path.lstrip("/"), webhook_url=self.settings.webhook_url,
                secret_token=secret.get_secret_value() if secret else None, allowed_updates=allowed)
            mode = f"webhook {self.settings.webhook_url} (listening on {self.settings.webhook_listen}:" \
                   f"{self.settings.webhook_port})"
        else:
            await app.updater.start_polling(allowed_updates=allowed, error_callback=self._on_polling_error,
                                            timeout=10)
            mode = "polling"
        self.sender = OutboxSender(app.bot, self.store, self.settings.max_per_chat_per_sec, self.settings.max_per_sec)
        sender = asyncio.create_task(self.sender.run(self._stop))
        log.info("telegram: bot @%s %s; %d admin(s), %d viewer(s), %d group chat(s)", app.bot.username, mode,
                 len(self.settings.admins), len(self.settings.viewers), len(self.settings.chats))
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await sender
            try:  # the shutdown alert was queued just before: one last round, briefly
                await asyncio.wait_for(self.sender.deliver_due(), 5)
            except (TimeoutError, TelegramError) as exc:
                log.warning("telegram: alerts left queued at stop (%s); they go out at the next start", exc)
            await app.updater.stop()
            await app.stop()
            await app.shutdown()

    def _on_polling_error(self, exc: TelegramError) -> None:
        if isinstance(exc, Conflict):
            self.conflict = ("Conflict: another process is polling this bot token (a second quantd, or a webhook); "
                             "only one may")
            log.error("telegram: %s: %s", self.conflict, exc)
        else:
            log.warning("telegram: polling error: %s", exc)

    async def _on_error(self, update: object, context) -> None:
        log.error("telegram: handler failed: %s", context.error, exc_info=context.error)
