"""Security checks: every state-changing Telegram command needs the admin role (the test walks
every handler the bot has), viewers and strangers change nothing, and the vault refuses loose
permissions."""

from __future__ import annotations

import inspect
import json

import pytest

from bot.telegram.commands import COMMANDS, BotCommands
from engine.errors import VaultError
from tests.db_helpers import rows
from tests.telegram_helpers import ADMIN, STRANGER, VIEWER, command, until
from vault import exchange_credentials, telegram_token

STATE_CHANGING = {"pause", "resume", "flatten", "cancel", "buy", "sell", "limit_sell", "unlock", "reload",
                  "reconcile"}
"""Commands that queue an operator command for the engine. /alerts with arguments changes
settings and is checked on its own; /backtest only reads stored data."""

ARGS = {"flatten": "all", "cancel": "all", "backtest": "sma_cross BTC/USDT 5m", "pnl": "1", "daily": "1",
        "trades": "1", "alerts": "off fill", "buy": "BTC/USDT 100", "sell": "BTC/USDT", "limit_sell": "BTC/USDT 99999 50",
        "unlock": "all", "weekly": "2", "monthly": "2", "logs": "5", "config": "risk"}


def test_every_handler_is_a_declared_command_and_state_changing_ones_are_admin_only():
    handlers = {name[4:] for name, _ in inspect.getmembers(BotCommands, inspect.iscoroutinefunction)
                if name.startswith("cmd_")}
    declared = {c.name for c in COMMANDS}
    assert handlers == declared, f"undeclared handlers {handlers - declared}, handlerless {declared - handlers}"
    admin_only = {c.name for c in COMMANDS if c.admin}
    assert STATE_CHANGING <= admin_only, f"state-changing commands open to viewers: {STATE_CHANGING - admin_only}"
    queues = {name for name in handlers if "_operator(" in inspect.getsource(getattr(BotCommands, f"cmd_{name}"))
              or "_confirm(" in inspect.getsource(getattr(BotCommands, f"cmd_{name}"))}
    assert queues <= admin_only, f"handlers that change state without the admin role: {queues - admin_only}"


def test_viewers_and_strangers_change_nothing_whatever_they_send(desk, tg, data_dir, tmp_path):
    db = next(tmp_path.glob("**/*.sqlite"))

    def state():
        return (rows(db, "SELECT count(*) FROM operator_commands"), rows(db, "SELECT key, value FROM meta ORDER BY key"),
                desk.engine.risk.breaker.state.value)

    before = state()
    sent_before = len(tg.sent)
    for user in (VIEWER, STRANGER):
        for c in COMMANDS:
            tg.push(command(data_dir, f"/{c.name} {ARGS.get(c.name, '')}".strip(), user))
    # a viewer pressing a confirmation button meant for an admin
    tg.push(command(data_dir, "/flatten all", ADMIN))
    until(lambda: any("Confirm" in json.dumps(m.get("reply_markup", "")) for m in tg.sent[sent_before:]))
    until(lambda: len([m for m in tg.sent[sent_before:] if m["method"] == "sendMessage"]) >= len(COMMANDS) + 1)

    def refused_now() -> set[str]:
        return {m["text"].split()[0] for m in tg.sent[sent_before:]
                if m["method"] == "sendMessage" and "needs the admin role" in m["text"]}

    until(lambda: refused_now() >= {f"/{n}" for n in STATE_CHANGING})  # a message count alone races the replies
    assert state() == before, "no command queued, no alert setting changed, breaker untouched"
    replies = [m for m in tg.sent[sent_before:] if m["method"] == "sendMessage"]
    stranger_chat = command(data_dir, "/x", STRANGER)["message"]["chat"]["id"]
    assert not [m for m in replies if m["chat_id"] == stranger_chat], "strangers get no reply at all"
    refused = {m["text"].split()[0] for m in replies if "needs the admin role" in m["text"]}
    assert refused >= {f"/{n}" for n in STATE_CHANGING}, refused


def test_vault_refuses_files_others_can_read(tmp_path):
    vault = tmp_path / "vault"
    vault.mkdir()
    for name, content in (("binance.json", {"apiKey": "k" * 20, "secret": "s" * 20}), ("telegram.json", {"token": "1:x"})):
        (vault / name).write_text(json.dumps(content))
    for mode in (0o644, 0o640, 0o604):
        (vault / "binance.json").chmod(mode)
        (vault / "telegram.json").chmod(mode)
        with pytest.raises(VaultError, match="chmod 600"):
            exchange_credentials("binance", vault)
        with pytest.raises(VaultError):
            telegram_token(vault)
    (vault / "binance.json").chmod(0o600)
    assert exchange_credentials("binance", vault).api_key.get_secret_value() == "k" * 20
