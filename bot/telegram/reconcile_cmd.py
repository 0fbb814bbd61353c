"""``/reconcile`` (admin): a reconciliation now, each finding in words (what the store says,
what the exchange says, the effect on equity) and, where the operator can act, buttons: an
external order gets Adopt / Ignore, a balance drift Accept (re-baseline) / Keep halted. The
buttons use the confirmation flow (only the requester, once, within ``confirm_secs``) and
queue ``adopt <id>`` or ``rebaseline`` (:mod:`engine.reconcile_ops`)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from telegram import Update

from engine.commands import Verb, command_text
from engine.store.reconciliation import ReconciliationIssueRow

RECONCILE_COMMAND = ("reconcile", "", "reconcile with the exchange now; act on each finding with buttons")


def finding_text(kind: str, symbol: str, client_order_id: str, action: str, detail: dict,
                 marks: dict[str, float], quote: str) -> str:
    """One finding in words."""
    if kind == "external_order":
        return (f"External order {detail.get('exchange_order_id')} on {symbol}: {detail.get('side')} "
                f"{detail.get('amount')} @ {detail.get('price')} (client id {client_order_id}). The store has no "
                f"such order; the exchange has it {detail.get('status')}. Now: {action}.")
    if kind == "balance_drift":
        drift = Decimal(detail["drift"])
        if symbol == quote:
            effect = f"{float(drift):+,.2f} {quote}"
        else:
            mark = next((price for sym, price in marks.items() if sym.split("/")[0] == symbol), None)
            effect = f"about {float(drift) * mark:+,.2f} {quote} at the last close" if mark else "unknown (no price)"
        return (f"Balance of {symbol}: the store expects {detail['expected']}, the exchange has {detail['exchange']} "
                f"(drift {drift:+f}, tolerance {detail['tolerance']}); effect on equity {effect}. Now: {action}.")
    if kind == "order_changed_while_away":
        return (f"Order {client_order_id} on {symbol}: the store had it {detail.get('store_status')} with "
                f"{detail.get('store_filled')} filled, the exchange {detail.get('venue_status')} with "
                f"{detail.get('venue_filled')} filled. Now: {action}.")
    if kind == "unknown_on_venue":
        return (f"Order {client_order_id} on {symbol}: the store had it {detail.get('store_status')}, the exchange "
                f"does not know it. Now: {action}.")
    return f"{kind} {symbol} {client_order_id}: {action} {detail}"


class ReconcileCommands:
    """Mixin of :class:`bot.telegram.commands.BotCommands`: uses the host's ``store``,
    ``reply``, ``operator``, ``ask``, ``probe`` and ``usage_error``."""

    async def cmd_reconcile(self, update: Update, args: list[str]) -> None:
        if args:
            raise self.usage_error("reconcile", "no arguments")
        with self.store.read() as s:
            before = s.scalar(select(func.max(ReconciliationIssueRow.id))) or 0
        result = await self.operator(Verb.RECONCILE, update)
        with self.store.read() as s:
            rows = s.scalars(select(ReconciliationIssueRow).where(ReconciliationIssueRow.id > before)
                             .order_by(ReconciliationIssueRow.id)).all()
        await self.reply(update, result + ("" if rows else "\nstore and exchange agree"))
        marks, quote = self.probe.marks(), self.probe.quote()
        for row in rows:
            text = finding_text(row.kind, row.symbol, row.client_order_id, row.action, row.detail, marks, quote)
            if row.kind == "external_order" and row.action.startswith("left alone"):
                await self.ask(update, command_text(Verb.ADOPT, str(row.detail.get("exchange_order_id"))), text,
                               labels=("Adopt", "Ignore"))
            elif row.kind == "balance_drift":
                await self.ask(update, Verb.REBASELINE, text + " Accept it as not the daemon's (a deposit, a "
                               "withdrawal, a trade by hand)?", labels=("Accept (re-baseline)", "Keep halted"))
            else:
                await self.reply(update, text)
