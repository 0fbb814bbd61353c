"""The bot's operating commands (``/logs``, ``/config``, ``/reload``): admin only; the views
are read-only and ``/reload`` is confirmed, then applied by the engine (:mod:`bot.reload`). Log lines come
from the daemon's in-memory buffer (:class:`bot.logs.RecentLines`), already stripped of
every secret :func:`bot.logs.redact` knows; settings show secrets masked and their source."""

from __future__ import annotations

import logging

from telegram import Update

from bot.config_view import config_text
from bot.logs import recent_lines
from engine.commands import Verb, command_text
from engine.timeframes import iso_utc

OPS_COMMANDS = (
    ("logs", "[n] [debug|info|warning|error]", "the last log lines (default 20, info and above), secrets redacted"),
    ("config", "[section]", "the effective settings, secrets masked, with their source (cli, env, file, default)"),
    ("reload", "", "reread the config; apply safe changes (risk, stake, roles, alert modes), refuse the others"),
)
"""(name, arguments, help) of each operating view; both need the admin role."""

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
MAX_LINE = 400
"""Longest log line shown (characters); a longer one is cut with an ellipsis."""


class OpsCommands:
    """Mixin of :class:`bot.telegram.commands.BotCommands`: uses the host's ``reply``,
    ``usage_error`` and ``daemon_settings``."""

    async def cmd_logs(self, update: Update, args: list[str]) -> None:
        n, level = 20, logging.INFO
        for arg in args:
            if arg.isdigit() and 1 <= int(arg) <= 200:
                n = int(arg)
            elif arg.lower() in LEVELS:
                level = LEVELS[arg.lower()]
            else:
                raise self.usage_error("logs", "n from 1 to 200 and a level: debug, info, warning or error")
        lines = [line if len(line) <= MAX_LINE else line[:MAX_LINE] + "..." for line in recent_lines().last(n, level)]
        await self.reply(update, "\n".join(lines) or "no log line at that level yet", "Logs", True)

    async def cmd_locks(self, update: Update, args: list[str]) -> None:
        if args:
            raise self.usage_error("locks", "no arguments")
        locks = self.probe.locks()
        text = "\n".join(f"{lock.symbol} until {iso_utc(lock.until_ms)[:16]} ({lock.rule}): {lock.reason}"
                         for lock in locks) or "no pair is locked"
        await self.reply(update, text, "Locks", True)

    async def cmd_unlock(self, update: Update, args: list[str]) -> None:
        if len(args) != 1:
            raise self.usage_error("unlock", "name a locked symbol (see /locks) or all")
        target = args[0].upper() if args[0].lower() != "all" else "all"
        locked = [lock.symbol for lock in self.probe.locks()]
        if not locked or (target != "all" and target not in locked):
            await self.reply(update, f"nothing to unlock: {'no pair is locked' if not locked else target + ' is not locked'}")
            return
        await self.ask(update, command_text(Verb.UNLOCK, target), f"End the lock of {', '.join(locked) if target == 'all' else target} "
                                                   "now? New entries are allowed at once")

    async def cmd_reload(self, update: Update, args: list[str]) -> None:
        if args:
            raise self.usage_error("reload", "no arguments")
        await self.ask(update, Verb.RELOAD, "Reload the config from its file and the environment? Risk limits, "
                                         "stakes, roles and alert modes change at once; anything else is refused")

    async def cmd_config(self, update: Update, args: list[str]) -> None:
        if len(args) > 1:
            raise self.usage_error("config", "at most one section, such as risk or telegram")
        if self.daemon_settings is None:
            await self.reply(update, "the daemon's settings are not available here")
            return
        await self.reply(update, config_text(self.daemon_settings, args[0] if args else None), "Config", True)
