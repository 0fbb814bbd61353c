"""Tables ``accounts`` and ``positions``: the portfolio's durable state."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base, DecimalText


class AccountRow(Base):
    """Cash of one account, quote currency (one row, id "main", for now).

    ``market`` is ``spot`` or ``futures``. On futures, ``cash`` is the available balance
    (wallet less the positions' isolated margins), ``wallet`` the wallet balance, ``leverage``
    the account's leverage and ``funding_paid`` the funding paid over its life (negative when
    received); those three are NULL on spot (ADR 0017)."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    quote: Mapped[str] = mapped_column(String(16))
    initial_cash: Mapped[Decimal] = mapped_column(DecimalText)
    cash: Mapped[Decimal] = mapped_column(DecimalText)
    fees_paid: Mapped[Decimal] = mapped_column(DecimalText)
    updated_ts_ms: Mapped[int] = mapped_column(BigInteger)
    market: Mapped[str] = mapped_column(String(16), default="spot", server_default="spot")
    leverage: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    wallet: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    funding_paid: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)


class PositionRow(Base):
    """A position per symbol: base quantity (below 0 a short, futures only), average entry
    price, realized PnL (quote), and its protective exit levels (quote per base). On a futures
    account also its isolated ``margin``, signed cost basis ``cost`` (``qty x entry``), the
    ``funding`` it paid since it opened (the last position's when flat), quote, and the
    ``liquidation_price`` the engine computed at its last fill or funding, for read-only views
    (NULL when flat; all NULL on spot)."""

    __tablename__ = "positions"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    qty: Mapped[Decimal] = mapped_column(DecimalText)
    avg_price: Mapped[Decimal] = mapped_column(DecimalText)
    realized_pnl: Mapped[Decimal] = mapped_column(DecimalText)
    opened_ts_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ts_ms: Mapped[int] = mapped_column(BigInteger)
    stop_price: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    take_profit_price: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    margin: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    cost: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    funding: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    liquidation_price: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
