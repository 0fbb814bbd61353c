"""Sending a reply or an edit to Telegram from a command handler: retried when Telegram asks to
wait (``RetryAfter``) or the connection drops, never when it timed out (the message may have
arrived). The outbox of alerts has its own sender (:mod:`bot.telegram.sender`)."""

from __future__ import annotations

import asyncio
import logging

from telegram.constants import ParseMode
from telegram.error import NetworkError, RetryAfter, TimedOut

from bot.telegram.sender import retry_after_secs
from bot.telegram.text import MAX_CHARS, esc

log = logging.getLogger("quantd.telegram")


async def retrying(send, attempts: int = 3):
    """Call ``send()`` (a coroutine factory) up to ``attempts`` times: waits out ``RetryAfter``,
    and retries a dropped connection (``NetworkError`` other than ``TimedOut``) after 0.5 s, 1 s.

    A timeout is not retried: the request may have reached Telegram, and the answer would be sent
    twice. A dropped connection may also have been delivered; a rare duplicate reply is better than
    an operator left without the answer (or the confirmation button) they asked for.
    """
    for attempt in range(attempts):
        try:
            return await send()
        except RetryAfter as exc:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(retry_after_secs(exc))
        except TimedOut:
            raise
        except NetworkError as exc:
            if attempt == attempts - 1:
                raise
            log.warning("telegram: send failed (%s); retrying", exc)
            await asyncio.sleep(0.5 * (attempt + 1))


async def quiet_edit(message, text: str) -> None:
    """Edit a message in place (progress, confirmation result); a failure is only logged."""
    if message is None:
        return
    try:
        await retrying(lambda: message.edit_text(esc(text[:MAX_CHARS]), parse_mode=ParseMode.HTML))
    except Exception as exc:  # an edit is cosmetic; never let it break a handler
        log.warning("telegram: could not edit message: %s", exc)
