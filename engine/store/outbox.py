"""The alert outbox: messages the daemon wants delivered, kept in the store until they are.

The engine thread only writes rows (one per recipient chat); a sender elsewhere (the
Telegram bot) delivers them in id order per chat and marks them sent. So trading never
waits for a chat service, and alerts queued while it is unreachable, or before a restart,
are delivered when it returns.

Repeats: an alert identical (same ``dedupe_key``) to one created less than ``window_ms``
earlier for the same chat is not queued again. If the earlier one is still waiting its
``count`` grows; if it was already sent, the repeats gather in one held row that becomes
due when the window since the send has passed, and is sent once with their count.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Boolean, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base, Store

TELEGRAM = "telegram"
"""The channel of Telegram's rows (the others are ``apprise:<n>``)."""


class OutboxRow(Base):
    """One message for one chat. Times in ms UTC; ``sent_ms`` None until delivered (or given
    up: then ``error`` says why)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(40))
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    thread_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    text: Mapped[str] = mapped_column(Text)
    silent: Mapped[bool] = mapped_column(Boolean, default=False)
    dedupe_key: Mapped[str] = mapped_column(String(256), index=True)
    count: Mapped[int] = mapped_column(Integer, default=1)
    not_before_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)
    sent_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    error: Mapped[str] = mapped_column(String(512), default="")
    channel: Mapped[str] = mapped_column(String(64), default=TELEGRAM, server_default=TELEGRAM, index=True)
    """``telegram`` (``chat_id`` is the chat), or ``apprise:<n>`` for the n-th notify channel
    (``chat_id`` 0): each channel's sender takes only its own rows, in id order."""


@dataclass(frozen=True)
class OutboxMessage:
    """A due message, detached from the session."""

    id: int
    kind: str
    chat_id: int
    thread_id: int | None
    text: str
    silent: bool
    count: int
    parts_sent: int
    created_ms: int
    channel: str = TELEGRAM


def enqueue(store: Store, kind: str, text: str, chats: list[tuple[int, int | None]], silent: bool, now_ms: int,
            window_ms: int, dedupe_key: str | None = None, channel: str = TELEGRAM) -> list[int]:
    """Queue ``text`` for each ``(chat_id, thread_id)`` of ``channel``; returns the ids of new
    rows (a repeat folded into an existing row adds none). ``dedupe_key`` defaults to kind + text."""
    key = (dedupe_key or f"{kind}|{text}")[:256]
    new = []
    with store.transaction() as s:
        for chat_id, thread_id in chats:
            last = s.scalars(select(OutboxRow).where(OutboxRow.channel == channel, OutboxRow.chat_id == chat_id,
                                                     OutboxRow.dedupe_key == key)
                             .order_by(OutboxRow.id.desc()).limit(1)).first()
            if last is not None and window_ms > 0 and now_ms - last.created_ms < window_ms:
                if last.sent_ms is None:
                    last.count += 1
                    continue
                held = OutboxRow(created_ms=now_ms, kind=kind, chat_id=chat_id, thread_id=thread_id, text=text,
                                 silent=silent, dedupe_key=key, not_before_ms=last.sent_ms + window_ms,
                                 channel=channel)
            else:
                held = OutboxRow(created_ms=now_ms, kind=kind, chat_id=chat_id, thread_id=thread_id, text=text,
                                 silent=silent, dedupe_key=key, not_before_ms=0, channel=channel)
            s.add(held)
            s.flush()
            new.append(held.id)
    return new


def due(store: Store, now_ms: int, limit: int = 100, channel: str = TELEGRAM) -> list[OutboxMessage]:
    """Undelivered messages of ``channel`` whose time has come, oldest first."""
    with store.read() as s:
        rows = s.scalars(select(OutboxRow).where(OutboxRow.channel == channel, OutboxRow.sent_ms.is_(None),
                                                 OutboxRow.not_before_ms <= now_ms)
                         .order_by(OutboxRow.id).limit(limit)).all()
        return [OutboxMessage(r.id, r.kind, r.chat_id, r.thread_id, r.text, r.silent, r.count, r.parts_sent,
                              r.created_ms, r.channel) for r in rows]


def mark_part_sent(store: Store, row_id: int, parts_sent: int) -> None:
    """Record that the first ``parts_sent`` parts of a long message were delivered (a restart
    resumes after them)."""
    with store.transaction() as s:
        s.get(OutboxRow, row_id).parts_sent = parts_sent


def mark_sent(store: Store, row_id: int, now_ms: int, error: str = "") -> None:
    """Done with a row: delivered, or given up with ``error`` (e.g. the bot was blocked)."""
    with store.transaction() as s:
        row = s.get(OutboxRow, row_id)
        row.sent_ms, row.error = now_ms, error[:512]


def pending_count(store: Store) -> int:
    """Messages not yet delivered (held repeats included)."""
    with store.read() as s:
        return s.scalar(select(func.count(OutboxRow.id)).where(OutboxRow.sent_ms.is_(None)))


def queued_since(store: Store, since_ms: int, channel: str = TELEGRAM) -> list[tuple[str, str, int]]:
    """(kind, text, chat id) of every message of ``channel`` queued at or after ``since_ms``
    (ms UTC), in queue order; a folded repeat counts as many times as it was raised."""
    with store.read() as s:
        rows = s.execute(select(OutboxRow.kind, OutboxRow.text, OutboxRow.chat_id, OutboxRow.count)
                         .where(OutboxRow.channel == channel, OutboxRow.created_ms >= since_ms)
                         .order_by(OutboxRow.id)).all()
    return [(kind, text, chat) for kind, text, chat, count in rows for _ in range(count)]
