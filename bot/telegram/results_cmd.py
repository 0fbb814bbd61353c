"""The bot's result commands (``/stats``, ``/performance``, ``/profit``, ``/weekly``,
``/monthly``): read-only, from the store, each one phone screen (texts in
:mod:`bot.results_text`, shared with ``quantd report``)."""

from __future__ import annotations

from telegram import Update

from bot import results_text

RESULT_COMMANDS = (
    ("stats", "", "closed trades by exit reason and entry signal: win rate, PnL, holding time"),
    ("performance", "", "closed trades per symbol"),
    ("profit", "", "realised and unrealised PnL, fees, best and worst trade, ROI"),
    ("weekly", "[n]", "equity and change per week (default 8)"),
    ("monthly", "[n]", "equity and change per month (default 6)"),
)
"""(name, arguments, help) of each result command; all are read-only (any role)."""


class ResultCommands:
    """Mixin of :class:`bot.telegram.commands.BotCommands`: the result handlers. Uses the
    host's ``store``, ``reply``, ``no_args`` and ``count_arg``."""

    async def cmd_stats(self, update: Update, args: list[str]) -> None:
        self.no_args("stats", args)
        await self.reply(update, results_text.stats_text(self.store), "Stats", True)

    async def cmd_performance(self, update: Update, args: list[str]) -> None:
        self.no_args("performance", args)
        await self.reply(update, results_text.performance_text(self.store), "Performance", True)

    async def cmd_profit(self, update: Update, args: list[str]) -> None:
        self.no_args("profit", args)
        await self.reply(update, results_text.profit_text(self.store), "Profit", True)

    async def cmd_weekly(self, update: Update, args: list[str]) -> None:
        n = self.count_arg(args, "weekly", 8, 520)
        await self.reply(update, results_text.period_text(self.store, "week", n), "Weekly", True)

    async def cmd_monthly(self, update: Update, args: list[str]) -> None:
        n = self.count_arg(args, "monthly", 6, 240)
        await self.reply(update, results_text.period_text(self.store, "month", n), "Monthly", True)
