"""Tables ``accounts`` and ``positions``: the portfolio's durable state."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base, DecimalText


class AccountRow(Base):
    """Cash of one account, quote currency (one row, id "main", for now)."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    quote: Mapped[str] = mapped_column(String(16))
    initial_cash: Mapped[Decimal] = mapped_column(DecimalText)
    cash: Mapped[Decimal] = mapped_column(DecimalText)
    fees_paid: Mapped[Decimal] = mapped_column(DecimalText)
    updated_ts_ms: Mapped[int] = mapped_column(BigInteger)


class PositionRow(Base):
    """A position per symbol: base quantity, average entry price, realized PnL (quote), and
    its protective exit levels (quote per base)."""

    __tablename__ = "positions"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    qty: Mapped[Decimal] = mapped_column(DecimalText)
    avg_price: Mapped[Decimal] = mapped_column(DecimalText)
    realized_pnl: Mapped[Decimal] = mapped_column(DecimalText)
    opened_ts_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ts_ms: Mapped[int] = mapped_column(BigInteger)
    stop_price: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    take_profit_price: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
