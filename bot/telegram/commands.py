"""The bot's commands: who may use each, the reply, and the usage text on bad arguments.

State changes (pause, resume, flatten, cancel) are queued as operator commands in the
store, exactly like ``quantd pause``; the engine applies them on its own thread at its next
step and stores the result, which the handler waits for (a few seconds) and replies.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.config_sections import ALERT_TYPES, TelegramSettings
from bot.telegram.alerting import AlertPolicy, AlertRouter
from bot.telegram.auth import ADMIN, Access
from bot.telegram.backtest_cmd import BacktestCommands
from bot.telegram.backtest_job import UsageError
from bot.telegram.confirm import ABORT, CONFIRM, Confirmations
from bot.telegram.ops_cmd import OPS_COMMANDS, OpsCommands
from bot.telegram.probe import DaemonProbe
from bot.telegram.reconcile_cmd import RECONCILE_COMMAND, ReconcileCommands
from bot.telegram.replies import quiet_edit, retrying
from bot.telegram.results_cmd import RESULT_COMMANDS, ResultCommands
from bot.telegram.text import MAX_CHARS, esc, split_text, to_html
from bot.telegram.trade_cmd import TRADE_COMMANDS, TradeCommands
from bot.telegram.views_cmd import ViewCommands
from engine.commands import Verb, command_text, parse_command
from engine.live import wall_ms
from engine.store.base import Store
from engine.store.journal import queue_command
from engine.store.ledger import OperatorCommandRow
from engine.store.state import status_summary
from engine.timeframes import iso_utc

log = logging.getLogger("quantd.telegram")


@dataclass(frozen=True)
class Command:
    """A command: its name, who may use it, its argument synopsis and one line of help."""

    name: str
    admin: bool
    args: str
    help: str
    group: str = "Now"


GROUPS = ("Now", "Results", "Operate (admin)", "Research", "Settings")
"""The headings of /help, in order."""

COMMANDS = [
    Command("start", False, "", "greeting, your role and the command keyboard", "Settings"),
    Command("help", False, "", "this list", "Settings"),
    Command("status", False, "", "mode, breaker, uptime, last candle per market, positions"),
    Command("positions", False, "", "open positions with value and unrealized PnL"),
    Command("orders", False, "", "working orders and their client order ids"),
    Command("balance", False, "", "cash, equity, holdings"),
    Command("risk", False, "", "limits, utilisation, circuit breaker"),
    Command("health", False, "", "process, data freshness, reconciliation, exchange, alert queue"),
    Command("locks", False, "", "pairs locked for new entries (cooldown, stop-loss guard, low profit) and until when"),
    Command("pnl", False, "[days]", "PnL since start and over the last days (default 1)", "Results"),
    Command("daily", False, "[n]", "equity and change per UTC day (default 7)", "Results"),
    Command("trades", False, "[n]", "the last fills with realized PnL (default 10)", "Results"),
    *(Command(name, False, args, text, "Results") for name, args, text in RESULT_COMMANDS),
    Command("pause", True, "", "no new entries (exits still work)", "Operate (admin)"),
    Command("resume", True, "", "allow entries again (asks to confirm when halted)", "Operate (admin)"),
    Command("flatten", True, "[symbol|all]", "close positions at market (asks to confirm)", "Operate (admin)"),
    Command("cancel", True, "<order|all>", "cancel a working order, or all (all asks to confirm)", "Operate (admin)"),
    *(Command(name, True, args, text, "Operate (admin)") for name, args, text in TRADE_COMMANDS),
    Command("unlock", True, "<symbol|all>", "end a pair lock now (asks to confirm)", "Operate (admin)"),
    Command(*RECONCILE_COMMAND[:1], True, *RECONCILE_COMMAND[1:], "Operate (admin)"),
    Command("backtest", False, "<strategy> <symbol> <timeframe> [key=value ...]",
            "backtest on stored data; replies with metrics, chart and trades CSV", "Research"),
    Command("alerts", False, "[on|silent|off] [type]", "show alert settings; admins change them", "Settings"),
    *(Command(name, True, args, text, "Settings") for name, args, text in OPS_COMMANDS),
    Command("version", False, "", "versions of quantd and its main libraries", "Settings"),
]
KEYBOARD = (("/status", "/positions", "/profit"), ("/orders", "/balance", "/health"),
            ("/daily", "/stats", "/help"))
"""The persistent reply keyboard: the main read-only commands, one tap each."""
_BY_NAME = {c.name: c for c in COMMANDS}
COMMAND_RESULT_WAIT_SECS = 10.0


class Usage(ValueError):
    """Bad arguments; the message is the usage reply."""


def usage(name: str, problem: str = "") -> Usage:
    """A usage error for command ``name``."""
    c = _BY_NAME[name]
    return Usage((f"{problem}\n" if problem else "") + f"usage: /{c.name} {c.args}".rstrip())


def _positive_int(args: list[str], name: str, default: int, maximum: int) -> int:
    if not args:
        return default
    if len(args) > 1 or not args[0].isdigit() or not 1 <= int(args[0]) <= maximum:
        raise usage(name, f"expected a whole number from 1 to {maximum}")
    return int(args[0])


class BotCommands(ViewCommands, ResultCommands, TradeCommands, OpsCommands, ReconcileCommands, BacktestCommands):
    """Handlers of every command and of the confirmation buttons.

    Args:
        settings: the telegram section.
        store: the daemon's store (read; operator commands written).
        access: roles.
        policy, router: alert modes and the outbox writer (for /alerts and unauthorized reports).
        probe: read-only engine facts.
        sender_state: callable giving (last delivery error, conflict text) for /health.
        data_dir: folder of OHLCV files for /backtest (None: bundled samples only).
        daemon_settings: the daemon's whole settings, for /config.
    """

    def __init__(self, settings: TelegramSettings, store: Store, access: Access, policy: AlertPolicy,
                 router: AlertRouter, probe: DaemonProbe, sender_state, data_dir: Path | None = None,
                 daemon_settings=None):
        self.settings, self.store, self.access = settings, store, access
        self.daemon_settings = daemon_settings
        """The daemon's whole :class:`bot.config.Settings` (for /config), None when not given."""
        self.policy, self.router, self.probe = policy, router, probe
        self.sender_state = sender_state
        self.data_dir = data_dir
        self.confirmations = Confirmations(settings.confirm_secs)
        self.backtests: dict[int, threading.Event] = {}  # chat id -> cancel flag of its running backtest

    # ----- dispatch ---------------------------------------------------------------------------
    async def gate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
        """Auth for every update: True when the sender may go on. Unknown senders get no
        reply; they are logged and reported to the admins once per hour each."""
        user, chat = update.effective_user, update.effective_chat
        role = self.access.role(user.id if user else None)
        if role is not None and chat is not None and self.access.chat_allowed(chat.id, chat.type):
            return True
        who = f"user {user.id} (@{user.username or '-'})" if user else "unknown sender"
        where = f"chat {chat.id} ({chat.type})" if chat else "no chat"
        text = update.effective_message.text if update.effective_message else ""
        log.warning("telegram: ignored %s in %s: %r", who, where, (text or "")[:80])
        if user is not None and self.access.should_report(user.id):
            self.router.send("error", f"Unauthorized Telegram access ignored: {who} in {where} sent "
                                      f"{(text or '')[:80]!r}. Add the id to telegram.admins or viewers if expected.",
                             dedupe_key=f"unauthorized|{user.id}")
        return False

    async def handle(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Entry point of every command."""
        if not await self.gate(update, context):
            return
        message = update.effective_message
        name, _, addressee = message.text.split()[0].lstrip("/").partition("@")
        if addressee and addressee.lower() != (context.bot.username or "").lower():
            return  # a command for another bot in the same group
        name = name.lower()
        command = _BY_NAME.get(name)
        if command is None:
            await self.reply(update, f"unknown command /{name}; /help lists them")
            return
        role = self.access.role(update.effective_user.id)
        if command.admin and role != ADMIN:
            log.warning("telegram: viewer %s tried /%s", update.effective_user.id, name)
            await self.reply(update, f"/{name} needs the admin role; you are a {role}")
            return
        try:
            await getattr(self, f"cmd_{name}")(update, message.text.split()[1:])
        except (Usage, UsageError) as exc:
            await self.reply(update, str(exc))

    @staticmethod
    def no_args(name: str, args: list[str]) -> None:
        """Raise the usage reply of ``name`` when it got arguments."""
        if args:
            raise usage(name, "no arguments")

    @staticmethod
    def usage_error(name: str, problem: str) -> Usage:
        """The usage reply of ``name`` after ``problem``."""
        return usage(name, problem)

    def traded_symbols(self) -> list[str]:
        """The symbols the daemon trades."""
        return self.probe.symbols()

    async def ask(self, update: Update, command: str, question: str, labels: tuple[str, str] = ("Confirm", "Cancel")):
        """Ask the sender to confirm ``command`` (two buttons: do it / do nothing)."""
        await self._ask(update, command, question, labels)

    async def operator(self, command: str, update: Update) -> str:
        """Queue ``command`` for the engine and wait for its result (see :meth:`_operator`)."""
        return await self._operator(command, update)

    @staticmethod
    def count_arg(args: list[str], name: str, default: int, maximum: int) -> int:
        """The optional count argument of ``name`` (1..``maximum``), else the usage reply."""
        return _positive_int(args, name, default, maximum)

    # ----- replies ----------------------------------------------------------------------------
    async def reply(self, update: Update, text: str, heading: str | None = None, monospace: bool = False,
                    markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | None = None):
        """Send ``text`` (plain; escaped here) as one or more messages of at most 4096
        characters, in the chat and topic of ``update``; honours ``RetryAfter``. Returns the
        last message sent."""
        budget = MAX_CHARS - (len(heading) + 1 if heading else 0) - (11 if monospace else 0)
        parts = split_text(text, budget)
        sent = None
        for i, part in enumerate(parts):
            html = to_html(part, heading if i == 0 else None, monospace)
            keyboard = markup if i == len(parts) - 1 else None
            sent = await retrying(lambda h=html, k=keyboard: update.effective_message.reply_text(
                h, parse_mode=ParseMode.HTML, reply_markup=k, do_quote=True))  # a reply says what it answers
        return sent

    # ----- read-only --------------------------------------------------------------------------
    def _summary(self) -> dict:
        summary = status_summary(self.store)
        if summary is None:
            raise Usage("the daemon has not written any state yet")
        return summary

    async def cmd_start(self, update: Update, args: list[str]) -> None:
        role = self.access.role(update.effective_user.id)
        await self.reply(update, f"quantd is running. You are {role}. The keyboard below has the main views; "
                                 "/help lists every command.", markup=_keyboard())

    async def cmd_help(self, update: Update, args: list[str]) -> None:
        role = self.access.role(update.effective_user.id)
        lines = []
        for group in GROUPS:
            mine = [c for c in COMMANDS if c.group == group and (role == ADMIN or not c.admin)]
            if mine:
                lines += ([""] if lines else []) + [f"{group}:"]
                lines += [f"/{c.name} {c.args}".rstrip() + f" - {c.help}" for c in mine]
        await self.reply(update, "\n".join(lines), heading=f"Commands for {role}s", markup=_keyboard())

    async def cmd_alerts(self, update: Update, args: list[str]) -> None:
        if args:
            if self.access.role(update.effective_user.id) != ADMIN:
                raise Usage("changing alerts needs the admin role; /alerts alone shows them")
            if len(args) > 2 or args[0] not in ("on", "silent", "off") or (len(args) == 2 and args[1] not in ALERT_TYPES):
                raise usage("alerts", f"modes: on, silent, off; types: {', '.join(ALERT_TYPES)}")
            self.policy.set(args[0], args[1] if len(args) == 2 else None)
        modes = self.policy.modes()
        await self.reply(update, "\n".join(f"{k:<21} {modes[k]}" for k in ALERT_TYPES), "Alerts", True)

    # ----- changes ----------------------------------------------------------------------------
    async def cmd_pause(self, update: Update, args: list[str]) -> None:
        if args:
            raise usage("pause", "no arguments")
        await self.reply(update, await self._operator(Verb.PAUSE, update))

    async def cmd_resume(self, update: Update, args: list[str]) -> None:
        if args:
            raise usage("resume", "no arguments")
        breaker = self._summary()["breaker"]
        if breaker["state"] == "halted":
            await self._ask(update, Verb.RESUME, f"Resume trading? The circuit breaker halted: {breaker['reason']}")
            return
        await self.reply(update, await self._operator(Verb.RESUME, update))

    async def cmd_flatten(self, update: Update, args: list[str]) -> None:
        if len(args) > 1:
            raise usage("flatten")
        target = args[0].upper() if args else "ALL"
        summary = self._summary()
        held = [p["symbol"] for p in summary["positions"]]
        if target != "ALL" and "/" not in target:
            raise usage("flatten", f"{args[0]!r} is not a symbol such as BTC/USDT")
        what = "every open position" if target == "ALL" else target
        if not held or (target != "ALL" and target not in held):
            await self.reply(update, f"nothing to flatten: no open position in {what.lower()}")
            return
        sides = {p.get("side", "long") for p in summary["positions"] if target in ("ALL", p["symbol"])}
        how = {frozenset({"long"}): "sell at market now", frozenset({"short"}): "buy back at market now"}.get(
            frozenset(sides), "close at market now (sell the longs, buy back the shorts)")
        await self._ask(update, command_text(Verb.FLATTEN, target.lower() if target == "ALL" else target),
                        f"Flatten {what}: {how}? ({', '.join(held)} held)")

    async def cmd_cancel(self, update: Update, args: list[str]) -> None:
        if len(args) != 1:
            raise usage("cancel", "name one client order id (see /orders) or all")
        if args[0].lower() == "all":
            n = len(self._summary()["open_orders"])
            if not n:
                await self.reply(update, "no working order")
                return
            await self._ask(update, command_text(Verb.CANCEL, "all"), f"Cancel all {n} working order(s)?")
            return
        await self.reply(update, await self._operator(command_text(Verb.CANCEL, args[0]), update))

    # ----- approve each entry ------------------------------------------------------------------
    async def prompt_entry(self, bot, event) -> None:
        """Ask every admin to approve a held entry: Approve queues ``approve <id>``, Skip
        ``skip <id>``; no answer before the deadline skips it (the engine's side)."""
        text = (f"Entry waiting for your approval: {event.intent} on {event.symbol} for {event.notional} "
                f"(quote) at market, through the risk checks again. No answer before "
                f"{iso_utc(event.deadline_ms)[11:19]} UTC skips it.")
        for admin in self.settings.admins:
            token = self.confirmations.open(command_text(Verb.APPROVE, event.entry_id), admin, admin, text)
            keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Approve", callback_data=f"cf:{token}:{CONFIRM}"),
                                              InlineKeyboardButton("Skip", callback_data=f"cf:{token}:{ABORT}")]])
            try:
                await retrying(lambda k=keyboard, a=admin: bot.send_message(a, esc(text), parse_mode=ParseMode.HTML,
                                                                             reply_markup=k))
            except Exception as exc:  # an unreachable Telegram: no answer, so the entry is skipped (fail safe)
                log.warning("telegram: could not ask admin %s to approve entry %s: %s", admin, event.entry_id, exc)

    # ----- confirmation -----------------------------------------------------------------------
    async def _ask(self, update: Update, command: str, question: str,
                   labels: tuple[str, str] = ("Confirm", "Cancel")) -> None:
        token = self.confirmations.open(command, update.effective_user.id, update.effective_chat.id, question)
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(labels[0], callback_data=f"cf:{token}:{CONFIRM}"),
                                          InlineKeyboardButton(labels[1], callback_data=f"cf:{token}:{ABORT}")]])
        await self.reply(update, f"{question}\n(valid {self.settings.confirm_secs:.0f}s)", markup=keyboard)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A Confirm/Cancel press."""
        query = update.callback_query
        if not await self.gate(update, context):
            return
        parts = (query.data or "").split(":")
        if len(parts) != 3 or parts[0] != "cf":
            await query.answer("unknown button")
            return
        pending, why = self.confirmations.take(parts[1], query.from_user.id)
        if pending is None:
            await query.answer(why, show_alert=True)
            if "expired" in why:
                await quiet_edit(query.message, f"{why}")
            return
        if self.access.role(query.from_user.id) != ADMIN:
            await query.answer("needs the admin role", show_alert=True)
            return
        await query.answer()
        if parts[2] != CONFIRM:
            verb, entry_id = parse_command(pending.command)
            if verb is Verb.APPROVE:  # Skip of a held entry: say so at once
                result = await self._operator(command_text(Verb.SKIP, entry_id), update)
                await quiet_edit(query.message, f"{pending.summary}\n{result}")
                return
            await quiet_edit(query.message, f"{pending.summary}\ncanceled: nothing done")
            return
        result = await self._operator(pending.command, update)
        await quiet_edit(query.message, f"{pending.summary}\n{result}")

    # ----- operator commands ------------------------------------------------------------------
    async def _operator(self, command: str, update: Update) -> str:
        """Queue ``command`` for the engine and wait for its result."""
        user = update.effective_user
        by = f"telegram:{user.id}" + (f"(@{user.username})" if user.username else "")
        command_id = queue_command(self.store, command, by, wall_ms())
        log.warning("telegram: %s queued %r", by, command)
        deadline = time.monotonic() + COMMAND_RESULT_WAIT_SECS
        while time.monotonic() < deadline:
            with self.store.read() as s:
                row = s.get(OperatorCommandRow, command_id)
                if row.applied_ts_ms is not None:
                    return f"{command}: {row.result}"
            await asyncio.sleep(0.2)
        return f"{command}: queued; the daemon applies it at its next step (/status shows the result)"


def _keyboard() -> ReplyKeyboardMarkup:
    """The persistent reply keyboard of :data:`KEYBOARD` (it stays under the input field)."""
    return ReplyKeyboardMarkup([list(row) for row in KEYBOARD], resize_keyboard=True, is_persistent=True)
