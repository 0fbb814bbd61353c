"""Tables ``orders``, ``order_transitions`` and ``fills``: the OMS's durable record."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.models import Order, OrderStatus, OrderType, Side
from engine.store.base import Base, DecimalText


class OrderRow(Base):
    """One order; ``client_order_id`` is unique and so is its intent
    (strategy, symbol, side, signal candle)."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("strategy", "symbol", "side", "signal_ts_ms", name="uq_orders_intent"),
        Index("ix_orders_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(40), unique=True)
    strategy: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(16))
    signal_ts_ms: Mapped[int] = mapped_column(BigInteger)
    created_ts_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ts_ms: Mapped[int] = mapped_column(BigInteger)
    qty: Mapped[Decimal | None] = mapped_column(DecimalText)
    quote_qty: Mapped[Decimal | None] = mapped_column(DecimalText)
    price: Mapped[Decimal | None] = mapped_column(DecimalText)
    stop_price: Mapped[Decimal | None] = mapped_column(DecimalText)
    status: Mapped[str] = mapped_column(String(20))
    filled_qty: Mapped[Decimal] = mapped_column(DecimalText)
    avg_fill_price: Mapped[Decimal] = mapped_column(DecimalText)
    fee_paid: Mapped[Decimal] = mapped_column(DecimalText)
    exchange_order_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(512), default="")
    intent: Mapped[str] = mapped_column(String(256), default="")

    def to_order(self) -> Order:
        """The domain order."""
        return Order(client_order_id=self.client_order_id, strategy=self.strategy, symbol=self.symbol,
                     side=Side(self.side), type=OrderType(self.type), signal_ts_ms=self.signal_ts_ms,
                     created_ts_ms=self.created_ts_ms, qty=self.qty, quote_qty=self.quote_qty, price=self.price,
                     stop_price=self.stop_price,
                     status=OrderStatus(self.status), filled_qty=self.filled_qty, avg_fill_price=self.avg_fill_price,
                     fee_paid=self.fee_paid, updated_ts_ms=self.updated_ts_ms,
                     exchange_order_id=self.exchange_order_id, reason=self.reason, intent=self.intent)


class OrderTransitionRow(Base):
    """Every status change of an order (and every note on an unchanged one, such as a submission
    whose outcome is unknown), with its time, reason and the venue's order id."""

    __tablename__ = "order_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_order_id: Mapped[str] = mapped_column(ForeignKey("orders.client_order_id"), index=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(512), default="")
    exchange_order_id: Mapped[str | None] = mapped_column(String(64))


class FillRow(Base):
    """One execution; ``trade_id`` is unique so a fill reported twice is stored once."""

    __tablename__ = "fills"

    id: Mapped[int] = mapped_column(primary_key=True)
    trade_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_order_id: Mapped[str] = mapped_column(ForeignKey("orders.client_order_id"), index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    qty: Mapped[Decimal] = mapped_column(DecimalText)
    price: Mapped[Decimal] = mapped_column(DecimalText)
    fee: Mapped[Decimal] = mapped_column(DecimalText)
    fee_asset: Mapped[str] = mapped_column(String(16), default="")
    ts_ms: Mapped[int] = mapped_column(BigInteger, index=True)


def mutable_values(o: Order) -> dict:
    """The ``orders`` columns that change over an order's life, from the domain order."""
    return {"status": o.status.value, "updated_ts_ms": o.updated_ts_ms, "filled_qty": o.filled_qty,
            "avg_fill_price": o.avg_fill_price, "fee_paid": o.fee_paid, "exchange_order_id": o.exchange_order_id,
            "reason": o.reason[:512]}


def new_values(o: Order) -> dict:
    """Every ``orders`` column of a new order (a Core insert's values)."""
    return {"client_order_id": o.client_order_id, "strategy": o.strategy, "symbol": o.symbol, "side": o.side.value,
            "type": o.type.value, "signal_ts_ms": o.signal_ts_ms, "created_ts_ms": o.created_ts_ms, "qty": o.qty,
            "quote_qty": o.quote_qty, "price": o.price, "stop_price": o.stop_price, "intent": o.intent[:256],
            **mutable_values(o)}
