"""/reconcile from the phone against the fake Binance through the real ccxt class: each
finding in words, an external order adopted with its button, a balance drift accepted
(re-baselined) so the breaker it halted resumes; paper mode has nothing to reconcile."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.config import load_settings
from engine.store import load_state
from tests.live_helpers import make_venue
from tests.telegram_helpers import ADMIN, TOKEN, VIEWER, SteppedDaemon, command
from tests.test_telegram_commands import _ask, _press, _replies


class LiveDesk(SteppedDaemon):
    """A live daemon on the fake Binance with its bot on the fake Telegram, stepped by a thread."""

    def __init__(self, tmp_path, venue, tg_url):
        self._start(load_settings(
            mode="live", store={"url": f"sqlite:///{tmp_path / 'live.sqlite'}"}, vault={"dir": str(tmp_path / "v")},
            exchange={"api_url": venue.url, "api_key": "k", "secret": "s", "timeout_ms": 1000, "rate_limit_ms": 5,
                      "reconcile_secs": 3600},
            strategy={"timeframe": "1m", "params": {"fast": 3, "slow": 8}, "stake": "200"},
            telegram={"token": TOKEN, "admins": [ADMIN], "viewers": [VIEWER], "api_base_url": tg_url,
                      "max_per_chat_per_sec": 200.0}))

    def close(self, reason: str = "test") -> None:
        super().close(reason)
        self.engine.oms.gateway.close()


@pytest.fixture
def live(tmp_path, tg, data_dir):
    venue = make_venue(data_dir, row=300, usdt="1000")
    desk = LiveDesk(tmp_path, venue, tg.url)
    yield desk, venue
    desk.close()
    venue.stop()


def _finding(tg, data_dir, text: str) -> dict:
    """Send ``text``; return the reply that carries buttons (after the run's summary)."""
    update = command(data_dir, text)
    tg.push(update)
    replies = _replies(tg, update, at_least=2)
    return next(m for m in replies if "reply_markup" in m)


def _press_and_result(tg, data_dir, msg, choice: str) -> str:
    before = len(tg.sent)
    _press(tg, data_dir, msg, choice)
    sent = tg.wait_for(lambda s: any(m["method"] == "editMessageText" for m in s[before:]))
    return [m for m in sent[before:] if m["method"] == "editMessageText"][-1]["text"]


def test_reconcile_reports_findings_in_words_and_acts_on_the_buttons(live, tg, data_dir):
    desk, venue = live
    assert "/reconcile needs the admin role" in _ask(tg, data_dir, "/reconcile", VIEWER)
    assert "store and exchange agree" in _ask(tg, data_dir, "/reconcile")

    external = venue.place_external("BTCUSDT", "BUY", "0.00100", "30000", client_order_id="web_manual_7")
    msg = _finding(tg, data_dir, "/reconcile")
    assert f"External order {external} on BTC/USDT: buy 0.00100000 @ 30000" in msg["text"] or \
        f"External order {external} on BTC/USDT: buy" in msg["text"], msg["text"]
    assert "The store has no such order" in msg["text"]
    assert [b["text"] for b in msg["reply_markup"]["inline_keyboard"][0]] == ["Adopt", "Ignore"]
    result = _press_and_result(tg, data_dir, msg, "Adopt")
    assert "adopted: quantd manages it from now on" in result, result
    assert "web_manual_7" in desk.engine.oms.orders

    venue.free["USDT"] += Decimal(500)  # a deposit the daemon did not make
    msg = _finding(tg, data_dir, "/reconcile")
    assert "Balance of USDT: the store expects" in msg["text"] and "effect on equity +500.00 USDT" in msg["text"]
    assert [b["text"] for b in msg["reply_markup"]["inline_keyboard"][0]] == ["Accept (re-baseline)", "Keep halted"]
    assert desk.engine.risk.breaker.state.value == "halted", "a balance drift halts"
    result = _press_and_result(tg, data_dir, msg, "Accept (re-baseline)")
    assert "re-baselined: USDT +500" in result and "resumed from halted" in result, result
    assert desk.engine.risk.breaker.state.value == "running"
    assert load_state(desk.store).baseline["USDT"] == Decimal(1500)
    assert "store and exchange agree" in _ask(tg, data_dir, "/reconcile")


def test_reconcile_in_paper_mode_says_there_is_nothing_to_reconcile(desk, tg, data_dir):
    assert "paper mode: nothing is on an exchange" in _ask(tg, data_dir, "/reconcile")
