"""Telegram updates built from the real samples in ``fixtures/telegram/``, and a paper daemon
with its bot running against :class:`tests.fakes.telegram.FakeTelegram`.

The samples are Telegram's own webhook-guide examples (``/start`` message, callback
query). As the shared data README notes, they predate Bot API 3.0, so the same documented
edits are applied here: ``is_bot`` on users, a ``bot_command`` entity on commands, and for
the callback query a ``chat_instance`` and the ``message`` that carried the buttons.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from pathlib import Path

from bot.app import build_engine
from bot.config import load_settings
from bot.reload import Reloader
from bot.telegram.daemon import DaemonTelegram

TOKEN = "123456:TEST-token"
ADMIN, VIEWER, STRANGER = 1111111, 2222222, 9999999
_ids = itertools.count(500_000)


def _sample(data_dir: Path, name: str) -> dict:
    return json.loads((data_dir / "fixtures/telegram/core-telegram-org-webhooks" / name).read_text())


def command(data_dir: Path, text: str, user_id: int = ADMIN, chat_id: int | None = None,
            chat_type: str = "private", thread_id: int | None = None) -> dict:
    """A message Update carrying ``text`` (a command and its arguments) from ``user_id``."""
    update = copy.deepcopy(_sample(data_dir, "message_text_start.json"))
    update["update_id"] = next(_ids)
    msg = update["message"]
    msg["message_id"] = next(_ids)
    msg["date"] = int(time.time())
    msg["from"] |= {"id": user_id, "is_bot": False}
    chat_id = user_id if chat_id is None else chat_id
    msg["chat"] = msg["chat"] | {"id": chat_id, "type": chat_type}
    if chat_type != "private":
        msg["chat"] = {"id": chat_id, "type": chat_type, "title": "desk", "is_forum": thread_id is not None}
    if thread_id is not None:
        msg["message_thread_id"], msg["is_topic_message"] = thread_id, True
    msg["text"] = text
    word = text.split()[0]
    msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(word)}]
    return update


def button_press(data_dir: Path, data: str, user_id: int, message: dict) -> dict:
    """A callback_query Update: ``user_id`` pressed the button with ``data`` under ``message``
    (a message the bot sent: the fake's record of it)."""
    update = copy.deepcopy(_sample(data_dir, "callback_query.json"))
    update["update_id"] = next(_ids)
    query = update["callback_query"]
    query["id"] = str(next(_ids))
    query["from"] = {k: v for k, v in query["from"].items() if k != "type"} | {"id": user_id, "is_bot": False}
    query["data"] = data
    query.pop("inline_message_id")
    query["chat_instance"] = "-4711"
    query["message"] = {"message_id": message["result"]["message_id"], "date": int(time.time()),
                        "chat": {"id": message["chat_id"], "type": "private"}, "text": message["text"],
                        "from": {"id": 123456, "is_bot": True, "first_name": "quantd test bot"}}
    return update


def until(predicate, timeout: float = 15.0) -> None:
    """Wait for ``predicate()`` to hold (polling every 50 ms); fails the test on timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


class SteppedDaemon:
    """A daemon wired by ``build_engine`` with its Telegram bot, stepped by a thread every 50 ms
    as the scheduler does; :meth:`close` stops both."""

    def _start(self, settings, before_loop=None) -> None:
        self.settings = settings
        self.telegram = DaemonTelegram(settings)
        self.engine, self.store = build_engine(settings, self.telegram.subscribers)
        if before_loop is not None:
            before_loop()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        self.telegram.start(self.engine)

    def _loop(self) -> None:
        while not self._stop.wait(0.05):
            with self._lock:
                self.engine.step()

    def close(self, reason: str = "test") -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.engine.stop(reason)
        self.telegram.stop()
        self.store.close()


class Desk(SteppedDaemon):
    """A paper daemon on the bundled sample with its Telegram bot, stepped by a thread like
    the scheduler does. ``advance(n)`` releases ``n`` more candle close times."""

    def __init__(self, tmp_path: Path, base_url: str, config_file: Path | None = None,
                 strategy: dict | None = None, **telegram):
        self.clock = 0.0
        self.store_path = tmp_path / "q.sqlite"
        tg = {"token": TOKEN, "admins": [ADMIN], "viewers": [VIEWER], "api_base_url": base_url,
              "max_per_chat_per_sec": 200.0} | telegram  # pacing has its own test; replays make many fills
        settings = load_settings(config_file, store={"url": f"sqlite:///{tmp_path / 'q.sqlite'}"},
                                 replay={"speed": 1.0},
                                 strategy=strategy or {"params": {"fast": 5, "slow": 20}},
                                 vault={"dir": str(tmp_path / "vault")}, telegram=tg)

        def before_loop() -> None:
            self.engine.reloader = Reloader(self.settings, self.engine, self.telegram)
            self.engine.lanes[0].market.feed._clock = lambda: self.clock
            self.engine.step()  # starts the replay clock

        self._start(settings, before_loop)

    def advance(self, close_times: int) -> None:
        with self._lock:
            self.clock += close_times
            self.engine.step()

    def until_position(self, max_candles: int = 600) -> None:
        for _ in range(max_candles):
            self.advance(1)
            if self.engine.oms.portfolio.position("BTC/USDT").is_open and not self.engine.oms.open_orders():
                return
        raise AssertionError("no position opened")

    def stored_status(self, client_order_id: str) -> str | None:
        """The order's status as the store has it (what the bot reads), None before its commit."""
        from sqlalchemy import select

        from engine.store.orders import OrderRow

        with self.store.read() as s:
            return s.execute(select(OrderRow.status).where(OrderRow.client_order_id == client_order_id)).scalar()

