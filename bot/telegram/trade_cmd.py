"""The bot's manual trading commands (``/buy``, ``/sell``, ``/limit_sell``): admin only,
each confirmed with the button flow, then queued as an operator command that the engine
applies through the risk manager (:mod:`engine.manual`); the operator's id is stored in the
order's intent and the command's row."""

from __future__ import annotations

from telegram import Update

from engine.commands import Verb, command_text
from engine.manual import parse_trade

TRADE_COMMANDS = (
    ("buy", "<symbol> [quote_amount]", "buy at market (default: the configured stake), through the risk checks"),
    ("sell", "<symbol> [pct|all]", "sell pct of the position at market (default all)"),
    ("limit_sell", "<symbol> <price> [pct]", "sell pct of the position (default all) as a limit order"),
)
"""(name, arguments, help) of each trading command; all need the admin role and a confirmation."""


class TradeCommands:
    """Mixin of :class:`bot.telegram.commands.BotCommands`: uses the host's ``ask``,
    ``usage_error`` and ``traded_symbols``."""

    async def cmd_buy(self, update: Update, args: list[str]) -> None:
        await self._trade(update, Verb.BUY, args)

    async def cmd_sell(self, update: Update, args: list[str]) -> None:
        await self._trade(update, Verb.SELL, args)

    async def cmd_limit_sell(self, update: Update, args: list[str]) -> None:
        await self._trade(update, Verb.LIMIT_SELL, args)

    async def _trade(self, update: Update, verb: Verb, args: list[str]) -> None:
        try:
            symbol, amount, price = parse_trade(verb, " ".join(args))
        except ValueError as exc:
            raise self.usage_error(verb, str(exc)) from None
        traded = self.traded_symbols()
        if symbol not in traded:
            raise self.usage_error(verb, f"{symbol} is not traded here (symbols: {', '.join(traded)})")
        if verb is Verb.BUY:
            what = f"Buy {symbol} at market for {amount} quote" if amount else f"Buy {symbol} at market for the stake"
        else:
            share = "all" if amount is None else f"{amount * 100:g}%"
            what = f"Sell {share} of {symbol} " + (f"with a limit at {price}" if price else "at market")
        await self.ask(update, command_text(verb, " ".join(args)), f"{what}? (through the risk checks)")
