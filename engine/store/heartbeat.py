"""The daemon's heartbeat row: what ``quantd health`` (another process, a Docker
``HEALTHCHECK``) reads to tell whether the running daemon's loop is alive.

One row per store (``id = 1``), rewritten every few seconds by the daemon's main thread.
Times are ms since the epoch, UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base, Store

STATES = ("starting", "running", "stalled", "stopping", "stopped")
"""``stalled``: the engine loop made no progress for longer than the stall limit."""


class HeartbeatRow(Base):
    """The last thing the daemon said about itself.

    Attributes:
        pid, host: the process that wrote the row.
        started_ms: when that process started.
        heartbeat_ms: when its engine loop last made progress (a step began or a candle was
            processed).
        written_ms: when the row was written.
        last_reconcile_ms: when reconciliation last ran (live), else None.
        restarts: unclean stops seen at this start within the last 24 h (a crash loop shows here).
        state: one of :data:`STATES`; status: a one-line summary.
    """

    __tablename__ = "heartbeat"

    id: Mapped[int] = mapped_column(primary_key=True)
    pid: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(255))
    started_ms: Mapped[int] = mapped_column(BigInteger)
    heartbeat_ms: Mapped[int] = mapped_column(BigInteger)
    written_ms: Mapped[int] = mapped_column(BigInteger)
    last_reconcile_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(1024))


@dataclass(frozen=True)
class Heartbeat:
    """A :class:`HeartbeatRow` read back (same fields)."""

    pid: int
    host: str
    started_ms: int
    heartbeat_ms: int
    written_ms: int
    last_reconcile_ms: int | None
    restarts: int
    state: str
    status: str


def write_heartbeat(store: Store, beat: Heartbeat) -> None:
    """Replace the heartbeat row (one transaction).

    Raises:
        ValueError: ``beat.state`` is not one of :data:`STATES`.
    """
    if beat.state not in STATES:
        raise ValueError(f"unknown daemon state {beat.state!r}")
    with store.transaction() as s:
        row = s.get(HeartbeatRow, 1) or HeartbeatRow(id=1)
        for name, value in beat.__dict__.items():
            setattr(row, name, value[:1024] if name == "status" else value)
        s.add(row)


def read_heartbeat(store: Store) -> Heartbeat | None:
    """The last heartbeat written, or None if no daemon ever ran on this store."""
    with store.read() as s:
        row = s.get(HeartbeatRow, 1)
        if row is None:
            return None
        return Heartbeat(row.pid, row.host, row.started_ms, row.heartbeat_ms, row.written_ms, row.last_reconcile_ms,
                         row.restarts, row.state, row.status)
