"""Delivers the outbox to Telegram without ever holding up trading.

Runs on the bot's event loop. Per round it takes the due messages oldest first and sends
each, in parts of at most 4096 characters, paced to Telegram's limits (by default 1
message per second per chat, 30 per second overall). On ``RetryAfter`` it waits what
Telegram asks; on a network error or timeout it backs off exponentially (1 s doubling to
60 s) and starts again from the same message, so alerts stay in order and none is lost or
sent twice (a long message resumes after its last delivered part). A chat that refuses the
bot (blocked, not found) gets its message marked given-up with the reason, and the others
go on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.telegram.alerting import title
from bot.telegram.text import MAX_CHARS, split_text, to_html
from engine.live import wall_ms
from engine.store.base import Store
from engine.store.outbox import OutboxMessage, due, mark_part_sent, mark_sent

log = logging.getLogger("quantd.telegram")


def retry_after_secs(exc: RetryAfter) -> float:
    """Seconds Telegram asked to wait (python-telegram-bot gives an int or a timedelta)."""
    value = exc.retry_after
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


def message_parts(msg: OutboxMessage) -> list[str]:
    """The HTML parts of a queued alert: the first carries the heading (and the repeat
    count), each part's visible text fits in one Telegram message."""
    heading = title(msg.kind) + (f" (x{msg.count})" if msg.count > 1 else "")
    plain = split_text(msg.text, MAX_CHARS - len(heading) - 1)
    return [to_html(p, heading if i == 0 else None) for i, p in enumerate(plain)]


class Pacer:
    """Spaces sends to at most ``per_chat`` messages per second per chat and ``overall``
    per second in total (monotonic clock, seconds)."""

    def __init__(self, per_chat: float, overall: float):
        self.chat_gap = 1.0 / per_chat
        self.overall = overall
        self._last: dict[int, float] = {}
        self._recent: deque[float] = deque()

    async def wait(self, chat_id: int) -> None:
        """Sleep until one more message to ``chat_id`` is allowed, then count it."""
        while True:
            now = time.monotonic()
            while self._recent and now - self._recent[0] >= 1.0:
                self._recent.popleft()
            delay = max(self._last.get(chat_id, -1e9) + self.chat_gap - now,
                        (self._recent[0] + 1.0 - now) if len(self._recent) >= self.overall else 0.0)
            if delay <= 0:
                self._last[chat_id] = now
                self._recent.append(now)
                return
            await asyncio.sleep(delay)


class OutboxSender:
    """Sends due outbox rows through ``bot``.

    Args:
        bot: a python-telegram-bot ``Bot`` (initialized).
        store: the store holding the outbox.
        per_chat, overall: Telegram's rate limits, messages per second.
        max_backoff_secs: the longest wait after repeated network errors.
    """

    def __init__(self, bot: Bot, store: Store, per_chat: float = 1.0, overall: float = 30.0,
                 max_backoff_secs: float = 60.0):
        self.bot, self.store = bot, store
        self.pacer = Pacer(per_chat, overall)
        self.max_backoff_secs = max_backoff_secs
        self.backoff_secs = 0.0
        self.last_error = ""
        self.delivered = 0

    async def run(self, stop: asyncio.Event, poll_secs: float = 0.5) -> None:
        """Deliver until ``stop`` is set; never raises (errors are logged and retried)."""
        while not stop.is_set():
            try:
                wait = await self.deliver_due()
            except Exception:  # the sender must outlive any surprise; trading does not depend on it
                log.exception("telegram: alert delivery failed unexpectedly; retrying")
                wait = 5.0
            try:
                await asyncio.wait_for(stop.wait(), timeout=max(wait, poll_secs))
            except TimeoutError:
                pass

    async def deliver_due(self) -> float:
        """One round: send what is due, in order. Returns how long to wait before the next
        round (seconds: 0 when all went out, else the backoff)."""
        for msg in due(self.store, wall_ms()):
            wait = await self._deliver(msg)
            if wait:
                return wait
        return 0.0

    async def _deliver(self, msg: OutboxMessage) -> float:
        parts = message_parts(msg)
        for i in range(msg.parts_sent, len(parts)):
            await self.pacer.wait(msg.chat_id)
            try:
                await self.bot.send_message(msg.chat_id, parts[i], parse_mode=ParseMode.HTML,
                                            message_thread_id=msg.thread_id, disable_notification=msg.silent)
            except RetryAfter as exc:
                secs = retry_after_secs(exc)
                self.last_error = f"rate limited by Telegram: retry after {secs:.0f}s"
                log.warning("telegram: %s", self.last_error)
                return secs
            except (BadRequest, Forbidden) as exc:  # this chat will not take it: give up on it, go on
                log.error("telegram: alert %d to chat %d not deliverable: %s", msg.id, msg.chat_id, exc)
                mark_sent(self.store, msg.id, wall_ms(), f"{type(exc).__name__}: {exc}")
                return 0.0
            except (NetworkError, TelegramError) as exc:
                self.backoff_secs = min(self.max_backoff_secs, max(1.0, self.backoff_secs * 2))
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("telegram unreachable (%s); alerts stay queued, next try in %.0fs", exc,
                            self.backoff_secs)
                return self.backoff_secs
            if i + 1 < len(parts):
                mark_part_sent(self.store, msg.id, i + 1)
        mark_sent(self.store, msg.id, wall_ms())
        self.backoff_secs, self.last_error = 0.0, ""
        self.delivered += 1
        return 0.0
