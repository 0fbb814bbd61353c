"""Alert delivery: the outbox survives Telegram outages and restarts, honours RetryAfter and
Telegram's pacing, never sends twice, and never holds up trading."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter

from bot.telegram.text import split_text
from engine.store.outbox import OutboxRow, enqueue, pending_count
from tests.db_helpers import rows
from tests.telegram_helpers import ADMIN, Desk, command, until


def _alerts(tg) -> list[str]:
    return [m["text"] for m in tg.sent if m["method"] == "sendMessage" and "reply_parameters" not in m]


def _delivered_all(desk) -> bool:
    return pending_count(desk.store) == 0



def test_telegram_down_then_back_delivers_every_alert_in_order_once_and_trading_goes_on(tmp_path, tg):
    desk = Desk(tmp_path, tg.url)
    try:
        until(lambda: any("quantd started" in t for t in _alerts(tg)))
        tg.down = True
        candles_before = desk.engine.candles_processed
        desk.advance(400)  # trades while Telegram answers 502
        assert desk.engine.candles_processed - candles_before == 400, "trading never waited for Telegram"
        queued = pending_count(desk.store)
        assert queued >= 4, "fills were queued while Telegram was down"
        time.sleep(1.0)
        assert pending_count(desk.store) == queued, "nothing is lost or marked sent while down"
        sender = desk.telegram.service.sender
        assert "NetworkError" in sender.last_error or "Bad Gateway" in sender.last_error
        tg.down = False
        sender.backoff_secs = 0.5  # do not wait out a long backoff in a test
        until(lambda: _delivered_all(desk), timeout=30)
    finally:
        desk.close()
    with desk_store(tmp_path) as rows:
        expected = [r.text for r in rows if r.error == ""]
    delivered = [t.split("\n", 1)[1] for t in _alerts(tg)]
    assert delivered == expected, "every alert once, in the order it was raised"
    fills = [t for t in delivered if t.startswith("FILL")]
    assert len(fills) == len(desk.engine.oms.orders), "one fill alert per order (each filled once here)"


class desk_store:  # noqa: N801  (a context manager reading the outbox after the daemon stopped)
    def __init__(self, tmp_path):
        from engine.store import open_store
        self.store = open_store(f"sqlite:///{tmp_path / 'q.sqlite'}", create=False)

    def __enter__(self):
        with self.store.read() as s:
            return s.query(OutboxRow).order_by(OutboxRow.id).all()

    def __exit__(self, *exc):
        self.store.close()


def test_retry_after_is_honoured(tmp_path, tg):
    tg.retry_after = [2]
    desk = Desk(tmp_path, tg.url)
    try:
        started = time.monotonic()
        until(lambda: any("quantd started" in t for t in _alerts(tg)), timeout=20)
        waited = time.monotonic() - started
    finally:
        desk.close()
    sends = [r for r in tg.requests if r[0] == "sendMessage"]
    assert waited >= 1.9, "the second attempt came only after Telegram's retry_after"
    assert len([1 for t in _alerts(tg) if "quantd started" in t]) == 1
    assert len(sends) >= 2


def test_alerts_left_undelivered_at_a_stop_go_out_after_the_restart(tmp_path, tg, data_dir):
    tg.down = True
    desk = Desk(tmp_path, tg.url)
    desk.advance(300)
    desk.close("first run")
    queued = [r.text for r in desk_store(tmp_path).__enter__()]
    assert _alerts(tg) == [] and any(t.startswith("FILL") for t in queued)
    tg.down = False
    again = Desk(tmp_path, tg.url)
    try:
        until(lambda: _delivered_all(again), timeout=30)
    finally:
        again.close()
    delivered = [t.split("\n", 1)[1] for t in _alerts(tg)]
    assert delivered[:len(queued)] == queued, "the backlog first, in order"
    assert "quantd stopped: first run" in delivered
    assert sum(t == queued[0] for t in delivered) == 1, "nothing twice"


def test_repeats_fold_into_one_alert_with_a_count(tmp_path):
    from engine.store import open_store
    store = open_store(f"sqlite:///{tmp_path / 'o.sqlite'}")
    chats = [(ADMIN, None)]
    for i in range(5):
        enqueue(store, "stale_data", "STALE DATA BTC/USDT: no candle", chats, False, 1_000 + i, 600_000)
    with store.read() as s:
        (row,) = s.query(OutboxRow).all()
        assert row.count == 5
    from engine.store.outbox import mark_sent
    mark_sent(store, row.id, 2_000)
    enqueue(store, "stale_data", "STALE DATA BTC/USDT: no candle", chats, False, 3_000, 600_000)
    enqueue(store, "stale_data", "STALE DATA BTC/USDT: no candle", chats, False, 4_000, 600_000)
    with store.read() as s:
        held = s.query(OutboxRow).filter(OutboxRow.sent_ms.is_(None)).one()
        assert (held.count, held.not_before_ms) == (2, 602_000), "repeats after a send wait for the window"
    enqueue(store, "stale_data", "STALE DATA BTC/USDT: no candle", chats, False, 700_000, 600_000)
    assert pending_count(store) == 2, "after the window a new alert is queued"
    store.close()


def test_split_text_keeps_lines_and_limits():
    text = "\n".join(f"line {i:05d} " + "x" * 90 for i in range(120))
    parts = split_text(text)
    assert len(text) > 10_000 and all(len(p) <= 4096 for p in parts) and "\n".join(parts) == text
    assert split_text("y" * 9000) == ["y" * 4096, "y" * 4096, "y" * 808]


def test_alert_modes_from_chat_off_silent_and_persisted(tmp_path, tg, data_dir):
    desk = Desk(tmp_path, tg.url)
    try:
        until(lambda: any("quantd started" in t for t in _alerts(tg)))
        tg.push(command(data_dir, "/alerts silent"))
        until(lambda: desk.telegram.policy.mode("startup") == "silent")
        tg.push(command(data_dir, "/alerts off fill"))
        until(lambda: desk.telegram.policy.mode("fill") == "off")
        before = len(_alerts(tg))
        desk.advance(300)
        time.sleep(0.5)
        assert not [t for t in _alerts(tg)[before:] if "FILL" in t], "fills are off"
    finally:
        desk.close()
    again = Desk(tmp_path, tg.url)
    try:
        assert again.telegram.policy.modes() == {**{k: "silent" for k in again.telegram.policy.modes()}, "fill": "off"}
        until(lambda: any("resumed from the store" in m.get("text", "") for m in tg.sent))
        started = [m for m in tg.sent if "resumed from the store" in m.get("text", "")]
        assert started[-1]["disable_notification"] is True
    finally:
        again.close()


def test_a_restart_after_a_crash_and_the_daily_summary_are_alerted(tmp_path, tg):
    desk = Desk(tmp_path, tg.url)
    desk.advance(50)
    desk._stop.set()  # a crash: the process dies without recording a clean stop
    desk._thread.join()
    desk.telegram.stop()
    desk.store.close()
    again = Desk(tmp_path, tg.url)
    try:
        again.telegram.daily_summary()
        until(lambda: any("Daily summary" in t for t in _alerts(tg)))
    finally:
        again.close()
    texts = _alerts(tg)
    crash = [t for t in texts if t.startswith("<b>Restarted after a crash</b>")]
    assert len(crash) == 1 and "never stopped cleanly" in crash[0]
    summary = next(t for t in texts if t.startswith("<b>Daily summary</b>"))
    assert "equity" in summary and "2020-12-15" in summary
    assert sum("Restarted after a crash" in t for t in texts) == 1, "a clean first start is not a crash"


def test_the_pacer_keeps_telegrams_per_chat_and_overall_limits():
    import asyncio

    from bot.telegram.sender import Pacer

    async def send_times(pacer, chats):
        times = []
        for chat in chats:
            await pacer.wait(chat)
            times.append((chat, time.monotonic()))
        return times

    per_chat = asyncio.run(send_times(Pacer(per_chat=10.0, overall=1000.0), [1] * 5))
    gaps = [b[1] - a[1] for a, b in zip(per_chat, per_chat[1:])]
    assert min(gaps) >= 0.099, "one chat: at most 10 per second here (Telegram: 1)"
    overall = asyncio.run(send_times(Pacer(per_chat=1000.0, overall=5.0), list(range(11))))
    first, last = overall[0][1], overall[-1][1]
    assert last - first >= 1.99, "eleven chats at 5 per second overall need two full seconds"
    window = [t for _, t in overall if t - first < 1.0]
    assert len(window) <= 5


def test_alerts_of_events_committed_just_before_a_crash_are_queued_at_the_restart(tmp_path, tg):
    """An event is committed with its state change; its alert is queued just after. A crash in
    between would lose the alert: the restart compares the interrupted run's events with its
    queued alerts and queues what is missing, once."""
    desk = Desk(tmp_path, tg.url)
    desk.until_position()
    desk.advance(200)
    desk._stop.set()  # crash: no clean stop recorded
    desk._thread.join()
    desk.telegram.stop()
    db = tmp_path / "q.sqlite"
    fills = rows(db, "SELECT id, text FROM outbox WHERE kind = 'fill' ORDER BY id")
    assert len(fills) >= 2
    lost = [text for _, text in fills[-2:]]
    desk.store.close()
    with sqlite3.connect(db) as con:  # as if the process died before queueing the last two
        con.execute("DELETE FROM outbox WHERE id >= ?", (fills[-2][0],))
    sent_before = len(tg.sent)
    again = Desk(tmp_path, tg.url)
    try:
        until(lambda: sum(any(t in m.get("text", "") for t in lost) for m in tg.sent[sent_before:]) >= 2)
    finally:
        again.close()
    queued = [text for (text,) in rows(db, "SELECT text FROM outbox WHERE kind = 'fill' ORDER BY id")]
    assert [t for t in queued if t in lost] == lost, "each lost alert queued once, in event order"
    assert Counter(queued) == Counter(text for _, text in fills), "nothing queued twice"
