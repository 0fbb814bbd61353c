"""The bot's read-only views (``/status /positions /orders /balance /pnl /daily /trades /risk
/health /version``): every role may use them; the texts come from :mod:`bot.telegram.views`,
read from the store and, for live marks and risk figures, the running engine (the probe)."""

from __future__ import annotations

from importlib.metadata import version

from telegram import Update

from bot.telegram import views
from engine.store.outbox import pending_count
from engine.store.reports import daily_pnl, equity_change, fill_reports


class ViewCommands:
    """Mixin of :class:`bot.telegram.commands.BotCommands`: uses the host's ``reply``,
    ``_summary``, ``count_arg``, ``probe``, ``store`` and ``sender_state``."""

    async def cmd_status(self, update: Update, args: list[str]) -> None:
        await self.reply(update, views.status_text(self._summary(), self.probe.uptime_secs()), "Status", True)

    async def cmd_positions(self, update: Update, args: list[str]) -> None:
        await self.reply(update, views.positions_text(self._summary(), self.probe.marks()), "Positions", True)

    async def cmd_orders(self, update: Update, args: list[str]) -> None:
        await self.reply(update, views.orders_text(self._summary()), "Orders", True)

    async def cmd_balance(self, update: Update, args: list[str]) -> None:
        await self.reply(update, views.balance_text(self._summary()), "Balance", True)

    async def cmd_pnl(self, update: Update, args: list[str]) -> None:
        days = self.count_arg(args, "pnl", 1, 3650)
        summary = self._summary()
        text = views.pnl_text(summary, equity_change(self.store, days), days, fill_reports(self.store))
        await self.reply(update, text, "PnL", True)

    async def cmd_daily(self, update: Update, args: list[str]) -> None:
        n = self.count_arg(args, "daily", 7, 366)
        await self.reply(update, views.daily_text(daily_pnl(self.store, n), self._summary()["quote"]), "Daily", True)

    async def cmd_trades(self, update: Update, args: list[str]) -> None:
        n = self.count_arg(args, "trades", 10, 500)
        await self.reply(update, views.trades_text(fill_reports(self.store), n), "Trades", True)

    async def cmd_risk(self, update: Update, args: list[str]) -> None:
        await self.reply(update, views.risk_text(self.probe.risk_snapshot(), self._summary()["quote"]), "Risk", True)

    async def cmd_health(self, update: Update, args: list[str]) -> None:
        health = self.probe.health()
        error, conflict = self.sender_state()
        health["queue_depth"] = pending_count(self.store)
        health["telegram_error"] = conflict or error
        await self.reply(update, views.health_text(health), "Health", True)

    async def cmd_version(self, update: Update, args: list[str]) -> None:
        lines = [f"{dist} {version(dist)}" for dist in ("quantd", "python-telegram-bot", "ccxt", "SQLAlchemy",
                                                         "pandas")]
        await self.reply(update, "\n".join(lines), "Version", True)
