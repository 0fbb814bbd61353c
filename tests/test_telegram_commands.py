"""The bot end to end: python-telegram-bot against a fake Bot API on 127.0.0.1 (every request
checked against the real Bot API schema), fed Updates built from Telegram's own samples,
commanding a paper daemon that trades the bundled real candles."""

from __future__ import annotations

import logging

import pytest

from tests.fakes.telegram import FakeTelegram
from tests.telegram_helpers import ADMIN, STRANGER, TOKEN, VIEWER, Desk, button_press, command


@pytest.fixture
def fake(data_dir):
    tg = FakeTelegram(data_dir / "fixtures", TOKEN)
    tg.url = tg.start()
    yield tg
    tg.stop()
    assert tg.violations == [], "every request must match the Bot API schema"


@pytest.fixture
def desk(tmp_path, fake):
    d = Desk(tmp_path, fake.url)
    d.until_position()
    yield d
    d.close()


def _replies(fake, update: dict, at_least: int = 1) -> list[dict]:
    """The bot's replies to ``update`` (messages quoting it), waiting for ``at_least``."""
    msg_id = update["message"]["message_id"]

    def mine(sent):
        return [m for m in sent if m["method"] == "sendMessage" and m.get("reply_parameters", {}).get(
            "message_id") == msg_id]
    fake.wait_for(lambda s: len(mine(s)) >= at_least)
    return mine(fake.sent)


def _ask(fake, data_dir, text, user=ADMIN, **kw) -> str:
    """Send a command and return the bot's reply text (all parts joined)."""
    update = command(data_dir, text, user, **kw)
    fake.push(update)
    return "\n".join(m["text"] for m in _replies(fake, update))


def test_read_only_commands_answer_from_a_daemon_with_a_position(desk, fake, data_dir):
    status = _ask(fake, data_dir, "/status")
    assert "mode      paper" in status and "breaker   running" in status and "BTC/USDT 5m" in status
    assert "positions 1" in status
    positions = _ask(fake, data_dir, "/positions")
    qty = desk.engine.oms.portfolio.position("BTC/USDT").qty
    assert f"BTC/USDT  qty {qty.normalize():f}" in positions and "unrealized" in positions
    assert "no working order" in _ask(fake, data_dir, "/orders")
    balance = _ask(fake, data_dir, "/balance")
    assert f"{float(desk.engine.oms.portfolio.cash):,.2f} USDT" in balance
    assert "since start" in _ask(fake, data_dir, "/pnl 2")
    assert "2020-12-15" in _ask(fake, data_dir, "/daily")
    trades = _ask(fake, data_dir, "/trades 3")
    assert "buy" in trades and "BTC/USDT" in trades
    assert "breaker   running" in _ask(fake, data_dir, "/risk")
    health = _ask(fake, data_dir, "/health")
    assert "process   up" in health and "alerts    " in health
    assert "python-telegram-bot 22" in _ask(fake, data_dir, "/version")
    help_text = _ask(fake, data_dir, "/help")
    assert "/flatten [symbol|all]" in help_text and "/backtest" in help_text
    assert "usage: /pnl [days]" in _ask(fake, data_dir, "/pnl abc")
    assert "usage: /trades [n]" in _ask(fake, data_dir, "/trades 0")


def test_unauthorized_sender_gets_no_reply_is_logged_and_admins_hear_once(desk, fake, data_dir, caplog):
    caplog.set_level(logging.WARNING, logger="quantd.telegram")
    for _ in range(2):
        fake.push(command(data_dir, "/status", STRANGER))
    fake.wait_for(lambda s: sum("Unauthorized Telegram access" in m.get("text", "") for m in s) >= 1)
    desk.advance(0)
    assert fake.texts(STRANGER) == [], "a stranger gets no reply at all"
    assert sum(f"ignored user {STRANGER}" in r.getMessage() for r in caplog.records) == 2
    alerts = [t for t in fake.texts(ADMIN) if "Unauthorized Telegram access" in t]
    assert len(alerts) == 1, "one alert per sender per hour"


def test_a_viewer_reads_but_cannot_pause(desk, fake, data_dir):
    assert "positions 1" in _ask(fake, data_dir, "/status", VIEWER)
    assert "/pause needs the admin role" in _ask(fake, data_dir, "/pause", VIEWER)
    assert desk.engine.risk.breaker.state.value == "running"
    assert "/pause" not in _ask(fake, data_dir, "/help", VIEWER)


def test_pause_and_resume_go_through_the_engine(desk, fake, data_dir):
    assert "pause: paused" in _ask(fake, data_dir, "/pause")
    assert desk.engine.risk.breaker.state.value == "paused"
    assert "resume: resumed" in _ask(fake, data_dir, "/resume")
    assert desk.engine.risk.breaker.state.value == "running"


def _keyboard_message(fake, data_dir, text) -> dict:
    update = command(data_dir, text)
    fake.push(update)
    (msg,) = _replies(fake, update)
    assert "reply_markup" in msg, msg["text"]
    return msg


def _press(fake, data_dir, msg, choice: str, user=ADMIN) -> dict:
    data = next(b["callback_data"] for b in msg["reply_markup"]["inline_keyboard"][0] if b["text"] == choice)
    before = len(fake.sent)
    fake.push(button_press(data_dir, data, user, msg))
    sent = fake.wait_for(lambda s: any(m["method"] == "answerCallbackQuery" for m in s[before:]))
    return next(m for m in sent[before:] if m["method"] == "answerCallbackQuery")


def test_flatten_asks_first_and_only_the_requester_may_confirm_once(desk, fake, data_dir):
    msg = _keyboard_message(fake, data_dir, "/flatten BTC/USDT")
    assert "Flatten BTC/USDT: sell at market now?" in msg["text"]
    assert [b["text"] for b in msg["reply_markup"]["inline_keyboard"][0]] == ["Confirm", "Cancel"]
    answer = _press(fake, data_dir, msg, "Confirm", user=VIEWER)
    assert "only the admin who asked" in answer["text"]
    assert desk.engine.oms.open_orders() == [], "a stranger's press does nothing"
    _press(fake, data_dir, msg, "Confirm")
    edited = fake.wait_for(lambda s: any(m["method"] == "editMessageText" and "sell" in m["text"] for m in s))
    result = [m for m in edited if m["method"] == "editMessageText"][-1]["text"]
    assert "flatten BTC/USDT: BTC/USDT: sell open" in result
    (order,) = desk.engine.oms.open_orders()
    assert order.side.value == "sell" and "flatten by telegram:1111111" in order.intent
    second = _press(fake, data_dir, msg, "Confirm")
    assert "no longer valid" in second["text"]
    assert len(desk.engine.oms.open_orders()) == 1, "a second press sends nothing"
    desk.advance(2)  # paper: the sell fills at the open of the first candle after the command
    assert not desk.engine.oms.portfolio.position("BTC/USDT").is_open


def test_flatten_cancel_button_and_expiry_do_nothing(desk, fake, data_dir):
    msg = _keyboard_message(fake, data_dir, "/flatten")
    _press(fake, data_dir, msg, "Cancel")
    fake.wait_for(lambda s: any(m["method"] == "editMessageText" and "canceled: nothing done" in m["text"] for m in s))
    assert desk.engine.oms.open_orders() == []
    desk.telegram.service.commands.confirmations.valid_secs = 0.0  # the next request expires at once
    late = _keyboard_message(fake, data_dir, "/flatten all")
    answer = _press(fake, data_dir, late, "Confirm")
    assert "expired" in answer["text"]
    assert desk.engine.oms.open_orders() == [] and desk.engine.oms.portfolio.position("BTC/USDT").is_open
    assert "usage: /flatten [symbol|all]" in _ask(fake, data_dir, "/flatten BTCUSDT")
    assert "nothing to flatten" in _ask(fake, data_dir, "/flatten ETH/USDT")


def test_a_long_reply_is_split_at_line_boundaries(desk, fake, data_dir):
    desk.advance(3000)
    assert len(desk.engine.oms.orders) > 130, "enough fills for a reply over 10,000 characters"
    update = command(data_dir, "/trades 500")
    fake.push(update)
    parts = [m["text"] for m in _replies(fake, update, at_least=3)]
    total = sum(len(p) for p in parts)
    assert total > 10_000 and all(len(p) <= 4096 for p in parts)
    lines = [ln for p in parts for ln in p.replace("<b>Trades</b>\n", "").replace("<pre>", "").replace(
        "</pre>", "").split("\n")]
    assert all(ln.startswith("2020-12-") for ln in lines), "every part breaks between lines"
