"""Table ``pair_locks``: the per-pair entry locks (cooldown, stop-loss guard, low profit),
kept so a restart does not forget them. One row per lock; an operator's ``/unlock`` ends it
early (``ended_ms``, ``ended_by``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.risk.pairlocks import PairLock
from engine.store.base import Base


class PairLockRow(Base):
    """A lock: no entries on ``symbol`` until ``until_ms`` (ms UTC) unless ended earlier."""

    __tablename__ = "pair_locks"

    id: Mapped[int] = mapped_column(primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), index=True)
    rule: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(256))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    until_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    ended_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    ended_by: Mapped[str] = mapped_column(String(64), default="")


def add_lock(s: Session, lock: PairLock) -> None:
    """Record a new lock (in the caller's transaction)."""
    s.add(PairLockRow(symbol=lock.symbol, rule=lock.rule, reason=lock.reason[:256], created_ms=lock.created_ms,
                      until_ms=lock.until_ms))


def end_locks(s: Session, symbols: list[str], by: str, now_ms: int) -> None:
    """End the open locks of ``symbols`` now (an operator's unlock)."""
    for row in s.scalars(select(PairLockRow).where(PairLockRow.symbol.in_(symbols), PairLockRow.ended_ms.is_(None))):
        row.ended_ms, row.ended_by = now_ms, by[:64]


def open_locks(s: Session) -> dict[str, PairLock]:
    """The latest lock of each symbol that no operator ended (it may have expired: the
    risk manager compares ``until_ms`` with its clock)."""
    out: dict[str, PairLock] = {}
    for row in s.scalars(select(PairLockRow).where(PairLockRow.ended_ms.is_(None)).order_by(PairLockRow.id)):
        if row.symbol not in out or row.until_ms >= out[row.symbol].until_ms:
            out[row.symbol] = PairLock(row.symbol, row.until_ms, row.rule, row.reason, row.created_ms)
    return out
