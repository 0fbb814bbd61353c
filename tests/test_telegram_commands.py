"""The bot end to end: python-telegram-bot against a tg Bot API on 127.0.0.1 (every request
checked against the real Bot API schema), fed Updates built from Telegram's own samples,
commanding a paper daemon that trades the bundled real candles."""

from __future__ import annotations

import logging
import threading

import pytest

import bot.telegram.backtest_job as backtest_job
from tests.telegram_helpers import ADMIN, STRANGER, TOKEN, VIEWER, Desk, button_press, command, until


def _replies(tg, update: dict, at_least: int = 1) -> list[dict]:
    """The bot's replies to ``update`` (messages quoting it), waiting for ``at_least``."""
    msg_id = update["message"]["message_id"]

    def mine(sent):
        return [m for m in sent if m["method"] == "sendMessage" and m.get("reply_parameters", {}).get(
            "message_id") == msg_id]
    tg.wait_for(lambda s: len(mine(s)) >= at_least)
    return mine(tg.sent)


def _ask(tg, data_dir, text, user=ADMIN, **kw) -> str:
    """Send a command and return the bot's reply text (all parts joined)."""
    update = command(data_dir, text, user, **kw)
    tg.push(update)
    return "\n".join(m["text"] for m in _replies(tg, update))


def test_read_only_commands_answer_from_a_daemon_with_a_position(desk, tg, data_dir):
    status = _ask(tg, data_dir, "/status")
    assert "mode      paper" in status and "breaker   running" in status and "BTC/USDT 5m" in status
    assert "positions 1" in status
    positions = _ask(tg, data_dir, "/positions")
    qty = desk.engine.oms.portfolio.position("BTC/USDT").qty
    assert f"BTC/USDT  qty {qty.normalize():f}" in positions and "unrealized" in positions
    assert "no working order" in _ask(tg, data_dir, "/orders")
    balance = _ask(tg, data_dir, "/balance")
    assert f"{float(desk.engine.oms.portfolio.cash):,.2f} USDT" in balance
    assert "since start" in _ask(tg, data_dir, "/pnl 2")
    assert "2020-12-15" in _ask(tg, data_dir, "/daily")
    trades = _ask(tg, data_dir, "/trades 3")
    assert "buy" in trades and "BTC/USDT" in trades
    assert "breaker   running" in _ask(tg, data_dir, "/risk")
    health = _ask(tg, data_dir, "/health")
    assert "process   up" in health and "alerts    " in health
    assert "python-telegram-bot 22" in _ask(tg, data_dir, "/version")
    help_text = _ask(tg, data_dir, "/help")
    assert "/flatten [symbol|all]" in help_text and "/backtest" in help_text
    assert "usage: /pnl [days]" in _ask(tg, data_dir, "/pnl abc")
    assert "usage: /trades [n]" in _ask(tg, data_dir, "/trades 0")


def test_unauthorized_sender_gets_no_reply_is_logged_and_admins_hear_once(desk, tg, data_dir, caplog):
    caplog.set_level(logging.WARNING, logger="quantd.telegram")
    for _ in range(2):
        tg.push(command(data_dir, "/status", STRANGER))
    tg.wait_for(lambda s: sum("Unauthorized Telegram access" in m.get("text", "") for m in s) >= 1)
    desk.advance(0)
    assert tg.texts(STRANGER) == [], "a stranger gets no reply at all"
    assert sum(f"ignored user {STRANGER}" in r.getMessage() for r in caplog.records) == 2
    alerts = [t for t in tg.texts(ADMIN) if "Unauthorized Telegram access" in t]
    assert len(alerts) == 1, "one alert per sender per hour"


def test_a_viewer_reads_but_cannot_pause(desk, tg, data_dir):
    assert "positions 1" in _ask(tg, data_dir, "/status", VIEWER)
    assert "/pause needs the admin role" in _ask(tg, data_dir, "/pause", VIEWER)
    assert desk.engine.risk.breaker.state.value == "running"
    assert "/pause" not in _ask(tg, data_dir, "/help", VIEWER)


def test_a_reply_survives_a_dropped_connection(desk, tg, data_dir):
    tg.drop_sends = 1  # the first answer is lost on the wire: no response, the socket closed
    assert "mode      paper" in _ask(tg, data_dir, "/status")
    assert tg.drop_sends == 0


def test_pause_and_resume_go_through_the_engine(desk, tg, data_dir):
    assert "pause: paused" in _ask(tg, data_dir, "/pause")
    assert desk.engine.risk.breaker.state.value == "paused"
    assert "resume: resumed" in _ask(tg, data_dir, "/resume")
    assert desk.engine.risk.breaker.state.value == "running"


def _keyboard_message(tg, data_dir, text) -> dict:
    update = command(data_dir, text)
    tg.push(update)
    (msg,) = _replies(tg, update)
    assert "reply_markup" in msg, msg["text"]
    return msg


def _press(tg, data_dir, msg, choice: str, user=ADMIN) -> dict:
    data = next(b["callback_data"] for b in msg["reply_markup"]["inline_keyboard"][0] if b["text"] == choice)
    before = len(tg.sent)
    tg.push(button_press(data_dir, data, user, msg))
    sent = tg.wait_for(lambda s: any(m["method"] == "answerCallbackQuery" for m in s[before:]))
    return next(m for m in sent[before:] if m["method"] == "answerCallbackQuery")


def test_flatten_asks_first_and_only_the_requester_may_confirm_once(desk, tg, data_dir):
    msg = _keyboard_message(tg, data_dir, "/flatten BTC/USDT")
    assert "Flatten BTC/USDT: sell at market now?" in msg["text"]
    assert [b["text"] for b in msg["reply_markup"]["inline_keyboard"][0]] == ["Confirm", "Cancel"]
    answer = _press(tg, data_dir, msg, "Confirm", user=VIEWER)
    assert "only the admin who asked" in answer["text"]
    assert desk.engine.oms.open_orders() == [], "a stranger's press does nothing"
    _press(tg, data_dir, msg, "Confirm")
    edited = tg.wait_for(lambda s: any(m["method"] == "editMessageText" and "sell" in m["text"] for m in s))
    result = [m for m in edited if m["method"] == "editMessageText"][-1]["text"]
    assert "flatten BTC/USDT: BTC/USDT: sell open" in result
    (order,) = desk.engine.oms.open_orders()
    assert order.side.value == "sell" and "flatten by telegram:1111111" in order.intent
    second = _press(tg, data_dir, msg, "Confirm")
    assert "no longer valid" in second["text"]
    assert len(desk.engine.oms.open_orders()) == 1, "a second press sends nothing"
    desk.advance(2)  # paper: the sell fills at the open of the first candle after the command
    assert not desk.engine.oms.portfolio.position("BTC/USDT").is_open


def test_flatten_cancel_button_and_expiry_do_nothing(desk, tg, data_dir):
    msg = _keyboard_message(tg, data_dir, "/flatten")
    _press(tg, data_dir, msg, "Cancel")
    tg.wait_for(lambda s: any(m["method"] == "editMessageText" and "canceled: nothing done" in m["text"] for m in s))
    assert desk.engine.oms.open_orders() == []
    desk.telegram.service.commands.confirmations.valid_secs = 0.0  # the next request expires at once
    late = _keyboard_message(tg, data_dir, "/flatten all")
    answer = _press(tg, data_dir, late, "Confirm")
    assert "expired" in answer["text"]
    assert desk.engine.oms.open_orders() == [] and desk.engine.oms.portfolio.position("BTC/USDT").is_open
    assert "usage: /flatten [symbol|all]" in _ask(tg, data_dir, "/flatten BTCUSDT")
    assert "nothing to flatten" in _ask(tg, data_dir, "/flatten ETH/USDT")


def test_a_long_reply_is_split_at_line_boundaries(desk, tg, data_dir):
    desk.advance(3000)
    assert len(desk.engine.oms.orders) > 130, "enough fills for a reply over 10,000 characters"
    update = command(data_dir, "/trades 500")
    tg.push(update)
    parts = [m["text"] for m in _replies(tg, update, at_least=3)]
    total = sum(len(p) for p in parts)
    assert total > 10_000 and all(len(p) <= 4096 for p in parts)
    lines = [ln for p in parts for ln in p.replace("<b>Trades</b>\n", "").replace("<pre>", "").replace(
        "</pre>", "").split("\n")]
    assert all(ln.startswith("2020-12-") for ln in lines), "every part breaks between lines"


def test_backtest_from_chat_replies_with_metrics_chart_and_trades(desk, tg, data_dir):
    update = command(data_dir, "/backtest sma_cross BTC/USDT 5m fast=10 slow=30 from=2020-12-20")
    tg.push(update)
    sent = tg.wait_for(lambda s: any(m["method"] == "sendDocument" for m in s), timeout=30)
    table = next(m["text"] for m in _replies(tg, update) if "<b>Backtest</b>" in m["text"])
    assert "sma_cross(fast=10, slow=30)" in table and "Sharpe" in table and "max drawdown" in table
    assert "2020-12-20T00:00:00Z" in table
    photo = next(m for m in sent if m["method"] == "sendPhoto")
    assert photo["photo"][:8] == b"\x89PNG\r\n\x1a\n" and len(photo["photo"]) > 10_000
    doc = next(m for m in sent if m["method"] == "sendDocument")
    csv_lines = doc["document"].decode().splitlines()
    assert csv_lines[0].startswith("entry_time,entry_price,exit_time") and len(csv_lines) > 10
    trades_in_table = int(next(ln for ln in table.split("\n") if ln.startswith("trades")).split()[-1])
    assert len(csv_lines) - 1 == trades_in_table
    edits = [m["text"] for m in sent if m["method"] == "editMessageText"]
    assert edits and edits[-1].endswith(f"done, {trades_in_table} trade(s)"), "the progress message is edited in place"
    assert "usage: /backtest" in _ask(tg, data_dir, "/backtest sma_cross")
    assert "no data for SOL/USDT 5m" in _ask_edit(tg, data_dir, "/backtest sma_cross SOL/USDT 5m")


def _ask_edit(tg, data_dir, text) -> str:
    """A backtest's outcome lands in its progress message (edited)."""
    before = len(tg.sent)
    tg.push(command(data_dir, text))
    sent = tg.wait_for(lambda s: any(m["method"] == "editMessageText" for m in s[before:]))
    return next(m["text"] for m in sent[before:] if m["method"] == "editMessageText")


def test_a_backtest_can_be_canceled_and_runs_one_at_a_time_per_chat(desk, tg, data_dir, monkeypatch):
    commands = desk.telegram.service.commands
    gate = threading.Event()
    real = backtest_job.run_request

    def held(request, folder, progress):  # the worker waits until the test has tried a second run
        gate.wait(10)
        return real(request, folder, progress)

    monkeypatch.setattr(backtest_job, "run_request", held)
    tg.push(command(data_dir, "/backtest sma_cross BTC/USDT 5m"))
    until(lambda: ADMIN in commands.backtests)
    assert "already running in this chat" in _ask(tg, data_dir, "/backtest sma_cross BTC/USDT 5m")
    tg.push(command(data_dir, "/backtest cancel"))
    until(lambda: commands.backtests[ADMIN].is_set())
    gate.set()
    sent = tg.wait_for(lambda s: any("canceled after 0 of" in m.get("text", "") for m in s))
    assert not any(m["method"] == "sendDocument" for m in sent), "a canceled run sends no result"
    until(lambda: ADMIN not in commands.backtests)
    assert "no backtest running" in _ask(tg, data_dir, "/backtest cancel")



def test_group_chats_answer_only_when_listed_and_keep_the_topic(tmp_path, tg, data_dir):
    group = -1001234567890
    desk = Desk(tmp_path, tg.url, chats=[group], alert_thread_id=7)
    try:
        reply = _ask(tg, data_dir, "/status@quantd_test_bot", chat_id=group, chat_type="supergroup", thread_id=42)
        assert "mode      paper" in reply
        (msg,) = [m for m in tg.sent if m.get("chat_id") == group and "reply_parameters" in m]
        assert msg["message_thread_id"] == 42, "the reply stays in the forum topic it was asked in"
        other_bot = command(data_dir, "/status@some_other_bot", chat_id=group, chat_type="supergroup")
        tg.push(other_bot)
        assert "no working order" in _ask(tg, data_dir, "/orders", chat_id=group, chat_type="supergroup")
        tg.push(command(data_dir, "/status", chat_id=-100999, chat_type="supergroup"))
        tg.wait_for(lambda s: any("quantd started" in m.get("text", "") and m["chat_id"] == group for m in s))
        started = next(m for m in tg.sent if "quantd started" in m.get("text", "") and m["chat_id"] == group)
        assert started["message_thread_id"] == 7, "alerts go to the configured topic"
        assert not [m for m in tg.sent if m.get("chat_id") == -100999], "an unlisted group gets nothing"
        assert not [m for m in tg.sent if m.get("reply_parameters", {}).get("message_id") ==
                    other_bot["message"]["message_id"]], "a command for another bot is not ours"
    finally:
        desk.close()


def test_a_bad_token_stops_the_daemon_before_it_trades(tmp_path, tg):
    from tests.cli_helpers import clean_env, quantd
    env = clean_env(QUANTD_TELEGRAM__TOKEN="999:wrong", QUANTD_TELEGRAM__API_BASE_URL=tg.url,
                    QUANTD_TELEGRAM__ADMINS="[1111111]")
    r = quantd("run", cwd=tmp_path, env=env, timeout=60)
    assert r.returncode == 2
    assert "invalid setting telegram.token (QUANTD_TELEGRAM__TOKEN): Telegram refused it" in r.stderr
    assert "999:wrong" not in r.stderr + r.stdout, "the token is never printed"
    assert not (tmp_path / "var/quantd.sqlite").exists(), "nothing started"
    assert [m for m, _ in tg.requests] == ["getMe"]


def test_another_poller_on_the_same_token_is_reported_in_health(desk, tg, data_dir, caplog):
    caplog.set_level(logging.ERROR, logger="quantd.telegram")
    tg.conflict = True
    until(lambda: desk.telegram.service.conflict != "")
    # the flag is set just before the error is logged, on the bot's thread: wait for the record too
    until(lambda: any("another process is polling this bot token" in r.getMessage() for r in caplog.records))
    tg.conflict = False
    assert "Conflict: another process is polling this bot token" in _ask(tg, data_dir, "/health")


def test_webhook_mode_registers_the_url_and_refuses_posts_without_the_secret(tmp_path, tg, data_dir):
    import json
    import socket
    import urllib.error
    import urllib.request
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    desk = Desk(tmp_path, tg.url, webhook_url="https://bot.example.com/quantd-hook", webhook_port=port,
                webhook_secret="s3cret-value")
    try:
        until(lambda: any(m == "setWebhook" for m, _ in tg.requests))
        (hook,) = [p for m, p in tg.requests if m == "setWebhook"]
        assert hook["url"] == "https://bot.example.com/quantd-hook" and hook["secret_token"] == "s3cret-value"
        assert not any(m == "getUpdates" for m, _ in tg.requests), "no polling in webhook mode"

        def post(update, secret):
            headers = {"Content-Type": "application/json"} | (
                {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {})
            req = urllib.request.Request(f"http://127.0.0.1:{port}/quantd-hook", json.dumps(update).encode(), headers)
            try:
                return urllib.request.urlopen(req, timeout=5).status
            except urllib.error.HTTPError as exc:
                return exc.code

        forged = command(data_dir, "/pause")
        assert post(forged, None) == 403 and post(forged, "wrong") == 403
        update = command(data_dir, "/status")
        assert post(update, "s3cret-value") == 200
        assert "mode      paper" in "\n".join(m["text"] for m in _replies(tg, update))
        assert desk.engine.risk.breaker.state.value == "running", "the forged /pause did nothing"
    finally:
        desk.close()


def test_telegram_config_errors_name_the_field(tmp_path):
    from bot.config import load_settings
    from engine.errors import ConfigError
    with pytest.raises(ConfigError, match=r"telegram\.webhook_url .*only posts to https://"):
        load_settings(telegram={"webhook_url": "http://bot.example.com/hook"})
    with pytest.raises(ConfigError, match=r"telegram\.alerts .*unknown alert type\(s\) \['fils'\]"):
        load_settings(telegram={"alerts": {"fils": "off"}})
    with pytest.raises(ConfigError, match=r"telegram\.admins\.0 \(QUANTD_TELEGRAM__ADMINS__0\)"):
        load_settings(telegram={"admins": ["@alice"]})


def test_the_daemon_process_answers_from_telegram_and_says_goodbye(tmp_path, tg, data_dir):
    import signal
    import subprocess

    from tests.cli_helpers import clean_env, quantd_cmd
    env = clean_env(QUANTD_TELEGRAM__TOKEN=TOKEN, QUANTD_TELEGRAM__API_BASE_URL=tg.url,
                    QUANTD_TELEGRAM__ADMINS=f"[{ADMIN}]", QUANTD_REPLAY__SPEED="20")
    proc = subprocess.Popen(quantd_cmd() + ["run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        tg.wait_for(lambda s: any("quantd started in paper mode" in m.get("text", "") for m in s), timeout=30)
        assert "mode      paper" in _ask(tg, data_dir, "/status")
        assert "pause: paused" in _ask(tg, data_dir, "/pause")
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    tg.wait_for(lambda s: any("quantd stopped: received SIGINT" in m.get("text", "") for m in s), timeout=5)
    assert TOKEN not in out


def test_cancel_one_order_or_all_after_confirmation(desk, tg, data_dir):
    assert "You are admin" in _ask(tg, data_dir, "/start")
    assert "no working order" in _ask(tg, data_dir, "/cancel all")
    assert "usage: /cancel &lt;order|all&gt;" in _ask(tg, data_dir, "/cancel"), "escaped for HTML"
    msg = _keyboard_message(tg, data_dir, "/flatten all")
    _press(tg, data_dir, msg, "Confirm")
    until(lambda: len(desk.engine.oms.open_orders()) == 1)
    (sell,) = desk.engine.oms.open_orders()
    until(lambda: desk.stored_status(sell.client_order_id) == "open")  # the engine tracks it just before its commit
    assert sell.client_order_id in _ask(tg, data_dir, "/orders")
    reply = _ask(tg, data_dir, f"/cancel {sell.client_order_id}")
    assert f"cancel {sell.client_order_id}: {sell.client_order_id} canceled" in reply
    assert sell.status.value == "canceled" and "canceled by telegram:1111111" in sell.reason
    assert "no working order qd-nope-1" in _ask(tg, data_dir, "/cancel qd-nope-1")
    msg = _keyboard_message(tg, data_dir, "/flatten")
    _press(tg, data_dir, msg, "Confirm")
    until(lambda: len(desk.engine.oms.open_orders()) == 1)
    (sell,) = desk.engine.oms.open_orders()
    until(lambda: desk.stored_status(sell.client_order_id) == "open")  # /cancel all counts the stored orders
    ask = _keyboard_message(tg, data_dir, "/cancel all")
    assert "Cancel all 1 working order(s)?" in ask["text"]
    _press(tg, data_dir, ask, "Confirm")
    until(lambda: desk.engine.oms.open_orders() == [])
    assert desk.engine.oms.portfolio.position("BTC/USDT").is_open, "nothing sold: the exit was canceled"


def test_resume_from_a_halt_asks_to_confirm(desk, tg, data_dir):
    from engine.store.journal import queue_command
    queue_command(desk.store, "pause", "test", 0)
    until(lambda: desk.engine.risk.breaker.state.value == "paused")
    assert "resume: resumed" in _ask(tg, data_dir, "/resume"), "from paused: no confirmation needed"
    with desk._lock:  # as a limit does on the engine thread: trip, then journal it
        desk.engine.risk.breaker.trip("max_drawdown: test", 1)
        desk.engine.journal.risk_recorded([], desk.engine.risk.breaker)
    msg = _keyboard_message(tg, data_dir, "/resume")
    assert "Resume trading? The circuit breaker halted: max_drawdown: test" in msg["text"]
    assert desk.engine.risk.breaker.state.value == "halted", "nothing happens before the press"
    _press(tg, data_dir, msg, "Confirm")
    until(lambda: desk.engine.risk.breaker.state.value == "running")


def test_start_sets_a_persistent_keyboard_and_help_is_grouped_by_role(desk, tg, data_dir):
    import json

    update = command(data_dir, "/start")
    tg.push(update)
    (reply,) = _replies(tg, update)
    markup = reply["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    assert markup["is_persistent"] is True and markup["resize_keyboard"] is True
    rows = [[b if isinstance(b, str) else b["text"] for b in row] for row in markup["keyboard"]]
    assert rows[0] == ["/status", "/positions", "/profit"] and ["/help"] == rows[-1][-1:]
    admin_help = _ask(tg, data_dir, "/help")
    for heading in ("Now:", "Results:", "Operate (admin):", "Research:", "Settings:"):
        assert heading in admin_help
    assert admin_help.index("Now:") < admin_help.index("/status") < admin_help.index("Results:") \
        < admin_help.index("/stats") < admin_help.index("Operate (admin):") < admin_help.index("/pause")
    viewer_help = _ask(tg, data_dir, "/help", VIEWER)
    assert "Operate (admin):" not in viewer_help and "Commands for viewers" in viewer_help
    assert "Results:" in viewer_help


def _confirmed(tg, data_dir, text: str) -> str:
    """Send an admin command that asks to confirm, press Confirm, return the edited result."""
    msg = _keyboard_message(tg, data_dir, text)
    before = len(tg.sent)
    _press(tg, data_dir, msg, "Confirm")
    sent = tg.wait_for(lambda s: any(m["method"] == "editMessageText" for m in s[before:]))
    return [m for m in sent[before:] if m["method"] == "editMessageText"][-1]["text"]


def test_manual_buy_and_partial_sell_go_through_risk_with_the_operator_recorded(desk, tg, data_dir):
    from decimal import ROUND_DOWN, Decimal

    from tests.db_helpers import rows

    assert "/sell needs the admin role" in _ask(tg, data_dir, "/sell BTC/USDT 50", VIEWER)
    assert "XRP/USDT is not traded here" in _ask(tg, data_dir, "/buy XRP/USDT 100")
    assert "is not a number\nusage: /buy &lt;symbol&gt; [quote_amount]" in _ask(tg, data_dir, "/buy BTC/USDT lots")
    assert "above 100" in _ask(tg, data_dir, "/sell BTC/USDT 150")
    assert "needs a price" in _ask(tg, data_dir, "/limit_sell BTC/USDT")
    assert "pause: paused" in _ask(tg, data_dir, "/pause")
    refused = _confirmed(tg, data_dir, "/buy BTC/USDT 100")
    assert "buy rejected: circuit_breaker: breaker paused: paused by telegram:1111111" in refused, refused
    assert "resume: resumed" in _ask(tg, data_dir, "/resume")

    held = desk.engine.oms.portfolio.position("BTC/USDT").qty
    result = _confirmed(tg, data_dir, "/sell BTC/USDT 50")
    assert "BTC/USDT: sell open qd-" in result, result
    (order,) = desk.engine.oms.open_orders()
    assert order.qty == (held / 2).quantize(Decimal("0.00001"), rounding=ROUND_DOWN)
    assert order.intent == "manual sell by telegram:1111111(@Testusername)"
    desk.advance(2)
    left = desk.engine.oms.portfolio.position("BTC/USDT").qty
    assert left == held - order.qty and left > 0, "a partial exit"
    audit = rows(desk.store_path, "SELECT command, requested_by, result FROM operator_commands "
                                  "WHERE command LIKE 'sell%'")
    assert audit == [("sell BTC/USDT 50", "telegram:1111111(@Testusername)", result.split("\n")[-1].split(": ", 1)[1])]


def test_logs_and_config_for_admins_with_secrets_redacted_and_sources_named(desk, tg, data_dir, monkeypatch):
    root = logging.getLogger()
    monkeypatch.setattr(root, "level", logging.INFO)  # as the daemon runs it, whatever earlier tests in this process set
    from bot.logs import recent_lines

    assert "pause: paused" in _ask(tg, data_dir, "/pause")
    logging.getLogger("quantd.test").warning("a line that quotes the token %s by mistake", TOKEN)
    until(lambda: any("operator pause by" in line for line in recent_lines().last(50, logging.WARNING)))
    update = command(data_dir, "/logs 30 warning")  # several messages when long: wait for the newest line
    tg.push(update)
    tg.wait_for(lambda s: any("quotes the token" in m.get("text", "") for m in s))
    logs = "\n".join(m["text"] for m in _replies(tg, update))
    assert "operator pause by telegram:1111111" in logs and "quotes the token &lt;telegram token&gt;" in logs
    assert TOKEN not in logs and " INFO " not in logs, "warning and above only"
    assert "usage: /logs" in _ask(tg, data_dir, "/logs 500")
    assert "/logs needs the admin role" in _ask(tg, data_dir, "/logs", VIEWER)
    config = _ask(tg, data_dir, "/config")
    assert "telegram.token = ********  (cli)" in config and TOKEN.split(":")[1] not in config
    assert "risk.max_drawdown_pct = null  (default)" in config and "strategy.params = " in config
    assert "replay.speed = 1.0  (cli)" in config
    risk = _ask(tg, data_dir, "/config risk").replace("<pre>", "").replace("</pre>", "")
    assert risk.count("\n") > 10 and all(line.startswith("risk.") for line in risk.splitlines()[1:])
    assert "sections: backup, daemon, exchange" in _ask(tg, data_dir, "/config nosuch")


def test_reload_applies_risk_and_alert_changes_and_refuses_an_exchange_change(tmp_path, tg, data_dir):
    from decimal import Decimal

    from tests.telegram_helpers import Desk

    cfg = tmp_path / "quantd.yaml"
    cfg.write_text("risk: {max_order_notional: 5000}\ntelegram: {alerts: {fill: 'on'}}\n")
    desk = Desk(tmp_path, tg.url, config_file=cfg)
    try:
        assert "/reload needs the admin role" in _ask(tg, data_dir, "/reload", VIEWER)
        cfg.write_text("risk: {max_order_notional: 100}\ntelegram: {alerts: {fill: 'off'}}\n")
        result = _confirmed(tg, data_dir, "/reload")
        assert "reloaded: risk.max_order_notional: 5000 -&gt; 100; telegram.alerts.fill: on -&gt; off" in result, result
        assert desk.telegram.policy.mode("fill") == "off"
        desk.until_position()
        (buy,) = [o for o in desk.engine.oms.orders.values() if o.side.value == "buy"]
        assert buy.quote_qty == Decimal(100), "the next order obeys the reloaded limit"
        cfg.write_text("risk: {max_order_notional: 100}\nexchange: {id: kraken}\n")
        refused = _confirmed(tg, data_dir, "/reload")
        assert "reload refused, nothing changed: exchange.id cannot change while the daemon runs" in refused
        assert desk.telegram.policy.mode("fill") == "off", "a refused reload changes nothing"
    finally:
        desk.close()


def test_a_reload_that_turns_on_an_atr_stop_starts_atr_and_sets_the_stop(tmp_path, tg, data_dir):
    from tests.telegram_helpers import Desk

    cfg = tmp_path / "quantd.yaml"
    cfg.write_text("risk: {max_order_notional: 5000}\n")
    desk = Desk(tmp_path, tg.url, config_file=cfg)
    try:
        runner = desk.engine.lanes[0].runner
        desk.advance(20)
        assert runner.atr.value is None, "nothing read ATR: it was not kept"
        cfg.write_text("risk: {max_order_notional: 5000, stop_loss_atr: 2}\n")
        result = _confirmed(tg, data_dir, "/reload")
        assert "risk.stop_loss_atr: null -&gt; 2.0" in result, result
        assert "ATR(14) starts now for BTC/USDT: ATR-based levels and stakes wait 14 candles" in result
        desk.advance(15)
        assert runner.atr.value is not None and runner.atr.value > 0
        desk.until_position()
        stop = desk.engine.risk.protections["BTC/USDT"].stop_price
        assert stop is not None and stop < desk.engine.oms.portfolio.position("BTC/USDT").avg_price
    finally:
        desk.close()


def test_locks_lists_pair_locks_and_unlock_ends_one_after_confirmation(tmp_path, tg, data_dir):
    from tests.telegram_helpers import Desk

    cfg = tmp_path / "quantd.yaml"
    cfg.write_text("risk: {cooldown_candles: 100000}\n")
    desk = Desk(tmp_path, tg.url, config_file=cfg)
    try:
        assert "no pair is locked" in _ask(tg, data_dir, "/locks", VIEWER)
        for _ in range(800):
            desk.advance(1)
            if desk.engine.risk.pair_locks.locks:
                break
        locks = _ask(tg, data_dir, "/locks", VIEWER)
        assert "BTC/USDT until " in locks and "(cooldown): cooldown of 100000 candle(s) after an exit" in locks
        assert "/unlock needs the admin role" in _ask(tg, data_dir, "/unlock BTC/USDT", VIEWER)
        assert "usage: /unlock" in _ask(tg, data_dir, "/unlock")
        assert "ETH/USDT is not locked" in _ask(tg, data_dir, "/unlock ETH/USDT")
        assert "unlock BTC/USDT: unlocked: BTC/USDT" in _confirmed(tg, data_dir, "/unlock BTC/USDT")
        assert "no pair is locked" in _ask(tg, data_dir, "/locks")
    finally:
        desk.close()


def _prompts(tg) -> list[dict]:
    """The approval prompts the bot sent (not the edits of their answers)."""
    return [m for m in tg.sent if m["method"] == "sendMessage" and "Entry waiting for your approval" in m.get("text", "")]


def _until_an_entry_waits(desk, tg, prompts, n: int) -> None:
    """Release candles until an entry waits, stopping the clock at once (its deadline is 60 s of
    engine time), then wait for the ``n``-th prompt."""
    for _ in range(600):
        if desk.engine.lanes[0].runner.approvals.pending:
            break
        desk.advance(1)
    tg.wait_for(lambda s: len(prompts()) >= n)


def test_approve_each_entry_holds_entries_for_an_admin_and_skips_them_without_an_answer(tmp_path, tg, data_dir):
    from tests.db_helpers import rows
    from tests.telegram_helpers import Desk

    desk = Desk(tmp_path, tg.url, approve_entries=True)
    prompts = lambda: _prompts(tg)  # noqa: E731
    try:
        _until_an_entry_waits(desk, tg, prompts, 1)
        (prompt,) = prompts()
        assert prompt["chat_id"] == ADMIN and "sma_cross(fast=5, slow=20) BUY on BTC/USDT" in prompt["text"]
        assert [b["text"] for b in prompt["reply_markup"]["inline_keyboard"][0]] == ["Approve", "Skip"]
        assert desk.engine.oms.orders == {}, "nothing goes to the venue before the answer"
        before = len(tg.sent)
        _press(tg, data_dir, prompt, "Approve")
        sent = tg.wait_for(lambda s: any(m["method"] == "editMessageText" for m in s[before:]))
        result = [m for m in sent[before:] if m["method"] == "editMessageText"][-1]["text"]
        assert "approve e1: entry e1 on BTC/USDT: buy open qd-" in result, result
        (buy,) = desk.engine.oms.orders.values()
        assert buy.intent.endswith("(approved by telegram:1111111(@Testusername))")
        for _ in range(600):  # the exit is never held: the strategy's sell goes out by itself
            desk.advance(1)
            if any(o.side.value == "sell" and o.status.value == "filled" for o in desk.engine.oms.orders.values()):
                break
        assert len(prompts()) <= 2
        _until_an_entry_waits(desk, tg, prompts, 2)
        orders = len(desk.engine.oms.orders)
        desk.advance(1)  # five minutes of engine time pass: past the 60 s deadline, unanswered
        until(lambda: not desk.engine.lanes[0].runner.approvals.pending)
        assert len(desk.engine.oms.orders) == orders, "no answer: no order"
        query = "SELECT json_extract(payload, '$.reason') FROM events WHERE kind='entry_skipped'"
        until(lambda: rows(desk.store_path, query))  # the step thread commits the event after clearing pending
        assert rows(desk.store_path, query) == [("no answer before the deadline",)]
    finally:
        desk.close()


def test_limit_sell_rests_at_its_price_until_a_candle_trades_through_it(desk, tg, data_dir):
    from decimal import Decimal

    held = desk.engine.oms.portfolio.position("BTC/USDT").qty
    far = Decimal(10 ** 6)
    result = _confirmed(tg, data_dir, f"/limit_sell BTC/USDT {far} 100")
    assert "BTC/USDT: limit_sell open qd-" in result, result
    (order,) = desk.engine.oms.open_orders()
    assert order.type.value == "limit" and order.price == far and order.qty == held
    assert order.intent == "manual limit sell by telegram:1111111(@Testusername)"
    desk.advance(5)
    assert order.status.value == "open", "no candle traded through a price of a million"
    assert "cancel " in _ask(tg, data_dir, f"/cancel {order.client_order_id}")


def test_skip_on_a_held_entry_skips_it_at_once(tmp_path, tg, data_dir):
    from tests.db_helpers import rows
    from tests.telegram_helpers import Desk

    desk = Desk(tmp_path, tg.url, approve_entries=True)
    prompts = lambda: _prompts(tg)  # noqa: E731
    try:
        _until_an_entry_waits(desk, tg, prompts, 1)
        before = len(tg.sent)
        _press(tg, data_dir, prompts()[0], "Skip")
        sent = tg.wait_for(lambda s: any(m["method"] == "editMessageText" for m in s[before:]))
        result = [m for m in sent[before:] if m["method"] == "editMessageText"][-1]["text"]
        assert "skip e1: entry e1 on BTC/USDT skipped" in result, result
        assert desk.engine.oms.orders == {} and not desk.engine.lanes[0].runner.approvals.pending
        assert rows(desk.store_path, "SELECT json_extract(payload, '$.reason') FROM events "
                                     "WHERE kind='entry_skipped'") == [("skipped by telegram:1111111(@Testusername)",)]
    finally:
        desk.close()
