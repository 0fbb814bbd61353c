"""Tables ``events``, ``equity_snapshots`` and ``candle_cursors``."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base, DecimalText


class EventRow(Base):
    """Every engine event, persisted with the state change that caused it."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    payload: Mapped[dict] = mapped_column(JSON)


class EquitySnapshotRow(Base):
    """Cash and mark-to-market equity (quote) after a processed candle; ``ts_ms`` is the
    candle's close time (ms UTC)."""

    __tablename__ = "equity_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    cash: Mapped[Decimal] = mapped_column(DecimalText)
    equity: Mapped[Decimal] = mapped_column(DecimalText)


class CandleCursorRow(Base):
    """The last candle processed per strategy/symbol/timeframe key, so none is handled twice."""

    __tablename__ = "candle_cursors"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_ts_ms: Mapped[int] = mapped_column(BigInteger)
    close: Mapped[Decimal] = mapped_column(DecimalText)


class BreakerRow(Base):
    """The circuit breaker's persisted state (one row, id 1)."""

    __tablename__ = "breaker"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(512))
    since_ms: Mapped[int] = mapped_column(BigInteger)
    flatten_pending: Mapped[bool] = mapped_column(default=False)


class OperatorCommandRow(Base):
    """An operator command (pause, resume) queued by the CLI or the bot; the daemon applies it
    and writes the result."""

    __tablename__ = "operator_commands"

    id: Mapped[int] = mapped_column(primary_key=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    command: Mapped[str] = mapped_column(String(32))
    requested_by: Mapped[str] = mapped_column(String(64))
    applied_ts_ms: Mapped[int | None] = mapped_column(BigInteger, index=True)
    result: Mapped[str | None] = mapped_column(String(512))
